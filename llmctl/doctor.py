"""`llmctl doctor`: every known way the setup goes wrong, found fast, each with the fix.

Checks are small functions ``check(env) -> CheckResult(name, status, detail, fix)`` with
status ``ok | warn | fail | skip``, registered by name with a one-line description
(:data:`CHECKS`). :func:`run_checks` runs them concurrently, each in its own thread, with a
per-check and a total deadline: a check still running at its deadline becomes a ``fail``
that says so, and doctor returns anyway. An exception inside a check becomes a ``fail``
with the message; nothing raises out of :func:`run_checks` except a usage error for an
unknown check name.

Why daemon threads and not a ThreadPoolExecutor: the executor's workers are joined when
the interpreter exits, so a check stuck in a blocking call (a daemon that accepts and never
answers, a CLI plugin that hangs) would keep the process alive after doctor has printed.
Each check gets a daemon thread and a :class:`concurrent.futures.Future` instead.

Everything doctor reads from the outside world (daemon, docker CLI, environment, HTTP, the
host) goes through :class:`DoctorEnv`, memoised and thread-safe, so checks share one daemon
connection and tests can hand in an in-memory engine, a fake CLI runner and an environment.

No typer or rich here; docker and httpx are imported lazily (through the engine layer and
``llmctl.backends.http``). Modules written alongside this one (``llmctl.engine.docker_cli``,
``llmctl.endpoint``, ``llmctl.backends.*``) are imported inside the checks: when one is
missing the check reports ``skip`` with the reason.
"""

from __future__ import annotations

import concurrent.futures
import os
import platform
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from llmctl import urls
from llmctl.errors import LlmctlError, UsageError
from llmctl.urls import parse_ollama_host

if TYPE_CHECKING:
    from llmctl.engine.connect import DaemonTarget
    from llmctl.engine.docker_engine import DockerEngine as Engine
    from llmctl.engine.model import ContainerInfo, EngineFacts, PublishedPort
    from llmctl.managed import ManagedServer

STATUSES = ("ok", "warn", "fail", "skip")
OLLAMA_PORT = urls.OLLAMA_PORT
ALT_OLLAMA_PORT = urls.OLLAMA_ALT_PORT
RUNNER_PORT = urls.MODEL_RUNNER_PORT
DESKTOP_MODEL_RUNNER_MIN = (4, 40)
MIN_API_VERSION = (1, 41)
DISK_WARN_BYTES = 10 * 1024**3
DEFAULT_TIMEOUT = 10.0  # total, seconds
CHECK_TIMEOUT = 8.0  # per check, seconds
HTTP_TIMEOUT = 1.0
CLI_TIMEOUT = 4.0
DAEMON_TIMEOUT = 2.0  # first contact; a daemon that never answers costs this much
UNSPECIFIED = ("0.0.0.0", "::", "")
VM_KINDS = ("Docker Desktop", "Colima", "OrbStack", "Rancher Desktop")
LLM_IMAGE_RE = re.compile(
    r"ollama|vllm|llama[.-]?cpp|text-generation-inference|localai|model-runner|sglang|"
    r"lmdeploy|llmfake",
    re.IGNORECASE,
)
LLM_CONTAINER_PORTS = (OLLAMA_PORT, RUNNER_PORT)
LABEL_RUNNER_ROLE = "com.docker.model-runner.role"
NO_ENGINE = "needs the Docker daemon, which is not reachable (see the `daemon` check)"


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str  # what was found
    fix: str | None = None  # the exact command or setting that fixes it
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "data": self.data,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }


def ok(detail: str, **data: Any) -> CheckResult:
    return CheckResult("", "ok", detail, None, data)


def warn(detail: str, fix: str | None, **data: Any) -> CheckResult:
    return CheckResult("", "warn", detail, fix, data)


def fail(detail: str, fix: str | None, **data: Any) -> CheckResult:
    return CheckResult("", "fail", detail, fix, data)


def skip(detail: str, fix: str | None = None, **data: Any) -> CheckResult:
    return CheckResult("", "skip", detail, fix, data)


class SkipCheck(Exception):
    """Raised inside a check when what it needs is not there: the check is skipped."""

    def __init__(self, reason: str, fix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class Finding:
    """One thing a check found; a check with several reports the worst of them."""

    status: str
    text: str
    fix: str | None = None


def combine(findings: Sequence[Finding], **data: Any) -> CheckResult:
    order = {"fail": 3, "warn": 2, "ok": 1, "skip": 0}
    worst = max((f.status for f in findings), key=lambda s: order[s], default="ok")
    fixes: list[str] = []
    for f in findings:
        if f.fix and f.status == worst and f.fix not in fixes:
            fixes.append(f.fix)
    detail = "; ".join(f.text for f in findings)
    if findings:  # each finding with its own fix, for --json readers
        data = {**data, "findings": [{"status": f.status, "text": f.text, "fix": f.fix}
                                     for f in findings]}
    return CheckResult("", worst, detail, " ".join(fixes) or None, data)


@dataclass
class Report:
    checks: list[CheckResult]
    elapsed: float
    context: str | None = None
    endpoint: str | None = None

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.counts(),
            "docker": {"context": self.context, "endpoint": self.endpoint},
            "elapsed": round(self.elapsed, 3),
            "checks": [c.to_dict() for c in self.checks],
        }


# --- what doctor reads from the outside world -----------------------------------------------


CliRunner = Callable[[Sequence[str], dict[str, str], float], Any]


@dataclass(frozen=True)
class Answer:
    """What answers HTTP at a URL: ``kind`` ollama | model-runner | http | silent | none."""

    kind: str
    detail: str

    @property
    def listening(self) -> bool:
        return self.kind != "none"


class DoctorEnv:
    """The outside world as doctor sees it; every value is computed once, thread-safely.

    ``connect(context, host, timeout=...)`` returns an engine (the real
    :func:`llmctl.engine.connect` by default, an in-memory stand-in in tests); the engine
    must offer ``target``, ``address_host``, ``client.info()``/``client.version()``,
    ``list_managed()``, ``published_ports()``, ``image_present()`` and ``volume_labels()``.
    """

    def __init__(
        self,
        context: str | None = None,
        host: str | None = None,
        *,
        connect: Callable[..., Any] | None = None,
        cli_runner: CliRunner | None = None,
        environ: dict[str, str] | None = None,
        which: Callable[[str], str | None] | None = None,
        host_os: str | None = None,
        host_arch: str | None = None,
        disk_usage: Callable[[str], Any] | None = None,
        nvidia_on_host: Callable[[], bool] | None = None,
        process_holding: Callable[[int], str | None] | None = None,
        ollama_port: int = OLLAMA_PORT,
        alt_ollama_port: int = ALT_OLLAMA_PORT,
        runner_port: int = RUNNER_PORT,
        http_timeout: float = HTTP_TIMEOUT,
        daemon_timeout: float = DAEMON_TIMEOUT,
        cli_timeout: float = CLI_TIMEOUT,
    ) -> None:
        self.context = context
        self.host = host
        self._connect = connect
        self.cli_runner = cli_runner
        self.environ = dict(os.environ if environ is None else environ)
        self.which = which or shutil.which
        self.host_os = host_os or sys.platform  # darwin | linux | win32
        self.host_arch = (host_arch or platform.machine() or "").lower()
        self.disk_usage = disk_usage or shutil.disk_usage
        self._nvidia_on_host = nvidia_on_host or _nvidia_on_host
        self._process_holding = process_holding
        self.ollama_port = ollama_port
        self.alt_ollama_port = alt_ollama_port
        self.runner_port = runner_port
        self.http_timeout = http_timeout
        self.daemon_timeout = daemon_timeout
        self.cli_timeout = cli_timeout
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._memo: dict[str, tuple[bool, Any]] = {}

    # memoisation: one computation per key, shared by every check; errors are remembered too
    def once(self, key: str, fn: Callable[[], Any]) -> Any:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._memo:
                try:
                    self._memo[key] = (True, fn())
                except Exception as exc:  # remembered and re-raised to every caller
                    self._memo[key] = (False, exc)
            good, value = self._memo[key]
        if not good:
            raise value
        return value

    # --- the daemon ---------------------------------------------------------------------------
    def target(self) -> DaemonTarget:
        def resolve() -> DaemonTarget:
            if self._connect is not None:  # an injected engine knows its own target
                return self.engine().target
            from llmctl.engine.connect import resolve_target

            return resolve_target(self.context, self.host)

        return self.once("target", resolve)

    def engine(self) -> Engine:
        """The connected engine; raises LlmctlError (EngineUnavailable, ConfigError)."""

        def make() -> Any:
            if self._connect is not None:
                return self._connect(self.context, self.host, timeout=self.daemon_timeout)
            from llmctl.engine import connect

            self.target()  # a missing context fails here, with its own message
            return connect(self.context, self.host, timeout=self.daemon_timeout)

        return self.once("engine", make)

    def docs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The daemon's `docker info` and `docker version` documents."""

        def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
            engine = self.engine()
            from llmctl.engine.docker_engine import engine_errors

            with engine_errors(engine.target):
                return dict(engine.client.info()), dict(engine.client.version())

        return self.once("docs", fetch)

    def facts(self) -> EngineFacts:
        def compute() -> EngineFacts:
            from llmctl.engine.docker_engine import facts_from

            return facts_from(*self.docs())

        return self.once("facts", compute)

    def require_engine(self) -> Engine:
        """The engine and its facts, or SkipCheck (the `daemon` check reports the failure)."""
        try:
            engine = self.engine()
            self.facts()
        except LlmctlError:
            raise SkipCheck(NO_ENGINE) from None
        return engine

    def engine_or_none(self) -> Engine | None:
        try:
            return self.require_engine()
        except SkipCheck:
            return None

    def servers(self) -> list[ManagedServer]:
        def fetch() -> list[ManagedServer]:
            from llmctl.managed import list_servers

            engine = self.require_engine()
            return retry_removed(lambda: list_servers(engine))

        return self.once("servers", fetch)

    def published(self) -> list[tuple[ContainerInfo, PublishedPort]]:
        return self.once(
            "published", lambda: retry_removed(self.require_engine().published_ports)
        )

    @property
    def is_local(self) -> bool:
        try:
            return self.target().is_local
        except LlmctlError:
            return True

    @property
    def address_host(self) -> str:
        """Where published ports are reached from here (the remote host for remote daemons)."""
        try:
            return self.target().address_host
        except LlmctlError:
            return "127.0.0.1"

    def kind(self) -> str:
        """The engine kind as a user knows it (Desktop for Linux told apart)."""
        facts = self.facts()
        if facts.kind == "Docker Desktop":
            return {"darwin": "Docker Desktop for Mac", "win32": "Docker Desktop for Windows",
                    "linux": "Docker Desktop for Linux"}.get(self.host_os, "Docker Desktop")
        return facts.kind

    # --- host ---------------------------------------------------------------------------------
    def run_cli(self, argv: Sequence[str], timeout: float | None = None) -> Any:
        from llmctl.engine.docker_cli import run_process

        runner = self.cli_runner or run_process
        return runner(list(argv), {}, timeout or self.cli_timeout)

    def docker_cli(self) -> str | None:
        return self.which(self.environ.get("LLMCTL_DOCKER_CLI") or "docker")

    def nvidia_on_host(self) -> bool:
        return bool(self.once("nvidia-host", self._nvidia_on_host))

    def holder_process(self, port: int) -> str | None:
        if self._process_holding is not None:
            return self._process_holding(port)
        from llmctl.ports import process_holding

        return process_holding(port)

    # --- HTTP ---------------------------------------------------------------------------------
    def answer(self, url: str) -> Answer:
        return self.once(f"answer:{url}", lambda: identify(url, self.http_timeout))


def retry_removed(fn: Callable[[], Any], attempts: int = 3) -> Any:
    """Run a container listing again when a container vanished mid-way: docker-py inspects
    each listed container and raises NotFound (404) when one is removed in between."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            gone = getattr(exc, "status_code", None) == 404 or "no such container" in \
                str(exc).lower()
            if not gone or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _nvidia_on_host() -> bool:
    """An NVIDIA GPU and driver on this machine (Linux): device node or nvidia-smi."""
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def identify(url: str, timeout: float = HTTP_TIMEOUT) -> Answer:
    """One ``GET /``: Ollama and Model Runner name themselves in the text (server-apis §7)."""
    import httpx

    from llmctl.backends.http import describe_transport_error, make_client, snippet

    try:
        with make_client(url, timeout=timeout, connect_timeout=timeout) as client:
            r = client.get("/")
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout):
            return Answer("none", "connect timed out")
        return Answer("silent", f"accepts connections but sent no HTTP answer in {timeout:g} s")
    except httpx.HTTPError as exc:
        reason = describe_transport_error(exc)
        if reason == "connection refused":
            return Answer("none", "nothing listens")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return Answer("silent", f"listens but does not speak HTTP ({reason})")
        return Answer("none", reason)
    text = r.text.strip()
    if "Ollama is running" in text:
        return Answer("ollama", "Ollama")
    if "Docker Model Runner is running" in text:
        return Answer("model-runner", "Docker Model Runner")
    ctype = r.headers.get("content-type", "").split(";")[0] or "no content type"
    return Answer("http", f"an HTTP server (GET / answered {r.status_code} {ctype}"
                          f"{': ' + repr(snippet(r.content, 40)) if r.content else ''})")


# --- the registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    fn: Callable[[DoctorEnv], CheckResult]


CHECKS: dict[str, Check] = {}


def check(name: str, description: str) -> Callable[[Callable[[DoctorEnv], CheckResult]],
                                                    Callable[[DoctorEnv], CheckResult]]:
    def register(fn: Callable[[DoctorEnv], CheckResult]) -> Callable[[DoctorEnv], CheckResult]:
        CHECKS[name] = Check(name, description, fn)
        return fn

    return register


def check_names() -> list[str]:
    return list(CHECKS)


def select(names: Iterable[str] | None) -> list[Check]:
    """The checks to run, in registry order; an unknown name is a usage error."""
    wanted = list(dict.fromkeys(names or []))
    unknown = [n for n in wanted if n not in CHECKS]
    if unknown:
        raise UsageError(
            f"unknown check {', '.join(repr(n) for n in unknown)}",
            "Valid checks: " + ", ".join(CHECKS) + " (`llmctl doctor --list`).",
        )
    return [c for c in CHECKS.values() if not wanted or c.name in wanted]


def _run_one(chk: Check, env: DoctorEnv, fut: concurrent.futures.Future[CheckResult]) -> None:
    start = time.monotonic()
    try:
        result = chk.fn(env)
    except SkipCheck as exc:
        result = skip(exc.reason, exc.fix)
    except LlmctlError as exc:
        result = fail(exc.message, exc.hint)
    except Exception as exc:  # no check ever raises out of doctor
        result = fail(
            f"the check crashed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
            f"This is a bug in llmctl: report it with the output of "
            f"`llmctl --debug doctor --check {chk.name}`.",
        )
    fut.set_result(replace(result, name=chk.name, seconds=time.monotonic() - start))


def run_checks(
    names: Iterable[str] | None = None,
    env: DoctorEnv | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    check_timeout: float = CHECK_TIMEOUT,
) -> Report:
    """Run the checks concurrently; return within about ``timeout`` seconds whatever hangs."""
    if not timeout > 0 or not check_timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    selected = select(names)
    env = env or DoctorEnv()
    t0 = time.monotonic()
    limit = min(timeout, check_timeout)
    pending: list[tuple[Check, concurrent.futures.Future[CheckResult]]] = []
    for chk in selected:
        fut: concurrent.futures.Future[CheckResult] = concurrent.futures.Future()
        threading.Thread(target=_run_one, args=(chk, env, fut), name=f"doctor-{chk.name}",
                         daemon=True).start()
        pending.append((chk, fut))
    results = []
    for chk, fut in pending:
        try:
            results.append(fut.result(timeout=max(0.0, t0 + limit - time.monotonic())))
        except concurrent.futures.TimeoutError:
            results.append(CheckResult(
                chk.name, "fail",
                f"did not finish within {limit:g} s (something it waits on hangs: the daemon, "
                "a port or a docker CLI plugin)",
                f"Run it alone with more time: `llmctl doctor --check {chk.name} "
                f"--timeout {max(30, int(limit * 3))}`.",
                seconds=time.monotonic() - t0,
            ))
    context = endpoint = None
    if "target" in env._memo and env._memo["target"][0]:
        context, endpoint = env._memo["target"][1].context, env._memo["target"][1].host
    elif "engine" in env._memo and env._memo["engine"][0]:
        target = env._memo["engine"][1].target
        context, endpoint = target.context, target.host
    return Report(results, time.monotonic() - t0, context, endpoint)


# --- small helpers --------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()


def _gb(n: float) -> str:
    return f"{n / 1024**3:.1f} GB"


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")


def _url(host: str, port: int, scheme: str = "http") -> str:
    host = host.strip("[]")
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _loopback(host: str) -> bool:
    from llmctl.backends.http import is_loopback_host

    return is_loopback_host(host)


def _running_ollamas(env: DoctorEnv) -> list[ManagedServer]:
    try:
        servers = env.servers()
    except (SkipCheck, LlmctlError):
        return []
    return [s for s in servers if s.api == "ollama" and s.state == "running" and s.host_port]


# --- 1. docker CLI and daemon ---------------------------------------------------------------


@check("docker-cli", "the docker CLI is on PATH, and its version")
def check_docker_cli(env: DoctorEnv) -> CheckResult:
    path = env.docker_cli()
    if not path:
        return warn(
            "the docker CLI is not on PATH (llmctl reaches the daemon without it, but "
            "`docker model` and `docker desktop` need it)",
            "Install the docker CLI: Docker Desktop, or the docker-ce-cli (Docker's "
            "repository) / docker.io (Debian, Ubuntu) package.",
        )
    result = env.run_cli([path, "--version"])
    if result.returncode != 0:
        return warn(f"`{path} --version` failed (exit {result.returncode}): "
                    f"{_first_line(result.stderr or result.stdout)}",
                    "Reinstall the docker CLI.", path=path)
    text = _first_line(result.stdout)
    m = re.search(r"version\s+([0-9][^\s,]*)", text)
    return ok(f"{path}: {text}", path=path, version=m.group(1) if m else None)


@check("daemon", "the Docker daemon answers through the resolved context; API version")
def check_daemon(env: DoctorEnv) -> CheckResult:
    try:
        target = env.target()
    except LlmctlError as exc:
        return fail(exc.message, exc.hint)
    where = f"context {target.context} ({target.source}), endpoint {target.host}"
    data = {"context": target.context, "source": target.source, "endpoint": target.host}
    try:
        env.engine()
        facts = env.facts()
    except LlmctlError as exc:
        return _daemon_failure(target, exc, where, data, env.daemon_timeout)
    data.update(server_version=facts.version, api_version=facts.api_version)
    found = f"{where}; {facts.kind} {facts.version}, API {facts.api_version}"
    if facts.api_version and _version_tuple(facts.api_version) < MIN_API_VERSION:
        return warn(found + f" (older than API {'.'.join(map(str, MIN_API_VERSION))}, "
                    "Docker 20.10)", "Upgrade the Docker engine to 20.10 or newer.", **data)
    return ok(found, **data)


def _daemon_failure(target: DaemonTarget, exc: LlmctlError, where: str,
                    data: dict[str, Any], timeout: float) -> CheckResult:
    """The engine layer's classified error, made plainer for a TCP address that refuses."""
    chain = f"{exc.message} {exc.__cause__ or ''} {getattr(exc.__cause__, '__context__', '')}"
    scheme = urlsplit(target.host).scheme
    via = {"DOCKER_HOST": "DOCKER_HOST", "--host": "--host"}.get(target.source,
                                                                 f"context {target.context}")
    if scheme in ("tcp", "http", "https") and re.search(
            r"refused|errno 111|errno 61|NewConnectionError", chain, re.IGNORECASE):
        return fail(
            f"nothing listens at {target.host} (connection refused; from {via}): the Docker "
            "daemon is not reachable",
            "Start the daemon there, or point at a running one: fix or `unset DOCKER_HOST`, "
            "or choose a context (`docker context ls`, `docker context use NAME`).", **data)
    if re.search(r"did not answer within", exc.message):
        return fail(f"the Docker daemon at {target.host} (from {via}) did not answer within "
                    f"{timeout:g} s",
                    "Check that the daemon there is healthy (`docker info` hangs too?) and the "
                    "address is right (`docker context ls`, DOCKER_HOST).", **data)
    detail = exc.message if target.host in exc.message else f"{exc.message} [{where}]"
    return fail(detail, exc.hint, **data)


# --- 2. engine kind ------------------------------------------------------------------------


@check("engine", "engine kind: Docker Desktop (4.40+ for Model Runner), Engine, Podman, ...")
def check_engine(env: DoctorEnv) -> CheckResult:
    env.require_engine()
    facts = env.facts()
    target = env.target()
    kind = env.kind()
    data: dict[str, Any] = {"kind": kind, "version": facts.version, "rootless": facts.rootless,
                            "remote": not target.is_local}
    notes: list[str] = []
    if facts.rootless:
        notes.append("rootless")
    if not target.is_local:
        notes.append(f"remote: published ports are on {target.address_host}, not this machine")
    found = kind + (f" {facts.desktop_version}" if facts.desktop_version else
                    f" {facts.version}" if facts.version else "")
    if kind == "Docker Desktop for Linux":
        notes.append("Model Runner treats it as Docker Engine")
    if kind == "Podman":
        notes.append("Docker API compatibility; Docker Model Runner is not available")
    if kind in ("Colima", "OrbStack", "Rancher Desktop"):
        notes.append("containers run in a Linux VM")
    detail = found + (f" ({'; '.join(notes)})" if notes else "")
    if facts.kind == "Docker Desktop":
        version = _version_tuple(facts.desktop_version or "")
        data["desktop_version"] = facts.desktop_version
        if not version:
            return warn(detail + "; its version is unknown (Platform.Name does not say)",
                        "Check `docker version` (Server: Docker Desktop X.Y.Z); Model Runner "
                        "needs 4.40 or newer.", **data)
        if version < DESKTOP_MODEL_RUNNER_MIN:
            return warn(
                detail + "; Docker Model Runner needs Docker Desktop 4.40 or newer",
                f"Update Docker Desktop to 4.40 or newer (you have {facts.desktop_version}): "
                "Docker menu > Check for updates.", **data)
    return ok(detail, **data)


# --- 3. platform and GPU -----------------------------------------------------------------


@check("platform", "host platform and GPU: Apple Silicon, NVIDIA runtime or CDI devices")
def check_platform(env: DoctorEnv) -> CheckResult:
    host = {"darwin": "macOS", "linux": "Linux", "win32": "Windows"}.get(env.host_os,
                                                                         env.host_os)
    found = f"{host} {env.host_arch}"
    if env.host_os == "darwin":
        if env.host_arch in ("arm64", "aarch64"):
            return ok(found + ": Apple Silicon; containers get no GPU (no Metal inside "
                      "containers): Docker Model Runner runs models on the host with Metal "
                      "(`llmctl up model-runner`)", gpu="metal-host-only")
        return ok(found + ": Intel Mac; containers run models on the CPU", gpu="none")
    engine = env.engine_or_none()
    if engine is None:
        return skip(found + f"; GPU support {NO_ENGINE}")
    facts = env.facts()
    info, _ = env.docs()
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    cdi = [str(d.get("ID") if isinstance(d, dict) else d)
           for d in info.get("DiscoveredDevices") or []]
    data = {"runtimes": runtimes, "cdi_devices": cdi, "gpu_runtime": facts.gpu_runtime}
    if env.host_os == "win32" and facts.kind == "Docker Desktop":
        return ok(found + ": Docker Desktop passes NVIDIA GPUs to containers through WSL2 "
                  "(the runtime list does not show it); `--gpus all` works with the NVIDIA "
                  "Windows driver installed", **data)
    where = "" if env.is_local else f" on the remote host {env.address_host}"
    if facts.gpu_runtime:
        how = ("NVIDIA runtime" if "nvidia" in runtimes else "NVIDIA CDI devices")
        listed = f" (runtimes: {', '.join(runtimes)})" if "nvidia" in runtimes else \
            f" ({', '.join(cdi)})"
        return ok(f"{found}: {how} available{where}{listed}", **data)
    if env.is_local and facts.kind not in VM_KINDS and env.nvidia_on_host():
        return warn(
            f"{found}: an NVIDIA GPU is present but Docker has no NVIDIA runtime or CDI "
            f"device (runtimes: {', '.join(runtimes) or 'none'}): containers run on the CPU",
            "Install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure "
            "--runtime=docker && sudo systemctl restart docker`.", **data)
    return ok(f"{found}: no GPU runtime{where} (runtimes: {', '.join(runtimes) or 'none'}); "
              "containers run on the CPU", **data)


@check("ollama-gpu", "managed Ollama servers run their models on the GPU (/api/ps)")
def check_ollama_gpu(env: DoctorEnv) -> CheckResult:
    env.require_engine()
    servers = [s for s in _running_ollamas(env) if s.endpoint]
    if not servers:
        return skip("no running llmctl-managed Ollama")
    facts = env.facts()
    gpu_expected = facts.gpu_runtime or (env.host_os == "win32" and
                                         facts.kind == "Docker Desktop")
    findings: list[Finding] = []
    loaded: dict[str, list[dict[str, Any]]] = {}
    for s in servers:
        assert s.endpoint is not None
        models = _ollama_ps(s.endpoint, env.http_timeout)
        if models is None:
            findings.append(Finding("skip", f"{s.instance}: /api/ps did not answer"))
            continue
        loaded[s.instance] = models
        if not models:
            findings.append(Finding("skip", f"{s.instance}: no model loaded right now (ask it "
                                            "something, e.g. `llmctl chat`, then run doctor "
                                            "again)"))
            continue
        for m in models:
            findings.append(_gpu_finding(env, s, m, gpu_expected))
    if all(f.status == "skip" for f in findings):
        return CheckResult("", "skip", "; ".join(f.text for f in findings), None,
                           {"loaded": loaded})
    return combine([f for f in findings if f.status != "skip"] or findings, loaded=loaded)


def _ollama_ps(endpoint: str, timeout: float) -> list[dict[str, Any]] | None:
    import httpx

    from llmctl.backends.http import make_client

    try:
        with make_client(endpoint, timeout=timeout, connect_timeout=timeout) as client:
            r = client.get("/api/ps")
        doc = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    return [m for m in doc.get("models") or [] if isinstance(m, dict)]


def _gpu_finding(env: DoctorEnv, s: ManagedServer, m: dict[str, Any],
                 gpu_expected: bool) -> Finding:
    name = str(m.get("name") or m.get("model") or "?")
    size = int(m.get("size") or 0)
    vram = int(m.get("size_vram") or 0)
    share = vram / size if size else 0.0
    label = f"{s.instance}: {name}"
    if size and vram >= size:
        return Finding("ok", f"{label} 100% on the GPU")
    if vram > 0:
        return Finding("warn", f"{label} only {share:.0%} in GPU memory, the rest on the CPU "
                               "(slow)",
                       "Use a smaller model or quantization (or a GPU with more memory).")
    if env.host_os == "darwin":
        return Finding("ok", f"{label} on the CPU (containers on a Mac get no GPU; for Metal "
                             "use `llmctl up model-runner` or a host Ollama)")
    if gpu_expected:
        return Finding("warn", f"{label} runs on the CPU although this engine has a GPU "
                               "runtime",
                       f"Recreate it with the GPU: `llmctl up {s.profile} --name {s.instance} "
                       "--gpus all --recreate`.")
    return Finding("ok", f"{label} on the CPU (no GPU runtime)")


# --- 4. Model Runner ------------------------------------------------------------------------


@check("model-runner", "Docker Model Runner: CLI plugins, runner status, TCP port answering")
def check_model_runner(env: DoctorEnv) -> CheckResult:
    engine = env.engine_or_none()
    if engine is not None and not env.environ.get("MODEL_RUNNER_HOST"):
        try:
            from llmctl.targets.model_runner.runner import ModelRunner
        except ImportError:
            pass
        else:
            return _model_runner_from_core(env, engine, ModelRunner)
    return _model_runner_here(env, engine)


def _model_runner_from_core(env: DoctorEnv, engine: Any, model_runner: Any) -> CheckResult:
    """Through llmctl.model_runner: where the runner lives (Desktop on macOS/Windows/WSL2,
    a container elsewhere, Desktop for Linux included), its container and its answer."""
    from llmctl.engine.docker_cli import DockerCli

    facts = env.facts()
    if facts.kind == "Podman":
        return skip("Docker Model Runner needs Docker Desktop or Docker Engine, not Podman")
    desktop_mode = facts.kind == "Docker Desktop" and env.host_os in ("darwin", "win32")
    if desktop_mode and _version_tuple(facts.desktop_version or "") < DESKTOP_MODEL_RUNNER_MIN:
        return skip(f"Docker Desktop {facts.desktop_version or '(unknown version)'} has no "
                    "Model Runner (4.40 or newer needed, see `engine`)")
    path = env.docker_cli()
    cli = DockerCli(engine.target, docker=path or "docker", desktop=desktop_mode,
                    runner=env.cli_runner)
    runner = model_runner(engine, cli, os_name=env.host_os)
    st = runner.status(timeout=env.http_timeout)
    data: dict[str, Any] = {
        "kind": st.kind, "running": st.running, "installed": st.installed,
        "endpoint": st.endpoint, "endpoint_container": st.endpoint_container,
        "container": st.container, "backends": st.backends, "models": st.models,
        "notes": st.notes}
    notes = "".join(f"; {n}" for n in st.notes)
    where = f"{st.kind}" + (f" (container {st.container})" if st.container else "")
    if st.running and not st.problem:
        backends = ", ".join(f"{k}: {v}" for k, v in st.backends.items())
        models = "models unknown" if st.models is None else \
            f"{st.models} model{'' if st.models == 1 else 's'}"
        return ok(f"{where}: answering at {st.endpoint} ({models}"
                  f"{'; ' + backends if backends else ''}){notes}", **data)
    if st.running:
        return warn(f"{where}: {st.problem}{notes}", st.fix, **data)
    if not st.installed:
        if desktop_mode:  # Desktop new enough but `docker model` missing or not reporting
            return warn(f"{where}: {st.problem}{notes}", st.fix, **data)
        url = _url("127.0.0.1", env.runner_port)
        answer = env.answer(url) if env.is_local else Answer("none", "")
        if answer.kind in ("http", "silent", "ollama"):
            return warn(f"port {env.runner_port} answers, but not as a Model Runner: "
                        f"{answer.detail}",
                        f"Free the port, or use another one: `llmctl up model-runner --tcp "
                        f"{env.runner_port + 1}`.", **data)
        return skip(f"not set up (optional): {st.problem}{notes}",
                    f"To use it: `llmctl up model-runner --tcp {env.runner_port}`.", **data)
    if desktop_mode and not (st.problem or "").startswith("host-side"):
        return skip(f"{where}: {st.problem}{notes}", st.fix, **data)
    return warn(f"{where}: {st.problem}{notes}", st.fix, **data)


def _model_runner_here(env: DoctorEnv, engine: Any) -> CheckResult:
    """Without llmctl.model_runner (or with MODEL_RUNNER_HOST): the TCP answer and
    `docker model status`."""
    facts = env.facts() if engine is not None else None
    desktop = facts is not None and facts.kind == "Docker Desktop"
    if facts is not None and facts.kind == "Podman":
        return skip("Docker Model Runner needs Docker Desktop or Docker Engine, not Podman")
    if desktop and facts is not None and \
            _version_tuple(facts.desktop_version or "") < DESKTOP_MODEL_RUNNER_MIN:
        return skip(f"Docker Desktop {facts.desktop_version or '(unknown version)'} has no "
                    "Model Runner (4.40 or newer needed, see `engine`)")
    url = (env.environ.get("MODEL_RUNNER_HOST") or
           _url(env.address_host, env.runner_port)).rstrip("/")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:  # both bounded by their own timeouts
        probe_job = pool.submit(_runner_probe, url, env.http_timeout)
        if engine is None:  # the plugin asks the same daemon: nothing to learn from it
            status, plugin_note = None, "`docker model` not asked (the daemon is not reachable)"
        else:
            status, plugin_note = _runner_cli_status(env, engine, desktop)
        probe = probe_job.result()
    data: dict[str, Any] = {"url": url, "probe": probe, "cli": plugin_note}
    if status is not None:
        data["cli_status"] = {"running": status.running, "kind": status.kind,
                              "backends": status.backends}
    enable = f"`docker desktop enable model-runner --tcp {env.runner_port}`"
    if probe["running"] and probe["reason"] == "ok":
        backends = ", ".join(f"{k}: {v}" for k, v in (probe.get("backends") or {}).items())
        return ok(f"answering at {url} ({probe['detail']}"
                  f"{'; ' + backends if backends else ''}); {plugin_note}", **data)
    if probe["running"]:
        return warn(f"the runner at {url} answers but is unhealthy: {probe['detail']}",
                    "See `docker model status` and `docker model logs`; "
                    "`docker model restart-runner` on Docker Engine.", **data)
    if probe["reason"] not in ("refused", "timeout", "unreachable"):
        other = env.runner_port + 1
        move = (f"`docker desktop enable model-runner --tcp {other}`" if desktop
                else f"`llmctl up model-runner --tcp {other}`")
        return warn(f"port {urlsplit(url).port} answers, but not as a Model Runner: "
                    f"{probe['detail']}", f"Free the port, or use another one: {move}.", **data)
    if status is not None and status.running:
        if desktop:
            return warn(f"Model Runner is on in Docker Desktop but nothing answers at {url}: "
                        "host-side TCP is off", f"Turn it on: {enable}.", **data)
        return warn(f"`docker model status` says the runner runs, but nothing answers at "
                    f"{url}: {probe['detail']}",
                    "Check its port with `docker model status --json` (endpointHost) or "
                    "reinstall it: `docker model reinstall-runner --port "
                    f"{env.runner_port}`.", **data)
    if desktop:
        if status is None and "not installed" in plugin_note:
            return warn(f"Docker Desktop {facts.desktop_version if facts else ''} should ship "
                        f"`docker model` but it is missing; {plugin_note}",
                        "Update Docker Desktop, then turn Model Runner on in Settings > AI > "
                        "Enable Docker Model Runner.", **data)
        return skip(f"Model Runner is off in Docker Desktop (nothing at {url}); {plugin_note}",
                    f"To use it: {enable} (or Settings > AI > Enable Docker Model Runner, "
                    "with host-side TCP support).", **data)
    return skip(f"not set up (optional; nothing at {url}); {plugin_note}",
                f"To use it: `llmctl up model-runner --tcp {env.runner_port}`.", **data)


def _runner_probe(url: str, timeout: float) -> dict[str, Any]:
    try:
        from llmctl.backends import runner_status
    except ImportError:
        answer = identify(url, timeout)
        running = answer.kind == "model-runner"
        reason = "ok" if running else {"none": "refused", "silent": "timeout"}.get(
            answer.kind, "not-runner")
        return {"running": running, "reason": reason, "detail": answer.detail}
    p = runner_status.probe(url, timeout=timeout)
    return {"running": p.running, "reason": p.reason, "detail": p.detail,
            "version": p.version, "backends": p.backends,
            "models": len(p.models) if p.models is not None else None}


def _runner_cli_status(env: DoctorEnv, engine: Any, desktop: bool) -> tuple[Any, str]:
    """`docker model status --json` through the CLI: (status or None, what was found)."""
    path = env.docker_cli()
    if not path:
        return None, "the docker CLI is not on PATH"
    try:
        from llmctl.engine.docker_cli import DockerCli, PluginMissing
    except ImportError as exc:
        return None, f"`docker model` not checked ({exc})"
    cli = DockerCli(engine.target if engine is not None else None, docker=path,
                    desktop=desktop, runner=env.cli_runner)
    try:
        status = cli.model_status(timeout=env.cli_timeout)
    except PluginMissing:
        return None, "the `docker model` plugin is not installed"
    except LlmctlError as exc:
        return None, f"`docker model status` failed: {exc.message}"
    note = "`docker model status`: " + ("running" if status.running else "not running")
    if status.kind:
        note += f" ({status.kind})"
    return status, note


# --- 5. ports and the ollama CLI mix-up -----------------------------------------------------


@dataclass(frozen=True)
class PortOwner:
    port: int
    kind: str  # free | llmctl | model-runner | container | host-ollama | process | unknown
    holder: str
    answer: str
    container: str | None = None
    instance: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def port_owner(env: DoctorEnv, port: int) -> PortOwner:
    """Who listens on ``port`` on this machine: a container (by the engine's published
    ports), Model Runner, a host Ollama, another process, or nobody."""
    container = None
    if env.is_local:
        try:
            container = next((c for c, p in env.published() if p.host_port == port), None)
        except (SkipCheck, LlmctlError):
            container = None
    answer = env.answer(_url("127.0.0.1", port))
    if container is not None:
        if container.labels.get("io.llmctl.managed") == "true":
            inst = container.labels.get("io.llmctl.instance", container.name)
            return PortOwner(port, "llmctl", f"llmctl instance {inst} (container "
                                             f"{container.name})", answer.detail,
                             container.name, inst)
        if container.labels.get(LABEL_RUNNER_ROLE) or answer.kind == "model-runner":
            return PortOwner(port, "model-runner", f"Docker Model Runner (container "
                                                   f"{container.name})", answer.detail,
                             container.name)
        return PortOwner(port, "container", f"container {container.name} ({container.image})",
                         answer.detail, container.name)
    if not answer.listening:
        return PortOwner(port, "free", "free", answer.detail)
    proc = env.holder_process(port) if env.host_os.startswith("linux") else None
    by = f" ({proc})" if proc else ""
    if answer.kind == "ollama":
        return PortOwner(port, "host-ollama", f"an Ollama server on the host{by}", answer.detail)
    if answer.kind == "model-runner":
        return PortOwner(port, "model-runner", f"Docker Model Runner{by or ' (Docker Desktop)'}",
                         answer.detail)
    if proc:
        return PortOwner(port, "process", f"host process {proc}", answer.detail)
    return PortOwner(port, "unknown", "another program", answer.detail)


@check("ports", "who listens on 11434, 11435, 12434 and every managed port; the ollama CLI "
                "mix-up")
def check_ports(env: DoctorEnv) -> CheckResult:
    try:
        servers = env.servers()
    except (SkipCheck, LlmctlError):
        servers = []
    local_servers = [s for s in servers if s.host_port] if env.is_local else []
    ports = sorted({env.ollama_port, env.alt_ollama_port, env.runner_port,
                    *(s.host_port for s in local_servers if s.host_port)})
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(ports))) as pool:
        owners = dict(zip(ports, pool.map(lambda p: port_owner(env, p), ports), strict=True))
    findings = [Finding("ok", f"{p}: {o.holder}" + (
        f" [{o.answer}]" if o.kind in ("process", "unknown", "container") and o.answer else ""))
        for p, o in owners.items()]
    for s in local_servers:
        owner = owners[s.host_port or 0]
        if s.state != "running" and owner.kind != "free" and owner.container != s.container:
            from llmctl.ports import next_free

            free = next_free((s.host_port or 0) + 1, "127.0.0.1", ports)
            findings.append(Finding(
                "warn", f"port {s.host_port} of the stopped instance {s.instance} is taken by "
                        f"{owner.holder}: `llmctl up` cannot start it",
                f"Stop that program, or move the instance: `llmctl up {s.profile} --name "
                f"{s.instance} --port {free or 'PORT'} --recreate`."))
    findings.extend(_ollama_cli_mixup(env, owners))
    if not env.is_local:
        findings.append(Finding("ok", f"the daemon is remote: its published ports are on "
                                      f"{env.address_host}, not checked here"))
    return combine(findings, ports=[o.to_dict() for o in owners.values()])


def _ollama_cli_mixup(env: DoctorEnv, owners: dict[int, PortOwner]) -> list[Finding]:
    """The host `ollama` CLI talks to OLLAMA_HOST (unset: 127.0.0.1:11434); is that the
    server the user thinks (llmctl's container) or another one?"""
    managed = [s for s in _running_ollamas(env) if env.is_local]
    if not managed:
        return []
    raw = env.environ.get("OLLAMA_HOST")
    target = parse_ollama_host(raw, env.ollama_port)
    if not _loopback(target.connect_host) and target.connect_host not in UNSPECIFIED:
        return []
    ports = {s.host_port for s in managed}
    said = f"OLLAMA_HOST={raw}" if raw else "OLLAMA_HOST unset"
    who = ", ".join(f"{s.instance} on port {s.host_port}" for s in managed)
    use = managed[0]
    if target.port in ports:
        return [Finding("ok", f"the host `ollama` CLI ({said} → {target.client_url}) talks to "
                              f"llmctl's {use.instance}")]
    answer = owners.get(target.port)
    kind = answer.kind if answer else env.answer(target.client_url).kind
    fix = (f"Point the CLI at the container: `export OLLAMA_HOST=127.0.0.1:{use.host_port}` "
           f"(or `docker exec -it {use.container} ollama list`).")
    if kind in ("host-ollama", "ollama"):
        return [Finding("warn", f"mix-up: the host `ollama` CLI ({said} → "
                                f"{target.client_url}) talks to an Ollama server on the host, "
                                f"not to llmctl's {who}: `ollama list`/`ollama pull` there "
                                "neither see nor fill the container's models", fix)]
    if env.which("ollama"):
        return [Finding("warn", f"the host `ollama` CLI ({said} → {target.client_url}) reaches "
                                f"no Ollama server; llmctl's runs at {who}", fix)]
    return []


# --- 6. OLLAMA_HOST ---------------------------------------------------------------------------


@check("ollama-host", "OLLAMA_HOST as a client reads it (http://host = port 80; 0.0.0.0 binds)")
def check_ollama_host(env: DoctorEnv) -> CheckResult:
    raw = env.environ.get("OLLAMA_HOST")
    parsed = parse_ollama_host(raw, env.ollama_port)
    data = parsed.to_dict()
    managed = _running_ollamas(env)
    good_port = (managed[0].host_port if managed else None) or env.ollama_port
    if not parsed.raw:
        answer = env.answer(parsed.client_url)
        return ok(f"unset: the ollama CLI and client libraries use {parsed.client_url} "
                  f"({_answer_text(answer)})", **data)
    findings: list[Finding] = []
    if parsed.host in UNSPECIFIED:
        fixed = _url("127.0.0.1", parsed.port).removeprefix("http://")
        findings.append(Finding(
            "warn", f"OLLAMA_HOST={raw} is a bind address (where a server listens), not an "
                    "address to connect to: the ollama CLI swaps it for 127.0.0.1, other "
                    "clients (Python and JS libraries, MCP clients) fail",
            f"For clients: `export OLLAMA_HOST={fixed}`; keep 0.0.0.0 only in the server's "
            "own environment, and only to expose it on purpose."))
    if parsed.scheme_given and not parsed.port_given:
        host = "127.0.0.1" if parsed.host in ("localhost", *UNSPECIFIED) else parsed.host
        fixed = _url(host, good_port, parsed.scheme)
        findings.append(Finding(
            "warn", f"OLLAMA_HOST={raw} means {parsed.url}: with a scheme and no port the port "
                    f"is {parsed.default_port}, not {env.ollama_port}",
            f"Give the port: `export OLLAMA_HOST={fixed}`."))
    if parsed.port_note:
        fixed = _url(parsed.connect_host, good_port).removeprefix("http://")
        findings.append(Finding("warn", f"OLLAMA_HOST={raw}: {parsed.port_note}",
                                f"`export OLLAMA_HOST={fixed}`."))
    answer = env.answer(parsed.client_url)
    if answer.kind != "ollama":
        fix = (f"Point it at llmctl's Ollama: `export OLLAMA_HOST=127.0.0.1:{good_port}`"
               if managed else
               "Start a server (`llmctl up ollama`), or `unset OLLAMA_HOST` for the default")
        findings.append(Finding("warn", f"no Ollama at {parsed.client_url} "
                                        f"({_answer_text(answer)})", fix + "."))
    if not findings:
        return ok(f"OLLAMA_HOST={raw} → {parsed.client_url} (Ollama answers)", **data)
    return combine(findings, **data)


def _answer_text(answer: Answer) -> str:
    return {"ollama": "Ollama answers", "model-runner": "Docker Model Runner answers",
            "none": "nothing answers"}.get(answer.kind, answer.detail)


# --- 7. managed containers ------------------------------------------------------------------


@check("containers", "llmctl-managed containers are running and answer; volumes and images "
                     "present")
def check_containers(env: DoctorEnv) -> CheckResult:
    engine = env.require_engine()
    from llmctl import lifecycle

    entries = retry_removed(lambda: lifecycle.status(engine,
                                                     health_timeout=env.http_timeout + 0.5))
    if not entries:
        return ok("no llmctl-managed containers (start one with `llmctl up ollama`)",
                  servers=[])
    findings: list[Finding] = []
    rows = []
    for e in entries:
        s = e.server
        label = f"{s.instance} ({s.profile}, container {s.container})"
        rows.append({"instance": s.instance, "container": s.container, "state": s.state,
                     "health": e.health, "detail": e.detail, "endpoint": s.base_url})
        if s.state in ("restarting", "dead"):
            findings.append(Finding("fail", f"{label} is {s.state}: it keeps crashing",
                                    f"See why: `docker logs --tail 50 {s.container}`; then "
                                    f"`llmctl up {s.profile} --name {s.instance} --recreate`."))
        elif e.health == "stopped":
            info = engine.get(s.container) if hasattr(engine, "get") else None
            code = f", exit code {info.exit_code}" if info and info.exit_code is not None \
                else ""
            findings.append(Finding("warn", f"{label} is {s.state}{code}",
                                    f"Start it: `llmctl up {s.profile} --name {s.instance}`."))
        elif e.health == "ok":
            findings.append(Finding("ok", f"{label} answers at {s.base_url}"))
        elif e.health == "down":
            findings.append(Finding("fail", f"{label} runs but does not answer at "
                                            f"{s.endpoint or '(no published port)'}: {e.detail}",
                                    f"See why: `docker logs --tail 50 {s.container}`; then "
                                    f"`llmctl up {s.profile} --name {s.instance} --recreate`."))
        else:
            findings.append(Finding("ok", f"{label}: {e.health} ({e.detail})"))
        if s.state == "removing":
            continue
        for vol in s.volumes:
            if engine.volume_labels(vol) is None:
                findings.append(Finding("fail", f"{label}: its volume {vol} is missing",
                                        f"`llmctl up {s.profile} --name {s.instance} "
                                        "--recreate` creates it (models must be pulled again)."))
        if s.image and not engine.image_present(s.image):
            findings.append(Finding("warn", f"{label}: its image {s.image} is no longer present "
                                            "locally (a recreate would pull it)",
                                    f"`docker pull {s.image}`."))
    return combine(findings, servers=rows)


# --- 8. the configured endpoint --------------------------------------------------------------


@check("endpoint", "the configured endpoint: valid file, server answers, model present, tools")
def check_endpoint(env: DoctorEnv) -> CheckResult:
    try:
        from llmctl import endpoint as ep_mod
        from llmctl.probe import probe
    except ImportError as exc:
        raise SkipCheck(f"the endpoint module is not available ({exc})") from None
    path = ep_mod.endpoints_path()
    try:
        _, entries = ep_mod.read_config(path)
    except LlmctlError as exc:
        return fail(exc.message, exc.hint or f"Fix {path}, or write it again: "
                                             "`llmctl endpoint write`.", path=str(path))
    if not entries and not (env.environ.get("LLM_ENDPOINT") and env.environ.get("LLM_MODEL")):
        return skip(f"no endpoint configured ({path} does not exist or has none)",
                    "Write one once a server runs: `llmctl endpoint write`.", path=str(path))
    try:
        ep = ep_mod.load_endpoint(path=path)
    except LlmctlError as exc:
        return warn(exc.message, exc.hint, path=str(path))
    data: dict[str, Any] = {"path": str(path), "name": ep.name, "url": ep.endpoint,
                            "model": ep.model}
    where = f"endpoint {ep.name} ({ep.endpoint}, model {ep.model})"
    result = probe([ep.endpoint], timeout=max(1.0, env.http_timeout * 2),
                   api_key=ep.bearer_token, include_configured=False).results[0]
    data.update(server=result.server, status=result.status)
    if not result.reachable:
        return fail(f"{where}: nothing answers ({result.reason or result.status})",
                    "Start the server (`llmctl status` shows what runs), or point the endpoint "
                    "at one that runs: `llmctl endpoint write --endpoint URL --model "
                    f"{ep.model}`.", **data)
    if not result.is_llm:
        return fail(f"{where}: answers, but not as an LLM API ({result.reason or '?'})",
                    "Check the URL with `llmctl probe " + ep.endpoint + "`, then "
                    "`llmctl endpoint write --endpoint URL`.", **data)
    server = result.server or ""
    from llmctl.names import model_matches

    if not any(model_matches(ep.model, m, server) for m in result.models):
        have = ", ".join(result.models[:8]) or "none"
        return fail(f"{where}: the {result.server_name} there does not have the model "
                    f"(it has: {have})",
                    f"Pull it: `llmctl pull {ep.model}` (or choose one it has: "
                    "`llmctl endpoint write --model NAME`).", **data)
    tools = _tools_support(ep, result, env.http_timeout * 2)
    data["tools"] = tools
    if tools is False:
        return warn(f"{where}: {result.server_name} answers and has the model, but the model "
                    "does not support tools (the MCP client needs tool calling)",
                    "Use a model with tools, e.g. `llmctl pull qwen2.5:0.5b` then "
                    "`llmctl endpoint write --model qwen2.5:0.5b`.", **data)
    said = {True: "supports tools", None: "tool support unknown"}[tools]
    if result.status == "loading":
        return warn(f"{where}: {result.server_name} is still loading", "Wait, then run "
                    "doctor again.", **data)
    return ok(f"{where}: {result.server_name} answers, model present, {said}", **data)


@check("files", "llmctl's own files (config folder, endpoint file and its lock, profiles "
                "folder): yours, readable and writable")
def check_files(env: DoctorEnv) -> CheckResult:
    """After a `sudo llmctl ...` the config folder or the lock can belong to root: every
    later write fails. Says which file, who owns it, and the chown that fixes it."""
    from llmctl import files
    from llmctl.endpoint import endpoints_path
    from llmctl.profiles import config_dir

    folder, path = config_dir(), endpoints_path()
    items = [(folder, False), (folder / "profiles", False), (path.parent, False),
             (path, False), (Path(f"{path}.lock"), True)]
    findings: list[Finding] = []
    seen: set[str] = set()
    for item, lock in items:
        if not (os.path.lexists(item) or item in (folder, path)):
            continue
        problem = files.access_problem(item, lock=lock)
        if problem is not None and problem.message not in seen:
            seen.add(problem.message)
            findings.append(Finding("fail", problem.message, problem.hint))
    data = {"config_dir": str(folder), "endpoints_file": str(path)}
    if findings:
        return combine(findings, **data)
    stale = files.stale_temps(path)
    if stale:
        return ok(f"{folder} and {path} are yours and writable; {len(stale)} temp file(s) left "
                  "by an interrupted write, removed by the next write", **data,
                  stale_temp_files=[str(p) for p in stale])
    return ok(f"{folder} and {path} are yours and writable", **data)


def _tools_support(ep: Any, result: Any, timeout: float) -> bool | None:
    """Ollama says it in /api/show capabilities; for others, what `endpoint write` found."""
    if result.server == "ollama" or (result.server == "docker-model-runner"
                                     and ep.api_type == "ollama"):
        from llmctl.backends import ollama
        from llmctl.backends.http import make_client
        from llmctl.endpoint import connectable

        try:
            with make_client(connectable(result.root), timeout=timeout,
                             headers=ep.auth_headers()) as client:
                return ollama.supports_tools(client, ep.model)
        except Exception:  # advisory: an older server or an odd answer
            return None
    return ep.verified.tools if ep.verified is not None else None


# --- 9. exposure --------------------------------------------------------------------------------


@check("exposure", "no LLM server published on 0.0.0.0 or :: (unauthenticated, firewalls "
                   "bypassed)")
def check_exposure(env: DoctorEnv) -> CheckResult:
    env.require_engine()
    published = env.published()
    exposed: list[dict[str, Any]] = []
    findings: list[Finding] = []
    seen: set[tuple[str, int]] = set()
    for c, p in published:
        if p.host_ip not in UNSPECIFIED or (c.name, p.host_port) in seen:
            continue
        managed = c.labels.get("io.llmctl.managed") == "true"
        if not (managed or LLM_IMAGE_RE.search(c.image) or p.container_port in
                LLM_CONTAINER_PORTS):
            continue
        seen.add((c.name, p.host_port))
        ips = sorted({q.host_ip or "0.0.0.0" for q in c.ports if q.host_port == p.host_port})
        exposed.append({"container": c.name, "image": c.image, "host_ips": ips,
                        "host_port": p.host_port, "container_port": p.container_port,
                        "managed": managed})
        what = (f"{c.name} ({'llmctl' if managed else 'not llmctl'}, {c.image}) publishes "
                f"{'/'.join(_bind(ip) for ip in ips)}:{p.host_port}: an unauthenticated LLM "
                "API reachable from the network, and Docker-published ports bypass host "
                "firewalls (UFW, firewalld)")
        if managed:
            inst = c.labels.get("io.llmctl.instance", c.name)
            profile = c.labels.get("io.llmctl.profile", "PROFILE")
            fix = (f"Publish it on loopback only: `llmctl up {profile} --name {inst} "
                   f"--port {p.host_port} --recreate` (binds 127.0.0.1 by default).")
        else:
            fix = (f"Re-create it on loopback: `docker rm -f {c.name}`, then run it again "
                   f"with `-p 127.0.0.1:{p.host_port}:{p.container_port}`.")
        findings.append(Finding("warn", what, fix))
    if not findings:
        where = "" if env.is_local else f" (ports on {env.address_host})"
        return ok(f"no LLM server published beyond loopback{where}", exposed=[])
    return combine(findings, exposed=exposed)


def _bind(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip or "0.0.0.0"


# --- 10. proxies ------------------------------------------------------------------------------


PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def redact_url(value: str) -> str:
    """Hide credentials in a proxy URL: ``http://user:pw@h:3128`` → ``http://***@h:3128``."""
    parts = urlsplit(value if "://" in value else "http://" + value)
    if parts.username is None and parts.password is None:
        return value
    netloc = "***@" + parts.netloc.rsplit("@", 1)[1]
    redacted = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return redacted if "://" in value else redacted.removeprefix("http://")


def no_proxy_covers(no_proxy: str) -> list[str]:
    """Which of localhost / 127.0.0.1 are NOT covered by a NO_PROXY value."""
    entries = [e.strip().lower() for e in no_proxy.split(",") if e.strip()]
    if "*" in entries:
        return []
    missing = []
    if not any(e in ("localhost", ".localhost") for e in entries):
        missing.append("localhost")
    if not any(e in ("127.0.0.1", "127.0.0.0/8", "127.0.0.1/32") or e.startswith("127.0.0.0/")
               for e in entries):
        missing.append("127.0.0.1")
    return missing


@check("proxy", "HTTP(S)_PROXY set without NO_PROXY covering localhost and 127.0.0.1")
def check_proxy(env: DoctorEnv) -> CheckResult:
    proxies = {k: redact_url(v) for k in PROXY_VARS if (v := env.environ.get(k, "").strip())}
    if not proxies:
        return ok("no HTTP(S)_PROXY set", proxies={})
    no_proxy = env.environ.get("NO_PROXY") or env.environ.get("no_proxy") or ""
    missing = no_proxy_covers(no_proxy)
    shown = ", ".join(f"{k}={v}" for k, v in proxies.items())
    if not missing:
        return ok(f"{shown}; NO_PROXY={no_proxy} covers loopback", proxies=proxies,
                  no_proxy=no_proxy)
    wanted = [e.strip() for e in no_proxy.split(",") if e.strip()]
    for item in ("localhost", "127.0.0.1", "::1"):
        if item not in wanted:
            wanted.append(item)
    value = ",".join(wanted)
    return warn(
        f"{shown} and NO_PROXY {'is unset' if not no_proxy else '=' + no_proxy} does not "
        f"cover {' and '.join(missing)}: curl, the ollama CLI and Python clients send "
        "requests for local servers to the proxy (llmctl itself never proxies loopback)",
        f"`export NO_PROXY={value} no_proxy={value}`.",
        proxies=proxies, no_proxy=no_proxy, missing=missing)


# --- 11. disk -----------------------------------------------------------------------------------


@check("disk", "free space where Docker keeps images and volumes (warn under 10 GB)")
def check_disk(env: DoctorEnv) -> CheckResult:
    env.require_engine()
    info, _ = env.docs()
    facts = env.facts()
    root = str(info.get("DockerRootDir") or "/var/lib/docker")
    data: dict[str, Any] = {"docker_root_dir": root}
    if not env.is_local:
        return skip(f"Docker keeps its data at {root} on the remote host {env.address_host}; "
                    "its free space cannot be read from here",
                    "On that host: `df -h " + root + "`; `docker system df` shows what Docker "
                    "uses.", **data)
    if facts.kind in VM_KINDS or not env.host_os.startswith("linux"):
        tip = {"Docker Desktop": "Docker Desktop: Settings > Resources > Advanced > Disk usage "
                                 "limit",
               "Colima": "Colima: `colima start --disk SIZE`"}.get(facts.kind, "the VM settings")
        return skip(f"Docker keeps its data at {root} inside the {env.kind()} VM; its free "
                    "space cannot be read from here",
                    f"`docker system df` shows what Docker uses; to grow the disk: {tip}.",
                    **data)
    path = Path(root)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        usage = env.disk_usage(str(path))
    except OSError as exc:
        return skip(f"cannot read free space at {root}: {exc.strerror or exc}", **data)
    data.update(free_bytes=int(usage.free), total_bytes=int(usage.total), path=str(path))
    found = f"{_gb(usage.free)} free of {_gb(usage.total)} at {root}"
    if usage.free < DISK_WARN_BYTES:
        return warn(found + " (under 10 GB: image and model pulls may fail)",
                    "See what uses it: `docker system df`; free unused images and build cache: "
                    "`docker image prune -a` and `docker builder prune`.", **data)
    return ok(found, **data)
