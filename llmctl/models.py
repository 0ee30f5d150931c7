"""Models across backends: where a model goes (routing, endpoint resolution), pull, list, rm.

The core of `llmctl pull`, `llmctl models` and `llmctl rm`, usable as a library: functions
take validated references (:func:`llmctl.names.route`) and :class:`Target` values and return
result dataclasses; progress goes to a :data:`~llmctl.progress.ProgressSink`.

Endpoint resolution (first match wins)
    Ollama: ``--endpoint`` > a running Ollama container llmctl manages (when the Docker engine
    is not reachable this step is skipped silently) > ``OLLAMA_HOST`` read with Ollama's own
    rules (bare host → port 11434, ``http://host`` → 80, ``https://host`` → 443, ``0.0.0.0``
    → 127.0.0.1) > ``http://127.0.0.1:11434``.
    Model Runner: ``--endpoint`` > a Model Runner container llmctl manages >
    ``MODEL_RUNNER_HOST`` > ``http://127.0.0.1:12434``; when the default URL does not answer,
    the ``docker model`` CLI plugin is used instead (Docker Desktop without TCP).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.errors import LlmctlError, ServerError, UsageError
from llmctl.names import MODEL_RUNNER, OLLAMA, RoutedRef, same_model
from llmctl.progress import ProgressSink, null_sink

if TYPE_CHECKING:
    from llmctl.backends.ollama_models import PullOutcome
    from llmctl.engine.docker_engine import Engine
    from llmctl.managed import ManagedServer

OLLAMA_DEFAULT_PORT = 11434
OLLAMA_DEFAULT_URL = f"http://127.0.0.1:{OLLAMA_DEFAULT_PORT}"
MODEL_RUNNER_DEFAULT_URL = "http://127.0.0.1:12434"
DEFAULT_STALL_TIMEOUT = 60.0
OPENAI = "openai"  # any other OpenAI-compatible server (vLLM, llama.cpp, TGI, LocalAI): list only
BACKEND_LABELS = {OLLAMA: "Ollama", MODEL_RUNNER: "Docker Model Runner",
                  OPENAI: "OpenAI-compatible server"}

EngineFactory = Callable[[], "Engine"]


# --- endpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One backend endpoint and why it was chosen."""

    backend: str  # ollama | model-runner
    url: str  # server root, no trailing slash
    source: str  # --endpoint | managed container NAME | OLLAMA_HOST | MODEL_RUNNER_HOST | default
    explicit: bool = False  # given by the user (--endpoint): never replaced by a fallback
    token: str | None = field(default=None, repr=False)  # a configured endpoint's bearer token

    def describe(self) -> str:
        return f"{BACKEND_LABELS[self.backend]} at {self.url} ({self.source})"


def ollama_host_url(value: str | None) -> tuple[str, str | None]:
    """``OLLAMA_HOST`` → (connectable URL, warning), as envconfig ``Host()`` +
    ``ConnectableHost()`` read it (reference/server-apis.md §1.1)."""
    s = (value or "").strip().strip("\"'").strip()
    if not s:
        return OLLAMA_DEFAULT_URL, None
    default_port = str(OLLAMA_DEFAULT_PORT)
    if "://" in s:
        scheme, hostport = s.split("://", 1)
        scheme = scheme.lower()
        if scheme == "http":
            default_port = "80"
        elif scheme == "https":
            default_port = "443"
    else:
        scheme, hostport = "http", s
        if s == "ollama.com":
            scheme, hostport = "https", "ollama.com:443"
    hostport, _, path = hostport.partition("/")
    host, port = _split_host_port(hostport)
    if host is None:  # no port: the whole thing is the host
        host, port = "127.0.0.1", default_port
        bare = hostport.strip("[]")
        if bare:
            host = bare
    warning = None
    if not port.isdigit() or int(port) > 65535:
        warning = f"OLLAMA_HOST={value!r}: invalid port {port!r}, using {default_port}"
        port = default_port
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    url = f"{scheme}://{host}:{port}" + (f"/{path.rstrip('/')}" if path.strip("/") else "")
    return url, warning


def _split_host_port(hostport: str) -> tuple[str | None, str]:
    """Go's ``net.SplitHostPort``: (None, "") when there is no port part."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1 or not hostport[end + 1:].startswith(":"):
            return None, ""
        return hostport[1:end], hostport[end + 2:]
    if hostport.count(":") != 1:
        return None, ""
    host, port = hostport.split(":")
    return host, port


def check_endpoint(url: str) -> str:
    """Validate an ``--endpoint`` URL (http/https with a host) and strip trailing slashes."""
    from llmctl.backends.http import check_url

    return check_url(url, "--endpoint")


def _managed(engine_factory: EngineFactory | None) -> list[ManagedServer]:
    """Running servers llmctl manages; [] when the engine cannot be reached."""
    if engine_factory is None:
        return []
    try:
        from llmctl.managed import list_servers

        engine = engine_factory()
        return [s for s in list_servers(engine) if s.state == "running" and s.endpoint]
    except LlmctlError:
        return []


def _is_runner(server: ManagedServer) -> bool:
    return server.profile == MODEL_RUNNER or server.api == MODEL_RUNNER


def candidate_targets(
    backend: str,
    *,
    endpoint: str | None = None,
    engine_factory: EngineFactory | None = None,
    env: Mapping[str, str] | None = None,
    managed: list[ManagedServer] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Target]:
    """Every endpoint for ``backend`` in order of preference (the first is the one used)."""
    env = os.environ if env is None else env
    if endpoint:
        return [Target(backend, check_endpoint(endpoint), "--endpoint", explicit=True)]
    servers = _managed(engine_factory) if managed is None else managed
    targets: list[Target] = []
    if backend == OLLAMA:
        targets += [Target(OLLAMA, s.endpoint or "", f"managed container {s.container}")
                    for s in servers if s.api == OLLAMA and not _is_runner(s)]
        if env.get("OLLAMA_HOST", "").strip():
            url, warning = ollama_host_url(env["OLLAMA_HOST"])
            if warning and warn:
                warn(warning)
            targets.append(Target(OLLAMA, url, "OLLAMA_HOST"))
        else:
            targets.append(Target(OLLAMA, OLLAMA_DEFAULT_URL, "default"))
    else:
        targets += [Target(MODEL_RUNNER, s.endpoint or "", f"managed container {s.container}")
                    for s in servers if _is_runner(s)]
        host = env.get("MODEL_RUNNER_HOST", "").strip()
        if host:
            targets.append(Target(MODEL_RUNNER, check_endpoint(host), "MODEL_RUNNER_HOST"))
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
    endpoint: str | None = None,
    engine_factory: EngineFactory | None = None,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Target:
    """The endpoint a pull or rm for ``backend`` goes to."""
    return candidate_targets(backend, endpoint=endpoint, engine_factory=engine_factory, env=env,
                             warn=warn)[0]


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


def _client(url: str, read_timeout: float, token: str | None = None) -> Any:
    from llmctl.backends.http import make_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    return make_client(url, timeout=read_timeout, headers=headers)


def configured_targets(backends: list[str], warn: Callable[[str], None] | None = None
                       ) -> list[Target]:
    """The endpoints in the endpoint file (`llmctl endpoint write`), as model sources."""
    from llmctl.endpoint import read_config, server_root

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
            targets.append(Target(backend, server_root(ep.endpoint), f"endpoint {ep.name}",
                                  token=ep.bearer_token))
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
) -> PullResult:
    """Pull ``ref`` into ``target``. Raises NotFoundError (unknown model) or ServerError."""
    if stall_timeout <= 0:
        raise UsageError(f"--stall-timeout {stall_timeout:g} must be more than 0 seconds")
    env = os.environ if env is None else env
    start = time.monotonic()
    read_timeout = stall_timeout + 5  # the watchdog fires first; this only frees the reader
    via = "http"
    digest: str | None = None
    size: int | None = None
    if target.backend == OLLAMA:
        from llmctl.backends import ollama_models

        with _client(target.url, read_timeout) as client:
            outcome = ollama_models.pull(client, ref.name, on_event=progress,
                                         stall_timeout=stall_timeout, insecure=insecure)
            digest, size = _ollama_lookup(client, ref)
    else:
        from llmctl.backends import model_runner

        with _client(target.url, read_timeout) as client:
            try:
                outcome = model_runner.pull(client, ref.name, on_event=progress,
                                            stall_timeout=stall_timeout,
                                            bearer_token=_hf_token(ref, env))
                digest = _runner_lookup(lambda: model_runner.list_models(client), ref)
            except model_runner.RunnerUnreachable:
                if target.explicit or target.source != "default" or not model_runner.docker_cli():
                    raise
                via = "docker model"
                outcome = model_runner.cli_pull(ref.name, on_event=progress,
                                                stall_timeout=stall_timeout)
                digest = _runner_lookup(model_runner.cli_list, ref)
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


@dataclass(frozen=True)
class ModelList:
    models: list[ModelEntry] = field(default_factory=list)
    sources: list[SourceStatus] = field(default_factory=list)


def detect_backend(url: str) -> str:
    """Which backend answers at ``url``: Model Runner says so on ``GET /``; else Ollama."""
    import httpx

    try:
        with _client(url, 5.0) as client:
            text = client.get("/").text
    except httpx.HTTPError:
        return OLLAMA
    return MODEL_RUNNER if "Model Runner" in text else OLLAMA


def list_models(
    *,
    backend: str | None = None,
    endpoint: str | None = None,
    engine_factory: EngineFactory | None = None,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> ModelList:
    """Models from every backend llmctl knows; unreachable ones are reported in ``sources``.

    Raises ServerError only when no source answered at all.
    """
    from concurrent.futures import ThreadPoolExecutor

    if endpoint:
        backends = [backend or detect_backend(check_endpoint(endpoint))]
    else:
        backends = [backend] if backend else [OLLAMA, MODEL_RUNNER, OPENAI]
    managed = None if endpoint else _managed(engine_factory)
    found = [t for b in backends if b != OPENAI
             for t in candidate_targets(b, endpoint=endpoint, env=env, managed=managed,
                                        warn=warn)]
    if not endpoint:
        found += configured_targets(backends, warn)
    targets: list[Target] = []
    for t in found:  # the same server from several sources is asked once
        if all(u.url != t.url for u in targets):
            targets.append(t)
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        answers = list(pool.map(_list_one, targets))
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


def _list_one(target: Target) -> tuple[list[ModelEntry], SourceStatus]:
    import httpx

    from llmctl.backends.http import describe_transport_error

    via = "http"
    try:
        if target.backend == OLLAMA:
            entries = _list_ollama(target)
        elif target.backend == OPENAI:
            entries = _list_openai(target)
        else:
            entries, via = _list_runner(target)
    except httpx.HTTPError as exc:
        return [], SourceStatus(target.backend, target.url, target.source, False,
                                error=describe_transport_error(exc))
    except LlmctlError as exc:
        return [], SourceStatus(target.backend, target.url, target.source, False,
                                error=exc.message)
    return entries, SourceStatus(target.backend, target.url, target.source, True,
                                 models=len(entries), via=via)


def _list_ollama(target: Target) -> list[ModelEntry]:
    from llmctl.backends import ollama_models
    from llmctl.progress import human_size

    with _client(target.url, 10.0, target.token) as client:
        found = ollama_models.list_models(client)
    return [ModelEntry(
        name=m.name, backend=OLLAMA, endpoint=target.url, size=m.size,
        size_text=human_size(m.size) if m.size is not None else None,
        parameters=m.parameters, quantization=m.quantization, modified=m.modified,
        digest=m.digest,
    ) for m in found]


def _list_openai(target: Target) -> list[ModelEntry]:
    """`GET /v1/models` of any OpenAI-compatible server: names only."""
    from llmctl.backends import openai

    with _client(f"{target.url}/v1/", 10.0, target.token) as client:
        ids = openai.list_models(client)
    return [ModelEntry(name=i, backend=OPENAI, endpoint=target.url, size=None, size_text=None,
                       parameters=None, quantization=None, modified=None, digest=None)
            for i in ids]


def _list_runner(target: Target) -> tuple[list[ModelEntry], str]:
    import httpx

    from llmctl.backends import model_runner

    via = "http"
    try:
        with _client(target.url, 10.0) as client:
            found = model_runner.list_models(client)
    except (httpx.ConnectError, httpx.ConnectTimeout):
        if target.source != "default" or not model_runner.docker_cli():
            raise
        found = model_runner.cli_list()
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


def remove(ref: RoutedRef, target: Target, *, force: bool = False) -> RemoveResult:
    """Remove ``ref`` from ``target``. Raises NotFoundError when it is not there."""
    via = "http"
    deleted: list[dict[str, str]] = []
    if target.backend == OLLAMA:
        from llmctl.backends import ollama_models

        with _client(target.url, 30.0) as client:
            ollama_models.delete(client, ref.name)
    else:
        from llmctl.backends import model_runner

        with _client(target.url, 30.0) as client:
            try:
                deleted = model_runner.delete(client, ref.name, force=force)
            except model_runner.RunnerUnreachable:
                if target.explicit or target.source != "default" or not model_runner.docker_cli():
                    raise
                via = "docker model"
                model_runner.cli_rm(ref.name, force=force)
    return RemoveResult(ref.canonical, target.backend, target.url, target.source, via, deleted)
