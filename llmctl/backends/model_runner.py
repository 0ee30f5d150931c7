"""Docker Model Runner's models API (reference/server-apis.md §2.1-2.4), and the
``docker model`` CLI plugin as a fallback when the runner is not reachable over TCP.

HTTP: ``GET /models`` (a bare JSON array), ``POST /models/create`` ``{"from": ref}`` with
``Accept: application/json`` (one JSON object per line; without that header the server
HTML-escapes each line, which is tolerated too), ``DELETE /models/{name}``. Errors are plain
text (``Model not found``) and are turned into one clear line.

CLI: ``docker model pull|ls --json|rm`` through :class:`llmctl.engine.docker_cli.DockerCli`, the one
docker runner: argument lists (never a shell), the daemon llmctl resolved, and
``MODEL_RUNNER_NO_AUTO_INSTALL=1`` so that a pull never silently installs a runner container.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from llmctl.backends.http import (
    check_api_answer,
    describe_transport_error,
    error_text,
    json_or_error,
    snippet,
)
from llmctl.backends.ollama_models import (
    DEFAULT_STALL_TIMEOUT,
    PullOutcome,
    Watchdog,
    watched_chunks,
)
from llmctl.errors import LlmctlError, NotFoundError, RunnerUnreachable, ServerError
from llmctl.progress import ProgressEvent, ProgressSink, null_sink
from llmctl.urls import MODEL_RUNNER_PORT

if TYPE_CHECKING:
    import httpx

    from llmctl.engine.docker_cli import CliResult, DockerCli

RETRY_HINT = "Run the same `llmctl pull {model}` again."
NOT_RUNNING_HINT = ("Start it: Docker Desktop `docker desktop enable model-runner --tcp "
                    f"{MODEL_RUNNER_PORT}`; Docker Engine `docker model install-runner`; or set "
                    "MODEL_RUNNER_HOST.")
CLI_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunnerModel:
    id: str  # sha256:<64 hex>
    tags: tuple[str, ...]
    created: int | None
    format: str | None
    quantization: str | None
    parameters: str | None  # human-readable, e.g. "361.82 M"
    architecture: str | None
    size: str | None  # human-readable, e.g. "256.35 MiB"


def parse_models(doc: Any, where: str = "GET /models") -> list[RunnerModel]:
    """A ``GET /models`` / ``docker model ls --json`` array (``[]`` when empty)."""
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise ServerError(f"{where}: expected a JSON array, got {type(doc).__name__}")
    models = []
    for m in doc:
        if not isinstance(m, dict):
            continue
        raw_cfg = m.get("config")
        cfg: dict[str, Any] = raw_cfg if isinstance(raw_cfg, dict) else {}
        tags = m.get("tags") or []
        created = m.get("created")

        def s(key: str, cfg: dict[str, Any] = cfg) -> str | None:
            v = cfg.get(key)
            return str(v) if v not in (None, "") else None

        models.append(RunnerModel(
            id=str(m.get("id") or "?"),
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            created=created if isinstance(created, int) and created > 0 else None,
            format=s("format"), quantization=s("quantization"), parameters=s("parameters"),
            architecture=s("architecture"), size=s("size"),
        ))
    return models


def list_models(client: httpx.Client) -> list[RunnerModel]:
    """``GET /models``. Transport errors propagate as httpx exceptions."""
    url = f"{client.base_url}".rstrip("/")
    response = client.get("/models")
    check_api_answer(response, "GET /models", body=response.content)
    if response.status_code != 200:
        raise ServerError(f"GET /models at {url}: HTTP {response.status_code} "
                          f"({error_text(response)})")
    return parse_models(json_or_error(response, f"GET /models at {url}"), f"GET /models at {url}")


# --- pull --------------------------------------------------------------------------------------


def _http_error(model: str, status: int, text: str, url: str, verb: str = "pulling"
                ) -> LlmctlError:
    low = text.lower()
    if status == 404 or "not found" in low:
        return NotFoundError(
            f"model {model!r} not found (Model Runner at {url} said: {text or 'HTTP 404'})",
            "Check the name on https://hub.docker.com/u/ai (or the Hugging Face repository)."
            if verb == "pulling" else "See what is there with `llmctl models`.",
            details={"model": model, "server_error": text},
        )
    if status in (401, 403):
        return ServerError(
            f"{verb} {model}: the registry refused access (HTTP {status}: {text})",
            "For gated Hugging Face models set HF_TOKEN; for private Docker Hub repositories "
            "run `docker login`.",
        )
    if status == 503 or "not running" in low:
        return ServerError(f"{verb} {model}: Docker Model Runner is not running ({url}: {text})",
                           NOT_RUNNING_HINT)
    return ServerError(f"{verb} {model} failed (Model Runner at {url}, HTTP {status}: {text})",
                       RETRY_HINT.format(model=model) if verb == "pulling" else None)


def pull(
    client: httpx.Client,
    model: str,
    *,
    on_event: ProgressSink = null_sink,
    stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    bearer_token: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_timeout: float | None = None,
    started: float | None = None,
) -> PullOutcome:
    """``POST /models/create`` and follow its progress lines until ``type: success``; the
    stall watchdog (and ``wall_timeout``) run from before the request is sent."""
    import httpx

    from llmctl.backends.http import Cutter, checked_stream
    from llmctl.backends.ollama_models import guarded

    url = f"{client.base_url}".rstrip("/")
    outcome = PullOutcome()
    watchdog = Watchdog(stall_timeout, clock, total=wall_timeout, started=started)
    hint = RETRY_HINT.format(model=model)

    def stalled() -> LlmctlError:
        if watchdog.over_deadline():
            return ServerError(f"pulling {model} did not finish within {watchdog.total:g} s "
                               f"(--timeout): stopped at {outcome.where()} ({url})", hint)
        return ServerError(f"pulling {model} stalled at {outcome.where()}: no progress for "
                           f"{stall_timeout:g} s ({url})", hint)

    body: dict[str, Any] = {"from": model}
    if bearer_token:
        body["bearer-token"] = bearer_token
    on_event(ProgressEvent("model", "pulling", subject=model))
    cutter = Cutter()
    try:
        with guarded(watchdog, cutter.cut), client.stream(
                "POST", "/models/create", json=body, headers={"Accept": "application/json"},
                extensions=cutter.extensions()) as response:
            cutter.add(response)
            if response.status_code != 200:
                response.read()
                check_api_answer(response, "POST /models/create", body=response.content)
                raise _http_error(model, response.status_code, _plain(response), url)
            check_api_answer(response, "POST /models/create")
            chunks = watched_chunks(response.iter_bytes(), watchdog, stalled)
            follow_lines(checked_stream(chunks, response, "POST /models/create"), model,
                         outcome, on_event, watchdog)
    except httpx.TransportError as exc:
        if watchdog.fired:
            raise stalled() from None
        raise _transport_error(exc, url, f"pulling {model} broke off at {outcome.where()}",
                               hint) from None
    if watchdog.fired and not outcome.success:
        raise stalled()
    if not outcome.success:
        last = outcome.statuses[-1] if outcome.statuses else "nothing"
        raise ServerError(f"pulling {model}: the stream ended without success at "
                          f"{outcome.where()} (last: {last!r}; {url})", hint)
    on_event(ProgressEvent("model", "success", done=True, subject=model))
    return outcome


def _transport_error(exc: httpx.TransportError, url: str, doing: str,
                     hint: str | None = None) -> LlmctlError:
    """A request to the runner that failed on the wire: not reachable at all (nothing
    listens: the runner is off), or broken off while ``doing`` something."""
    import httpx

    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return RunnerUnreachable(
            f"cannot reach Docker Model Runner at {url}: {describe_transport_error(exc)}",
            NOT_RUNNING_HINT)
    return ServerError(f"{doing}: {describe_transport_error(exc)} ({url})", hint)


def _plain(response: httpx.Response) -> str:
    """Model Runner's plain-text error body (``http.Error`` adds a newline)."""
    text = error_text(response)
    return html.unescape(text).strip()


def decode_line(line: bytes) -> Any:
    """One progress line: raw JSON, or HTML-escaped JSON when Accept was ignored."""
    if line[:2] == b"{&" or b"&#34;" in line or b"&quot;" in line:
        return json.loads(html.unescape(line.decode("utf-8", "replace")))
    return json.loads(line)


def follow_lines(
    chunks: Iterator[bytes],
    model: str,
    outcome: PullOutcome,
    on_event: ProgressSink,
    watchdog: Watchdog,
) -> None:
    """Parse ``{"type","message","total","layer":{"id","size","current"}}`` lines. The server
    already throttles them (every 100 ms or 1 MB), so every changed line becomes an event."""
    layers = outcome.layers
    seen: set[str] = set()
    prev = b""
    rest = b""
    count = 0
    for chunk in chunks:
        if rest:
            chunk = rest + chunk
        lines = chunk.split(b"\n")
        rest = lines.pop()
        for line in lines:
            count += 1
            if line == prev or not line.strip():
                continue
            prev = line
            _handle(line, model, outcome, layers, seen, watchdog, on_event)
    if rest.strip():
        count += 1
        _handle(rest, model, outcome, layers, seen, watchdog, on_event)
    outcome.lines = count


def _handle(line: bytes, model: str, outcome: PullOutcome,
            layers: dict[str, tuple[int, int | None]], seen: set[str], watchdog: Watchdog,
            on_event: ProgressSink) -> None:
    try:
        doc = decode_line(line)
    except ValueError:
        raise ServerError(f"pulling {model}: the server sent a line that is not JSON "
                          f"({snippet(line)!r})") from None
    if not isinstance(doc, dict):
        raise ServerError(f"pulling {model}: unexpected line {snippet(line)!r}")
    kind = doc.get("type")
    message = str(doc.get("message") or "")
    if kind == "error":
        text = message.removeprefix("Error: ").strip() or "unknown error"
        if "not found" in text.lower():
            raise NotFoundError(f"model {model!r} not found (Model Runner said: {text})",
                                details={"model": model, "server_error": text})
        raise ServerError(f"pulling {model} failed: {text}", RETRY_HINT.format(model=model),
                          details={"model": model, "server_error": text})
    if kind == "success":
        outcome.success = True
        outcome.statuses.append(message or "success")
        watchdog.progressed()
        return
    layer = doc.get("layer") if isinstance(doc.get("layer"), dict) else None
    if kind == "progress" and layer and (layer.get("id") or layer.get("size")):
        lid = str(layer.get("id") or "layer")
        short = lid[7:19] if lid.startswith("sha256:") else lid[:12]
        size = layer.get("size") if isinstance(layer.get("size"), int) else None
        current = layer.get("current") if isinstance(layer.get("current"), int) else 0
        old = layers.get(short)
        if old is None or current > old[0]:
            watchdog.progressed()
        if old is None or current != old[0] or size != old[1]:
            layers[short] = (max(current, old[0] if old else 0), size)
            on_event(ProgressEvent("model", "downloading", layer=short, current=current,
                                   total=size, done=size is not None and current >= size,
                                   subject=model))
        return
    status = f"warning: {message}" if kind == "warning" else message
    if status and status not in seen:
        seen.add(status)
        outcome.statuses.append(status)
        watchdog.progressed()
        on_event(ProgressEvent("model", status, subject=model))


# --- delete ------------------------------------------------------------------------------------


def delete(client: httpx.Client, model: str, *, force: bool = False) -> list[dict[str, str]]:
    """``DELETE /models/{name}`` → ``[{"Untagged": ...}, {"Deleted": "sha256:..."}]``."""
    import httpx

    url = f"{client.base_url}".rstrip("/")
    path = "/models/" + quote(model, safe="/:@")
    try:
        response = client.request("DELETE", path, params={"force": "true"} if force else None)
    except httpx.TransportError as exc:
        raise _transport_error(exc, url, f"removing {model}") from None
    check_api_answer(response, "DELETE /models", body=response.content)
    if response.status_code not in (200, 204):
        raise _http_error(model, response.status_code, _plain(response), url, verb="removing")
    try:
        doc = response.json() if response.content.strip() else []
    except ValueError:
        return []
    return [d for d in doc if isinstance(d, dict)] if isinstance(doc, list) else []


# --- tag --------------------------------------------------------------------------------------


def tag(client: httpx.Client, model: str, repo: str, tag: str) -> str:
    """``POST /models/{model}/tag?repo=R&tag=T`` (201): ``model`` (a name or a
    ``sha256:`` id) is then also known as ``R:T``; a tag already on another model moves.
    Returns the tag the runner reports."""
    import httpx

    url = f"{client.base_url}".rstrip("/")
    path = "/models/" + quote(model, safe="/:@") + "/tag"
    try:
        response = client.post(path, params={"repo": repo, "tag": tag})
    except httpx.TransportError as exc:
        raise _transport_error(exc, url, f"tagging {model}") from None
    check_api_answer(response, "POST /models/{name}/tag", body=response.content)
    if response.status_code not in (200, 201):
        raise _http_error(model, response.status_code, _plain(response), url, verb="tagging")
    try:
        doc = response.json()
    except ValueError:
        doc = None
    target = doc.get("target") if isinstance(doc, dict) else None
    return str(target or f"{repo}:{tag}")


# --- the `docker model` CLI plugin ----------------------------------------------------------------


def _cli(cli: DockerCli | None) -> DockerCli:
    from llmctl.engine.docker_cli import DockerCli

    return cli if cli is not None else DockerCli()


def docker_cli(cli: DockerCli | None = None) -> bool:
    """True when the docker executable is on PATH (the fallback is possible)."""
    return _cli(cli).available()


def _cli_error(model: str, verb: str, text: str, code: int) -> LlmctlError:
    low = text.lower()
    last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")
    if "not running" in low or "install-runner" in low:
        return ServerError(f"{verb} {model}: Docker Model Runner is not running", NOT_RUNNING_HINT)
    if "not found" in low:
        return NotFoundError(f"model {model!r} not found (docker model said: {last})",
                             details={"model": model, "server_error": last})
    what = f"{verb} {model}" if model else verb
    return ServerError(f"{what} with `docker model` failed (exit {code}): {last or 'no output'}")


def _no_plugin() -> ServerError:
    return ServerError(
        "Docker Model Runner is not reachable over TCP and the `docker model` CLI plugin "
        "is not installed",
        "Install the docker-model-plugin package, or enable TCP (MODEL_RUNNER_HOST).",
    )


def _model(cli: DockerCli, *args: str, timeout: float) -> CliResult:
    """`docker model ARGS` through the one docker runner (daemon and no-auto-install set)."""
    from llmctl.engine.docker_cli import DockerCliMissing, PluginMissing

    try:
        return cli.model(*args, timeout=timeout)
    except PluginMissing:
        raise _no_plugin() from None
    except DockerCliMissing as exc:
        raise RunnerUnreachable(f"Docker Model Runner is not reachable over TCP and {exc.message}",
                                NOT_RUNNING_HINT) from None


def cli_pull(
    model: str,
    *,
    on_event: ProgressSink = null_sink,
    stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    cli: DockerCli | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_timeout: float | None = None,
    started: float | None = None,
) -> PullOutcome:
    """``docker model pull MODEL``: stream its output lines as progress events, with the same
    stall watchdog (no new output line for ``stall_timeout`` s) and ``wall_timeout`` (s)."""
    from llmctl.engine.docker_cli import NO_AUTO_INSTALL, DockerCliMissing

    runner = _cli(cli)
    outcome = PullOutcome()
    watchdog = Watchdog(stall_timeout, clock, total=wall_timeout, started=started)
    on_event(ProgressEvent("model", "pulling (docker model pull)", subject=model))
    try:
        proc = runner.popen("model", "pull", model, env=NO_AUTO_INSTALL)
    except DockerCliMissing as exc:
        raise ServerError(f"Docker Model Runner is not reachable over TCP and {exc.message}",
                          NOT_RUNNING_HINT) from None
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    tail: list[str] = []

    def stalled() -> LlmctlError:
        if watchdog.over_deadline():
            return ServerError(f"`docker model pull {model}` did not finish within "
                               f"{watchdog.total:g} s (--timeout)", RETRY_HINT.format(model=model))
        return ServerError(f"`docker model pull {model}` stalled: no new output for "
                           f"{stall_timeout:g} s", RETRY_HINT.format(model=model))

    try:
        seen: set[str] = set()
        rest = b""
        for chunk in watched_chunks(iter(lambda: os.read(fd, 65536), b""), watchdog, stalled,
                                    proc.kill):
            parts = (rest + chunk).replace(b"\r", b"\n").split(b"\n")
            rest = parts.pop()
            for raw in parts:
                text = raw.decode("utf-8", "replace").strip()
                if not text or text in seen:
                    continue
                seen.add(text)
                tail = [*tail[-4:], text]
                outcome.statuses.append(text)
                watchdog.progressed()
                on_event(ProgressEvent("model", text, subject=model))
        if rest.strip():
            tail.append(rest.decode("utf-8", "replace").strip())
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
    text = "\n".join(tail)
    if code != 0:
        from llmctl.engine.docker_cli import CliResult, is_plugin_missing

        if is_plugin_missing(CliResult((), code, text, ""), "model"):
            raise _no_plugin()
        raise _cli_error(model, "pulling", text, code)
    outcome.success = True
    on_event(ProgressEvent("model", "success", done=True, subject=model))
    return outcome


def cli_list(cli: DockerCli | None = None, timeout: float = CLI_TIMEOUT) -> list[RunnerModel]:
    """``docker model ls --json``."""
    result = _model(_cli(cli), "ls", "--json", timeout=timeout)
    if not result.ok:
        err = _cli_error("", "listing models", result.stdout + result.stderr, result.returncode)
        raise RunnerUnreachable(err.message, err.hint)
    try:
        doc = json.loads(result.stdout or "[]")
    except ValueError:
        raise ServerError(f"`docker model ls --json` printed something that is not JSON "
                          f"({snippet(result.stdout)!r})") from None
    return parse_models(doc, "docker model ls --json")


def cli_rm(model: str, *, force: bool = False, cli: DockerCli | None = None,
           timeout: float = CLI_TIMEOUT) -> None:
    """``docker model rm [-f] MODEL``."""
    result = _model(_cli(cli), "rm", *(["-f"] if force else []), model, timeout=timeout)
    if not result.ok:
        raise _cli_error(model, "removing", result.stdout + result.stderr, result.returncode)
