"""Docker Model Runner as a :class:`~llmctl.targets.base.Target`: `llmctl up|down
model-runner` and its part of `llmctl status`, on top of
:class:`~llmctl.targets.model_runner.runner.ModelRunner`.

Also the rule for the URL other containers use to reach a runner llmctl did not start
(:func:`use_container_url`): what the runner reports, not the host.docker.internal guess
used for other servers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llmctl.backends.runner_status import OPENAI_PATH, RUNNING_TEXT
from llmctl.errors import EngineUnavailable, LlmctlError
from llmctl.targets.base import Events, UpRequest, Workload
from llmctl.targets.base import quiet as quiet_notes
from llmctl.targets.model_runner.container import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    NAME,
    check_options,
    plan_runner_container,
)
from llmctl.targets.model_runner.results import (
    RunnerDownResult,
    RunnerDryRun,
    RunnerStatus,
    RunnerUpResult,
)

if TYPE_CHECKING:
    from llmctl.engine.model import DaemonTarget, Engine
    from llmctl.progress import ProgressSink
    from llmctl.readiness import WaitStatus
    from llmctl.targets.base import DownRequest
    from llmctl.targets.model_runner.runner import ModelRunner
    from llmctl.verify import WriteResult


class ModelRunnerTarget:
    """Docker Model Runner: Docker Desktop's feature, or the runner container on Engine."""

    name = NAME
    status_key = "model_runner"  # its section of `llmctl status --json`

    def __init__(self, events: Events | None = None) -> None:
        self.events = events or Events()

    def runner(self, engine: Engine, *, quiet: bool = False) -> ModelRunner:
        from llmctl.targets.model_runner.runner import ModelRunner

        return ModelRunner(engine, notify=quiet_notes if quiet else self.events.step)

    @staticmethod
    def port(request: UpRequest) -> int:
        """``--tcp``, else ``--port``, else 12434."""
        given = request.tcp if request.tcp is not None else request.port
        return DEFAULT_PORT if given is None else given

    # --- up --------------------------------------------------------------------------------
    def check(self, request: UpRequest, daemon: DaemonTarget | None = None) -> None:
        check_options(self.port(request), request.gpu)

    def plan(self, engine: Engine | None, request: UpRequest, *,
             unreachable: LlmctlError | None = None) -> RunnerDryRun:
        port = self.port(request)
        try:
            if engine is None:
                raise unreachable or EngineUnavailable("the Docker engine was not reached")
            return self.runner(engine, quiet=True).plan_up(
                port, gpu=request.gpu, recreate=request.yes or request.recreate)
        except EngineUnavailable as exc:
            # Where the runner lives depends on the engine: show the Docker Engine container.
            url = f"http://127.0.0.1:{port}"
            return RunnerDryRun(
                kind="unknown", method="unknown", port=port, container="unknown",
                endpoint=url, base_url=url + OPENAI_PATH,
                spec=plan_runner_container(port, "cuda" if request.gpu == "cuda" else "none"),
                warnings=[f"{exc.message}; planning the Docker Engine runner container "
                          "without the engine (on Docker Desktop, Desktop runs the runner "
                          "itself)"])

    def up(self, engine: Engine, request: UpRequest, *, progress: ProgressSink | None = None,
           on_status: Callable[[WaitStatus], None] | None = None) -> RunnerUpResult:
        return self.runner(engine).up(
            self.port(request), gpu=request.gpu, wait=request.wait,
            timeout=request.timeout or DEFAULT_TIMEOUT, recreate=request.yes or request.recreate)

    # --- down and status -------------------------------------------------------------------
    def check_down(self, request: DownRequest) -> None:
        """Nothing to check: the runner has one instance (``--name`` does not apply)."""

    def down(self, engine: Engine, request: DownRequest) -> RunnerDownResult:
        runner = self.runner(engine)

        def ask(warning: str) -> None:
            self.events.warn(warning)
            self.events.confirm("Turn Docker Model Runner off in Docker Desktop?",
                                "down model-runner (Docker Desktop)")

        if runner.place.mode != "desktop" and request.volumes:
            self.events.confirm("Remove the models volume too? The models stored in it are "
                                "deleted.", "--volumes")
        result = runner.down(volumes=request.volumes, confirm=ask)
        if runner.place.mode != "desktop":  # its `llmctl expose` proxy goes with it
            from llmctl.expose.proxy import remove_proxy

            gone, vol_gone, vol_kept = remove_proxy(engine, NAME, volumes=request.volumes)
            result.removed[:0] = gone
            result.volumes_removed += vol_gone
            result.volumes_kept += vol_kept
        return result

    def status(self, engine: Engine) -> RunnerStatus | None:
        """The runner's status, never raising: None only when the engine's facts are
        unknown."""
        try:
            return self.runner(engine, quiet=True).status()
        except LlmctlError:
            return None

    def down_command(self, instance: str | None) -> str:
        return f"llmctl down {NAME}"

    # --- for export, lock and expose -------------------------------------------------------
    def workload(self, engine: Engine | None, request: UpRequest) -> Workload:
        """On Docker Engine the runner container (``spec``); on Docker Desktop no container:
        Desktop runs the runner (``spec`` None)."""
        from llmctl.profiles import Readiness

        port = self.port(request)
        check_options(port, request.gpu)
        readiness = Readiness("/", 200, RUNNING_TEXT, timeout=DEFAULT_TIMEOUT)
        notes: list[str] = []
        if engine is None:
            spec = plan_runner_container(port, "cuda" if request.gpu == "cuda" else "none")
            notes.append("planned without the engine: the Docker Engine runner container")
        else:
            from llmctl.targets.model_runner.container import resolve_gpu

            runner = self.runner(engine, quiet=True)
            if runner.place.mode == "desktop":
                return Workload(NAME, NAME, "openai", OPENAI_PATH, None, readiness,
                                notes=["Docker Desktop runs the runner itself"], kind=NAME)
            gateway = None if runner.facts.rootless else engine.bridge_gateway()
            spec = plan_runner_container(port, resolve_gpu(request.gpu, runner.facts),
                                         gateway=gateway)
        return Workload(NAME, NAME, "openai", OPENAI_PATH, spec, readiness, notes=notes,
                        kind=NAME)


def container_url(engine: Engine, endpoint: str) -> str | None:
    """The URL other containers reach the Model Runner answering at ``endpoint`` (a URL on
    this machine) on, as that runner reports it: ``model-runner.docker.internal`` on Docker
    Desktop, the bridge gateway on Docker Engine. None when no runner of this engine
    answers on that port."""
    from urllib.parse import urlsplit

    status = ModelRunnerTarget().status(engine)
    if status is None or not status.running or not status.base_url \
            or not status.endpoint_container:
        return None
    if urlsplit(status.base_url).port != urlsplit(endpoint).port:
        return None
    return status.endpoint_container


def use_container_url(result: WriteResult, connect: Callable[[], Engine], *,
                      explicit: str | None) -> None:
    """For an endpoint about to be written (`endpoint write`, `--write-endpoint`): a Docker
    Model Runner llmctl did not start gets the container URL the runner reports
    (:func:`container_url`). Nothing changes when the URL was given (``explicit``), the
    server is one llmctl runs, it is not a Model Runner's OpenAI API, or the engine cannot
    be asked (``connect`` raising LlmctlError)."""
    ep = result.endpoint
    if explicit or result.managed is not None or ep.llm_type != "docker-model-runner" \
            or ep.api_type != "openai":
        return
    try:
        inside = container_url(connect(), ep.endpoint)
    except LlmctlError:
        return
    if inside:
        ep.endpoint_container = inside
