"""Models across backends: where a model goes (routing, endpoint resolution), pull, list, rm.

The core of `llmctl pull`, `llmctl models` and `llmctl rm`, usable as a library: functions
take validated references (:func:`llmctl.names.route`) and :class:`Target` values and return
result dataclasses; progress goes to a :data:`~llmctl.progress.ProgressSink`. Every call that
talks to a server is bounded by a wall-clock timeout (``--timeout``); pulls also by a stall
watchdog.

Endpoint resolution (first match wins)
    ``--endpoint URL``: checked (:mod:`llmctl.urls`), then asked what it is, as ``probe`` does:
    Ollama, Docker Model Runner (``/engines/v1`` or the root) or another OpenAI-compatible
    server (vLLM, llama.cpp, TGI, LocalAI: listed, but nothing can be pulled into or removed
    from it). The kind of server decides the backend; a path where no LLM API answers is
    reported as a wrong path, with the URL to use.
    Ollama: a running Ollama container llmctl manages (when there are several, ``pull`` and
    ``rm`` refuse and list them; the Docker engine not being reachable skips this step
    silently) > ``OLLAMA_HOST`` read with Ollama's own rules (:func:`llmctl.urls.parse_ollama_host`)
    > ``http://127.0.0.1:11434``.
    Model Runner: a Model Runner container llmctl manages > ``MODEL_RUNNER_HOST`` >
    ``http://127.0.0.1:12434``; when that default does not answer, the ``docker model`` CLI
    plugin is used instead (Docker Desktop without TCP), through the one docker runner
    (:class:`llmctl.engine.docker_cli.DockerCli`) pointed at the daemon llmctl uses.

Over 600 lines on purpose: pull, list and rm share the endpoint resolution and the client
and ``docker model`` helpers above them, and several sources answer each verb. When one verb
grows, split by section (resolution, pull, list, rm), resolution first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl import urls
from llmctl.errors import LlmctlError, ServerError, UsageError
from llmctl.names import MODEL_RUNNER, OLLAMA, RoutedRef, route, same_model
from llmctl.progress import ProgressSink, null_sink

if TYPE_CHECKING:
    from llmctl.backends.http import Cutter
    from llmctl.backends.ollama_models import PullOutcome
    from llmctl.engine.docker_cli import DockerCli
    from llmctl.engine.model import Engine
    from llmctl.managed import ManagedServer

OLLAMA_DEFAULT_URL = urls.OLLAMA_URL
MODEL_RUNNER_DEFAULT_URL = urls.MODEL_RUNNER_URL
DEFAULT_STALL_TIMEOUT = 60.0
DEFAULT_LIST_TIMEOUT = 10.0
DEFAULT_RM_TIMEOUT = 30.0
DETECT_TIMEOUT = 5.0  # at most this long to ask what answers at an --endpoint URL
OPENAI = "openai"  # any other OpenAI-compatible server (vLLM, llama.cpp, TGI, LocalAI): list only
BACKEND_LABELS = {OLLAMA: "Ollama", MODEL_RUNNER: "Docker Model Runner",
                  OPENAI: "OpenAI-compatible server"}
BACKEND_OF_SERVER = {"ollama": OLLAMA, "docker-model-runner": MODEL_RUNNER}

EngineFactory = Callable[[], "Engine"]
DockerFactory = Callable[[], "DockerCli"]


# --- endpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One backend endpoint and why it was chosen."""

    backend: str  # ollama | model-runner | openai
    url: str  # server root, no trailing slash
    source: str  # --endpoint | managed container NAME | OLLAMA_HOST | MODEL_RUNNER_HOST | default
    explicit: bool = False  # given by the user (--endpoint): never replaced by a fallback
    token: str | None = field(default=None, repr=False)  # a configured endpoint's bearer token
    api_base: str | None = None  # OpenAI-compatible servers: the base URL (…/v1)
    server: str | None = None  # what answers there, when it was asked (--endpoint)

    @property
    def label(self) -> str:
        if self.server and self.backend == OPENAI:
            from llmctl.probe import SERVER_NAMES

            return SERVER_NAMES.get(self.server, BACKEND_LABELS[OPENAI])
        return BACKEND_LABELS[self.backend]

    @property
    def phrase(self) -> str:
        """``an Ollama server``, ``a vLLM server``: what answers there, in a sentence."""
        from llmctl.probe import server_phrase

        return server_phrase(self.server or {OLLAMA: "ollama", MODEL_RUNNER:
                                             "docker-model-runner"}.get(self.backend))

    def describe(self) -> str:
        return f"{self.label} at {self.url} ({self.source})"


def _bounded(fn: Callable[[], Any], timeout: float, default: Any) -> Any:
    """``fn()`` in a daemon thread, or ``default`` when it takes longer than ``timeout`` or
    fails (a Docker engine that accepts and never answers must not hold a command up)."""
    import concurrent.futures
    import threading

    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed over below
            future.set_exception(exc)

    threading.Thread(target=run, name="llmctl-managed-lookup", daemon=True).start()
    try:
        return future.result(timeout=max(0.05, timeout))
    except Exception:
        return default


def _managed(engine_factory: EngineFactory | None, timeout: float = DEFAULT_LIST_TIMEOUT
             ) -> list[ManagedServer]:
    """Running servers llmctl manages; [] when the engine cannot be reached in time."""
    if engine_factory is None:
        return []

    def lookup() -> list[ManagedServer]:
        from llmctl.managed import list_servers

        try:
            engine = engine_factory()
            return [s for s in list_servers(engine) if s.state == "running" and s.endpoint]
        except LlmctlError:
            return []

    return list(_bounded(lookup, timeout, []))


def _is_runner(server: ManagedServer) -> bool:
    return server.profile == MODEL_RUNNER or server.api == MODEL_RUNNER


def candidate_targets(
    backend: str,
    *,
    engine_factory: EngineFactory | None = None,
    env: Mapping[str, str] | None = None,
    managed: list[ManagedServer] | None = None,
    warn: Callable[[str], None] | None = None,
    timeout: float = DEFAULT_LIST_TIMEOUT,
) -> list[Target]:
    """Every endpoint for ``backend`` in order of preference (the first is the one used),
    ``--endpoint`` aside (see :func:`explicit_target`)."""
    env = os.environ if env is None else env
    servers = _managed(engine_factory, timeout) if managed is None else managed
    targets: list[Target] = []
    if backend == OLLAMA:
        targets += [Target(OLLAMA, urls.server_root(s.endpoint or ""),
                           f"managed container {s.container}")
                    for s in servers if s.api == OLLAMA and not _is_runner(s)]
        host = urls.ollama_host_env(env)
        if host is not None:
            if host.warning and warn:
                warn(host.warning)
            url = urls.parse(host.base_url, "OLLAMA_HOST", shorthand=False).url
            targets.append(Target(OLLAMA, url, "OLLAMA_HOST"))
        else:
            targets.append(Target(OLLAMA, OLLAMA_DEFAULT_URL, "default"))
    else:
        targets += [Target(MODEL_RUNNER, urls.server_root(s.endpoint or ""),
                           f"managed container {s.container}")
                    for s in servers if _is_runner(s)]
        runner_host = env.get("MODEL_RUNNER_HOST", "").strip()
        if runner_host:
            targets.append(Target(MODEL_RUNNER, urls.parse(runner_host, "MODEL_RUNNER_HOST").root,
                                  "MODEL_RUNNER_HOST"))
        else:
            targets.append(Target(MODEL_RUNNER, MODEL_RUNNER_DEFAULT_URL, "default"))
    unique: list[Target] = []
    for t in targets:
        if all(u.url != t.url for u in unique):
            unique.append(t)
    return unique


def resolve_target(
    backend: str,
    *,
    engine_factory: EngineFactory | None = None,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    timeout: float = DEFAULT_LIST_TIMEOUT,
) -> Target:
    """The endpoint a pull or rm for ``backend`` goes to (no ``--endpoint``). Several
    managed containers of that backend: a UsageError that lists them (no silent pick)."""
    found = candidate_targets(backend, engine_factory=engine_factory, env=env, warn=warn,
                              timeout=timeout)
    managed = [t for t in found if t.source.startswith("managed container ")]
    if len(managed) > 1:
        listing = ", ".join(f"{t.source.removeprefix('managed container ')} at {t.url}"
                            for t in managed)
        choices = " or ".join(f"--endpoint {t.url}" for t in managed)
        raise UsageError(
            f"{len(managed)} {BACKEND_LABELS[backend]} containers that llmctl manages are "
            f"running: {listing}; which one is meant?",
            f"Choose one with {choices}.",
            details={"candidates": [{"container": t.source.removeprefix("managed container "),
                                     "url": t.url} for t in managed]},
        )
    return found[0]


def explicit_target(endpoint: str, *, timeout: float = DETECT_TIMEOUT,
                    token: str | None = None) -> Target:
    """The server at ``--endpoint URL``, asked what it is as ``probe`` asks (within
    ``timeout`` seconds): its root, its kind and, for OpenAI-compatible servers, the base URL.

    Raises UsageError for a bad URL or a path where no LLM API answers (with the URL to use),
    NotAnAPI for something that is not an LLM server, ServerError when nothing answers.
    """
    from llmctl.backends.http import NotAnAPI, TimedOut
    from llmctl.probe import configured_token, probe_url

    u = urls.parse(endpoint, "--endpoint")
    token = token or configured_token(u.url)  # a configured endpoint's key (llmctl expose)
    found = probe_url(u.url, timeout=timeout, api_key=token)
    check = f"Check the URL and that the server runs: llmctl probe {u.url}"
    if found.status == "unreachable":
        raise ServerError(f"cannot reach {u.url}: {found.reason}", check,
                          details={"url": u.url, "reason": found.reason})
    if found.status == "no-answer":
        raise TimedOut(f"{u.url}: {found.reason}", check,
                       details={"url": u.url, "reason": found.reason, "timeout_s": timeout})
    if not found.is_llm:
        if found.suggestion:
            raise UsageError(f"--endpoint {u.url}: {found.reason}",
                             f"Use --endpoint {found.suggestion}.",
                             details={"url": u.url, "suggestion": found.suggestion})
        raise NotAnAPI(f"{u.url}: {found.reason}", check,
                       details={"url": u.url, "reason": found.reason})
    backend = BACKEND_OF_SERVER.get(found.server or "", OPENAI)
    return Target(backend, found.root, "--endpoint", explicit=True, token=token,
                  api_base=found.base_url if backend == OPENAI else None, server=found.server)


def choose_target(
    model: str,
    *,
    backend: str | None = None,
    endpoint: str | None = None,
    verb: str = "pull",
    engine_factory: EngineFactory | None = None,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    timeout: float = DETECT_TIMEOUT,
) -> tuple[RoutedRef, Target]:
    """The reference (checked before any I/O) and the server a ``pull`` or ``rm`` of
    ``model`` goes to. With ``--endpoint`` the kind of server found there decides the
    backend (``llama3.2`` sent to a Model Runner means ``ai/llama3.2``, as
    ``docker model pull`` reads it), unless ``backend`` contradicts it."""
    ref = route(model, backend)
    if not endpoint:
        return ref, resolve_target(ref.backend, engine_factory=engine_factory, env=env,
                                   warn=warn, timeout=timeout)
    target = endpoint_target(endpoint, backend=backend, verb=verb, timeout=timeout)
    if ref.backend != target.backend:
        ref = route(model, target.backend)
    return ref, target


def endpoint_target(endpoint: str, *, backend: str | None = None, verb: str = "pull",
                    timeout: float = DETECT_TIMEOUT) -> Target:
    """:func:`explicit_target` for a command that puts models on a server (``verb``: pull,
    remove, import): an OpenAI-only server, or one of another kind than ``backend``, is a
    UsageError that says so."""
    target = explicit_target(endpoint, timeout=timeout)
    if target.backend == OPENAI:
        raise UsageError(
            f"{target.url} is {target.phrase}: it serves the models it was started with "
            f"(OpenAI API only), so llmctl cannot {verb} models there",
            f"See what it serves with `llmctl models --endpoint {endpoint}`; {verb} into "
            "Ollama or Docker Model Runner instead (`llmctl up ollama`).",
            details={"url": target.url, "server": target.server},
        )
    if backend and backend != target.backend:
        raise UsageError(
            f"--backend {backend}, but {target.url} is {target.phrase}",
            f"Drop --backend, or point --endpoint at a {BACKEND_LABELS[backend]} server.")
    return target


# --- pull --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullResult:
    model: str
    backend: str
    endpoint: str
    endpoint_source: str
    digest: str | None
    size: int | None  # bytes
    duration_s: float
    via: str  # "http" | "docker model"
    layers: int


def _client(url: str, read_timeout: float, token: str | None = None,
            cutter: Cutter | None = None) -> Any:
    from llmctl.backends.http import make_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    return make_client(url, timeout=read_timeout, headers=headers, cutter=cutter,
                       connect_timeout=min(read_timeout, 3.0))


def _docker(docker: DockerFactory | None) -> DockerCli:
    if docker is not None:
        return docker()
    from llmctl.engine.docker_cli import DockerCli

    return DockerCli()


def _check_timeout(value: float | None, option: str = "--timeout") -> None:
    from llmctl.inputs import check_seconds

    check_seconds(value, option)


def configured_targets(backends: list[str], warn: Callable[[str], None] | None = None
                       ) -> list[Target]:
    """The endpoints in the endpoint file (`llmctl endpoint write`), as model sources."""
    from llmctl.endpoint import read_config

    try:
        _default, endpoints = read_config()
    except LlmctlError as exc:
        if warn:
            warn(f"configured endpoints skipped: {exc.message}")
        return []
    targets = []
    for ep in endpoints:
        if ep.llm_type == "docker-model-runner":
            backend = MODEL_RUNNER
        else:
            backend = OLLAMA if ep.api_type == "ollama" else OPENAI
        if backend in backends:
            base = ep.endpoint if ep.api_type == "openai" else None
            targets.append(Target(backend, urls.server_root(ep.endpoint), f"endpoint {ep.name}",
                                  token=ep.bearer_token,
                                  api_base=urls.connectable(base) if base else None))
    return targets


def _hf_token(ref: RoutedRef, env: Mapping[str, str]) -> str | None:
    if ref.raw.lower().startswith(("hf.co/", "huggingface.co/")):
        return env.get("HF_TOKEN") or None
    return None


def pull(
    ref: RoutedRef,
    target: Target,
    *,
    progress: ProgressSink = null_sink,
    stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    insecure: bool = False,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    docker: DockerFactory | None = None,
    started: float | None = None,
) -> PullResult:
    """Pull ``ref`` into ``target``. Raises NotFoundError (unknown model) or ServerError.

    ``stall_timeout``: no progress for this long (waiting for the first answer included)
    ends the pull; ``timeout``: the whole pull may take at most this long (None: no limit),
    counted from ``started`` (a ``time.monotonic()`` value) when the caller already spent
    some of it. ``docker``: makes the docker CLI runner for the ``docker model`` fallback.
    """
    _check_timeout(stall_timeout, "--stall-timeout")
    _check_timeout(timeout)
    if target.backend not in (OLLAMA, MODEL_RUNNER):
        raise UsageError(f"{target.url} is {target.phrase}: llmctl cannot pull models there")
    env = os.environ if env is None else env
    start = time.monotonic()
    started = start if started is None else started
    read_timeout = stall_timeout + 5  # the watchdog fires first; this only frees the reader
    via = "http"
    digest: str | None = None
    size: int | None = None
    if target.backend == OLLAMA:
        from llmctl.backends import ollama_models

        with _client(target.url, read_timeout, target.token) as client:
            outcome = ollama_models.pull(client, ref.name, on_event=progress,
                                         stall_timeout=stall_timeout, insecure=insecure,
                                         wall_timeout=timeout, started=started)
            digest, size = _ollama_lookup(client, ref)
    else:
        from llmctl.backends import model_runner

        with _client(target.url, read_timeout, target.token) as client:
            try:
                outcome = model_runner.pull(client, ref.name, on_event=progress,
                                            stall_timeout=stall_timeout,
                                            bearer_token=_hf_token(ref, env),
                                            wall_timeout=timeout, started=started)
                digest = _runner_lookup(lambda: model_runner.list_models(client), ref)
            except model_runner.RunnerUnreachable:
                cli = _docker(docker)
                if target.explicit or target.source != "default" or not cli.available():
                    raise
                via = "docker model"
                outcome = model_runner.cli_pull(ref.name, on_event=progress,
                                                stall_timeout=stall_timeout, cli=cli,
                                                wall_timeout=timeout, started=started)
                left = model_runner.CLI_TIMEOUT if timeout is None else max(
                    0.5, timeout - (time.monotonic() - started))
                digest = _runner_lookup(lambda: model_runner.cli_list(cli, timeout=left), ref)
    return PullResult(
        model=ref.canonical, backend=target.backend, endpoint=target.url,
        endpoint_source=target.source, digest=digest,
        size=size if size is not None else (_total(outcome) or None),
        duration_s=round(time.monotonic() - start, 3), via=via, layers=len(outcome.layers),
    )


def _total(outcome: PullOutcome) -> int:
    return outcome.total


def _ollama_lookup(client: Any, ref: RoutedRef) -> tuple[str | None, int | None]:
    """(digest, size) of the pulled model from ``/api/tags``; (None, None) if unknown."""
    from llmctl.backends import ollama_models

    try:
        for m in ollama_models.list_models(client):
            if same_model(m.name, ref.name, OLLAMA):
                return m.digest, m.size
    except Exception:  # the pull succeeded; the lookup is a nicety
        return None, None
    return None, None


def _runner_lookup(lister: Callable[[], list[Any]], ref: RoutedRef) -> str | None:
    try:
        for m in lister():
            if any(same_model(t, ref.name, MODEL_RUNNER) for t in m.tags):
                return str(m.id)
    except Exception:  # the pull succeeded; the lookup is a nicety
        return None
    return None


# --- list --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelEntry:
    name: str
    backend: str
    endpoint: str
    size: int | None  # bytes, when the backend says (Ollama)
    size_text: str | None  # human form: "637.7 MB", "256.35 MiB"
    parameters: str | None
    quantization: str | None
    modified: str | None  # RFC 3339 (Ollama) or ISO from a Unix time (Model Runner)
    digest: str | None


@dataclass(frozen=True)
class SourceStatus:
    backend: str
    endpoint: str
    source: str
    ok: bool
    models: int = 0
    error: str | None = None
    via: str = "http"
    server: str | None = None  # what answers there, when it was asked (--endpoint)


@dataclass(frozen=True)
class ModelList:
    models: list[ModelEntry] = field(default_factory=list)
    sources: list[SourceStatus] = field(default_factory=list)


def list_models(
    *,
    backend: str | None = None,
    endpoint: str | None = None,
    engine_factory: EngineFactory | None = None,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    timeout: float = DEFAULT_LIST_TIMEOUT,
    docker: DockerFactory | None = None,
) -> ModelList:
    """Models from every backend llmctl knows; unreachable ones are reported in ``sources``.
    Everything (asking Docker for the servers llmctl runs included) ends within ``timeout``
    seconds. With ``endpoint``, only that server, whatever its kind (see
    :func:`explicit_target`).

    Raises ServerError only when no source answered at all.
    """
    from concurrent.futures import ThreadPoolExecutor

    from llmctl.backends.http import Deadline

    _check_timeout(timeout)
    deadline = Deadline(timeout)
    if endpoint:
        target = explicit_target(endpoint, timeout=min(timeout, DETECT_TIMEOUT))
        if backend and BACKEND_OF_SERVER.get(target.server or "", OPENAI) != backend:
            raise UsageError(f"--backend {backend}, but {target.url} is {target.phrase}",
                             "Drop --backend to list what it serves.")
        targets = [target]
    else:
        backends = [backend] if backend else [OLLAMA, MODEL_RUNNER, OPENAI]
        managed = _managed(engine_factory, deadline.remaining())
        found = [t for b in backends if b != OPENAI
                 for t in candidate_targets(b, env=env, managed=managed, warn=warn)]
        found += configured_targets(backends, warn)
        targets = []
        for t in found:  # the same server from several sources is asked once
            if all(u.url != t.url for u in targets):
                targets.append(t)
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        answers = list(pool.map(lambda t: _list_one(t, deadline.remaining(), docker, timeout),
                                targets))
    models = [m for entries, _status in answers for m in entries]
    sources = [status for _entries, status in answers]
    if not any(s.ok for s in sources):
        reasons = "; ".join(f"{BACKEND_LABELS[s.backend]} at {s.endpoint} ({s.source}): "
                            f"{s.error}" for s in sources)
        raise ServerError(f"no model backend answered: {reasons}",
                          "Start one (`llmctl up ollama`), or point at one with --endpoint URL.",
                          details={"sources": [vars(s) for s in sources]})
    models.sort(key=lambda m: (m.backend, m.name.lower(), m.endpoint))
    return ModelList(models, sources)


def _list_one(target: Target, timeout: float, docker: DockerFactory | None,
              shown: float) -> tuple[list[ModelEntry], SourceStatus]:
    """One source, cut off after ``timeout`` seconds (``shown``: the --timeout given)."""
    import httpx

    from llmctl.backends.http import TimedOut, describe_transport_error, hard_deadline

    via = "http"
    try:
        with hard_deadline(timeout, "listing models", target.url, shown=shown) as cutter:
            if target.backend == OLLAMA:
                entries = _list_ollama(target, timeout, cutter)
            elif target.backend == OPENAI:
                entries = _list_openai(target, timeout, cutter)
            else:
                entries, via = _list_runner(target, timeout, cutter, docker)
    except httpx.HTTPError as exc:
        return [], SourceStatus(target.backend, target.url, target.source, False,
                                error=describe_transport_error(exc), server=target.server)
    except TimedOut:
        return [], SourceStatus(target.backend, target.url, target.source, False,
                                error=f"no answer within {shown:g} s (--timeout)",
                                server=target.server)
    except LlmctlError as exc:
        return [], SourceStatus(target.backend, target.url, target.source, False,
                                error=exc.message, server=target.server)
    return entries, SourceStatus(target.backend, target.url, target.source, True,
                                 models=len(entries), via=via, server=target.server)


def _list_ollama(target: Target, timeout: float, cutter: Cutter) -> list[ModelEntry]:
    from llmctl.backends import ollama_models
    from llmctl.progress import human_size

    with _client(target.url, timeout, target.token, cutter) as client:
        found = ollama_models.list_models(client)
    return [ModelEntry(
        name=m.name, backend=OLLAMA, endpoint=target.url, size=m.size,
        size_text=human_size(m.size) if m.size is not None else None,
        parameters=m.parameters, quantization=m.quantization, modified=m.modified,
        digest=m.digest,
    ) for m in found]


def _list_openai(target: Target, timeout: float, cutter: Cutter) -> list[ModelEntry]:
    """`GET /v1/models` of any OpenAI-compatible server: names only."""
    from llmctl.backends import openai

    base = target.api_base or urls.api_base(target.url, "openai")
    with _client(base.rstrip("/") + "/", timeout, target.token, cutter) as client:
        ids = openai.list_models(client)
    return [ModelEntry(name=i, backend=OPENAI, endpoint=target.url, size=None, size_text=None,
                       parameters=None, quantization=None, modified=None, digest=None)
            for i in ids]


def _list_runner(target: Target, timeout: float, cutter: Cutter,
                 docker: DockerFactory | None) -> tuple[list[ModelEntry], str]:
    import httpx

    from llmctl.backends import model_runner

    via = "http"
    start = time.monotonic()
    try:
        with _client(target.url, timeout, target.token, cutter) as client:
            found = model_runner.list_models(client)
    except (httpx.ConnectError, httpx.ConnectTimeout):
        cli = _docker(docker)
        if target.explicit or target.source != "default" or not cli.available():
            raise
        left = max(0.05, timeout - (time.monotonic() - start))
        found = model_runner.cli_list(cli, timeout=left)
        via = "docker model"
    entries = []
    for m in found:
        for name in m.tags or (m.id,):
            entries.append(ModelEntry(
                name=name, backend=MODEL_RUNNER, endpoint=target.url, size=None,
                size_text=m.size, parameters=m.parameters, quantization=m.quantization,
                modified=_iso(m.created), digest=m.id,
            ))
    return entries, via


def _iso(ts: int | None) -> str | None:
    if not ts:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


# --- rm ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoveResult:
    model: str
    backend: str
    endpoint: str
    endpoint_source: str
    via: str
    deleted: list[dict[str, str]] = field(default_factory=list)


def remove(ref: RoutedRef, target: Target, *, force: bool = False,
           timeout: float = DEFAULT_RM_TIMEOUT, docker: DockerFactory | None = None,
           shown: float | None = None) -> RemoveResult:
    """Remove ``ref`` from ``target`` within ``timeout`` seconds (wall clock; ``shown``: the
    --timeout to name when it runs out, if the caller already spent part of it). Raises
    NotFoundError when it is not there."""
    from llmctl.backends.http import hard_deadline

    _check_timeout(timeout)
    if target.backend not in (OLLAMA, MODEL_RUNNER):
        raise UsageError(f"{target.url} is {target.phrase}: llmctl cannot remove models there")
    via = "http"
    deleted: list[dict[str, str]] = []
    start = time.monotonic()
    with hard_deadline(timeout, f"removing {ref.canonical}", target.url,
                       shown=shown or timeout) as cutter:
        if target.backend == OLLAMA:
            from llmctl.backends import ollama_models

            with _client(target.url, timeout, target.token, cutter) as client:
                ollama_models.delete(client, ref.name)
        else:
            from llmctl.backends import model_runner

            with _client(target.url, timeout, target.token, cutter) as client:
                try:
                    deleted = model_runner.delete(client, ref.name, force=force)
                except model_runner.RunnerUnreachable:
                    cli = _docker(docker)
                    if target.explicit or target.source != "default" or not cli.available():
                        raise
                    via = "docker model"
                    left = max(0.05, timeout - (time.monotonic() - start))
                    model_runner.cli_rm(ref.name, force=force, cli=cli, timeout=left)
    return RemoveResult(ref.canonical, target.backend, target.url, target.source, via, deleted)
