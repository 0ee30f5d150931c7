"""Everything doctor reads from the outside world, in one memoised, thread-safe object.

:class:`DoctorEnv` holds the daemon (one connection, one ``docker info``/``docker version``
shared by every check), the docker CLI, the environment, the host and HTTP answers; tests
hand in an in-memory engine, a fake CLI runner and an environment instead. docker and
httpx are imported inside the methods that use them (through the engine layer and
``llmctl.backends.http``).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmctl import urls
from llmctl.backends.identify import Answer, identify
from llmctl.doctor.result import SkipCheck
from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.engine.connect import DaemonTarget
    from llmctl.engine.docker_engine import DockerEngine as Engine
    from llmctl.engine.model import ContainerInfo, EngineFacts, PublishedPort
    from llmctl.managed import ManagedServer

OLLAMA_PORT = urls.OLLAMA_PORT
ALT_OLLAMA_PORT = urls.OLLAMA_ALT_PORT
RUNNER_PORT = urls.MODEL_RUNNER_PORT
HTTP_TIMEOUT = 1.0
CLI_TIMEOUT = 4.0
DAEMON_TIMEOUT = 2.0  # first contact; a daemon that never answers costs this much
NO_ENGINE = "needs the Docker daemon, which is not reachable (see the `daemon` check)"

CliRunner = Callable[[Sequence[str], dict[str, str], float], Any]


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

    def resolved_target(self) -> DaemonTarget | None:
        """The daemon target if a check got as far as resolving it (or connecting); never
        resolves it here: the report names the daemon the checks used."""
        for key in ("target", "engine"):
            good, value = self._memo.get(key, (False, None))
            if good:
                return value if key == "target" else value.target
        return None

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
            from llmctl.engine.documents import facts_from

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

    def ollama_version(self, root: str) -> str | None:
        """What ``GET /api/version`` at an Ollama server root says; None when it does not
        answer with a version string."""
        return self.once(f"ollama-version:{root}",
                         lambda: ollama_version(root, self.http_timeout))


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


def ollama_version(root: str, timeout: float = HTTP_TIMEOUT) -> str | None:
    """``GET /api/version`` at ``root`` (server-apis §1): the version string, or None when
    the server does not answer one (old releases lack the route; not an Ollama; down)."""
    import httpx

    from llmctl.backends import ollama
    from llmctl.backends.http import make_client

    try:
        with make_client(root, timeout=timeout, connect_timeout=timeout) as client:
            return ollama.version(client)
    except (httpx.HTTPError, LlmctlError):
        return None
