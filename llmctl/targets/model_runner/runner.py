"""Docker Model Runner: bring it up, report it, take it down, on Desktop and on Engine.

Where the runner lives is decided from the engine's facts, like the `docker model` CLI does
(reference/server-apis.md §2.5): Docker Desktop on macOS, Windows or WSL2 runs it inside
Desktop (at least 4.40), switched with `docker desktop enable|disable model-runner`; every
other engine, Docker Desktop for Linux included, runs it as the container
``docker-model-runner``: installed by `docker model install-runner` when that plugin is
there, otherwise by llmctl through the engine layer with the plugin's facts (image
``docker/model-runner:VERSION[-cuda|-rocm]``, volume ``docker-model-runner-models`` at
``/models``, labels ``com.docker.desktop.service=model-runner`` and
``com.docker.model-runner.role=controller``, published on 127.0.0.1).

Up is verified over HTTP: ``GET /`` says "Docker Model Runner is running" and
``/engines/v1/models`` answers an OpenAI list. Every failure is one LlmctlError with a fix.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmctl.backends.runner_status import (
    OPENAI_PATH,
    RunnerHttpError,
    RunnerProbe,
    probe,
    verify,
)
from llmctl.engine.docker_cli import CliCommandFailed, CliResult, DockerCli, PluginMissing
from llmctl.errors import (
    ConflictError,
    DesktopTooOld,
    LlmctlError,
    NotFoundError,
    NotReadyError,
    RunnerDisabled,
    ServerError,
    TcpNotEnabled,
)
from llmctl.plan import LABEL_MANAGED
from llmctl.ports import Heard, next_free, port_free, process_holding, who_holds
from llmctl.targets.model_runner import place
from llmctl.targets.model_runner.container import (
    CONTAINER_NAME,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    IMAGE_ENV,
    LABEL_SERVICE,
    SERVICE,
    VOLUME_NAME,
    check_options,
    container_endpoint,
    find_runners,
    host_port_of,
    is_runner_container,
    local_url,
    plan_runner_container,
    resolve_gpu,
)
from llmctl.targets.model_runner.place import (
    DESKTOP_CONTAINER_URL,
    check_desktop,
    detect_place,
)
from llmctl.targets.model_runner.results import (
    RunnerDownResult,
    RunnerDryRun,
    RunnerStatus,
    RunnerUpResult,
)
from llmctl.targets.model_runner.status import desktop_status, engine_status

if TYPE_CHECKING:
    from llmctl.engine.model import ContainerInfo, Engine
    from llmctl.ports import PortHolder

Notify = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class ModelRunner:
    """Docker Model Runner for one connected engine. ``cli`` runs `docker model|desktop`;
    ``transport`` (an httpx transport) replaces the network in unit tests."""

    def __init__(
        self,
        engine: Engine,
        cli: DockerCli | None = None,
        *,
        os_name: str | None = None,
        transport: Any = None,
        notify: Notify = _quiet,
    ) -> None:
        self.engine = engine
        self.facts = engine.facts()
        self.os_name = os_name or place.host_os()
        self.place = detect_place(self.facts, self.os_name)
        self.cli = cli or DockerCli(engine.target, desktop=self.place.mode == "desktop")
        self.transport = transport
        self.notify = notify

    # -- helpers
    def _url(self, port: int) -> str:
        return local_url(port)

    def _local(self) -> bool:
        return bool(self.engine.target.is_local)

    def _port_free(self, port: int) -> bool:
        return port_free(port, "127.0.0.1")

    def find_runners(self) -> list[ContainerInfo]:
        """Runner containers on this engine, found by the plugin's controller label."""
        return find_runners(self.engine)

    def port_conflict(self, port: int) -> ConflictError:
        """Name what holds ``port`` and the fix for it."""
        published = self.engine.published_ports()
        free = next_free(port + 1, "127.0.0.1", [p.host_port for _, p in published])
        other = f"--tcp {free}" if free else "another --tcp port"
        holder = who_holds(port, published=published, identify=self._identify,
                           process=process_holding if self._local() else None)
        kind, what, fix = self._words(holder, other, free)
        return ConflictError(
            f"port {port} on 127.0.0.1 is taken by {what}", fix,
            details={"port": port, "holder": what, "holder_kind": kind,
                     "suggested_port": free},
        )

    def _identify(self, port: int) -> Heard | None:
        """A Model Runner, or None: the port is known to be held, so a refused connection
        does not make it free here."""
        answer = probe(self._url(port), timeout=1.0, transport=self.transport)
        return Heard("model-runner", answer.detail) if answer.running else None

    def _words(self, holder: PortHolder, other: str, free: int | None) -> tuple[str, str, str]:
        """(holder kind, who it is, the fix) for a port conflict's message."""
        c = holder.container
        if c is not None and is_runner_container(c):
            return ("engine-runner", f"the Docker Engine Model Runner container {c.name}",
                    f"Stop it with `llmctl down model-runner` (or `docker model "
                    f"uninstall-runner`), or use {other}.")
        if c is not None:
            return ("container", f"container {c.name} ({c.image})",
                    f"Stop it (`docker stop {c.name}`), or use {other}.")
        if holder.kind == "model-runner":
            what = ("Docker Desktop's Model Runner (host-side TCP)" if self.place.mode ==
                    "desktop" else "a Docker Model Runner this engine does not run (Docker "
                    "Desktop's host-side TCP, or a manual install)")
            return ("desktop-runner", what,
                    "Turn Desktop's off with `docker desktop disable model-runner`, move it "
                    f"with `docker desktop enable model-runner --tcp {free or 'PORT'}`, "
                    f"or use {other}.")
        if holder.process:
            return ("process", f"host process {holder.process}",
                    f"Stop that process, or use {other}.")
        return "unknown", "another program on this host", f"Use {other}."

    # -- up
    def up(self, port: int = DEFAULT_PORT, *, gpu: str = "auto", wait: bool = True,
           timeout: float = DEFAULT_TIMEOUT, recreate: bool = False) -> RunnerUpResult:
        check_options(port, gpu)
        if self.place.mode == "desktop":
            return self._up_desktop(port, gpu, wait, timeout)
        return self._up_engine(port, gpu, wait, timeout, recreate)

    # -- up --dry-run
    def plan_up(self, port: int = DEFAULT_PORT, *, gpu: str = "auto",
                recreate: bool = False) -> RunnerDryRun:
        """What :meth:`up` would do, reading the engine, the port and the plugin only."""
        check_options(port, gpu)
        url = self._url(port)
        plan = RunnerDryRun(kind=self.place.kind, method="", port=port, container="unknown",
                            endpoint=url, base_url=url + OPENAI_PATH)
        if self.place.note:
            plan.warnings.append(self.place.note)
        if self.place.mode == "desktop":
            self._plan_desktop(plan, gpu)
        else:
            self._plan_engine(plan, gpu, recreate)
        return plan

    def _refuse(self, plan: RunnerDryRun, exc: LlmctlError) -> None:
        plan.container, plan.reason = "refuse", exc.message
        plan.warnings.append(f"{exc.message}: `up` would stop here." +
                             (f" {exc.hint}" if exc.hint else ""))

    def _plan_desktop(self, plan: RunnerDryRun, gpu: str) -> None:
        port = plan.port
        plan.method = "docker desktop enable model-runner"
        try:
            plan.warnings += check_desktop(self.place, self.facts, self.os_name)
        except DesktopTooOld as exc:
            self._refuse(plan, exc)
            return
        if gpu != "auto":
            plan.warnings.append(f"--gpu {gpu} is ignored on Docker Desktop: Desktop picks "
                                 "the GPU (Settings > AI)")
        if not self._port_free(port):
            answer = probe(plan.endpoint, timeout=2.0, transport=self.transport)
            if answer.running and not any(
                    p.host_port == port for _, p in self.engine.published_ports()):
                plan.container, plan.reason = "reuse", "Desktop's runner answers on the port"
                return
            self._refuse(plan, self.port_conflict(port))
            return
        plan.container = "enable"
        plan.would_run.append(f"docker desktop enable model-runner --tcp {port}")

    def _plan_engine(self, plan: RunnerDryRun, gpu: str, recreate: bool) -> None:
        port = plan.port
        variant = resolve_gpu(gpu, self.facts)
        plan.method = "llmctl (Docker API)"
        existing = next(iter(self.find_runners()), None)
        if existing is not None:
            plan.method = "existing container"
            current = host_port_of(existing)
            if current == port:
                plan.container = "reuse" if existing.running else "start"
                return
            if not recreate:
                self._refuse(plan, ConflictError(
                    f"the Model Runner container {existing.name} already runs on port "
                    f"{current}",
                    f"Use --tcp {current}, or add --yes to recreate it on port {port} "
                    "(the models volume is kept)."))
                return
            plan.container, plan.reason = "recreate", f"move it from port {current} to {port}"
            plan.would_remove.append(f"container {existing.name}")
        elif self._local() and not self._port_free(port):
            self._refuse(plan, self.port_conflict(port))
            return
        else:
            plan.container = "create"
        if self._plugin_present():
            plan.method = "docker model install-runner"
            if plan.container == "create":
                plan.container = "install"
            plan.would_run.append(f"docker model install-runner --port {port} --gpu {gpu}")
            return
        plan.warnings.append("the `docker model` plugin is not installed: llmctl would run "
                             "the runner container itself with the plugin's settings")
        gateway = None if self.facts.rootless else self.engine.bridge_gateway()
        plan.spec = spec = plan_runner_container(port, variant, gateway=gateway)
        if not self.engine.image_present(spec.image):
            plan.would_pull.append(spec.image)
        if not self.engine.has_network():
            plan.would_create.append("network llmctl")
        if self.engine.volume_labels(VOLUME_NAME) is None:
            plan.would_create.append(f"volume {VOLUME_NAME}")
        plan.would_create.append(f"container {spec.name}")

    def _up_desktop(self, port: int, gpu: str, wait: bool, timeout: float) -> RunnerUpResult:
        notes = check_desktop(self.place, self.facts, self.os_name)
        if gpu != "auto":
            notes.append(f"--gpu {gpu} is ignored on Docker Desktop: Desktop picks the GPU "
                         "(Settings > AI)")
        url = self._url(port)
        action = "enabled"
        if not self._port_free(port):
            answer = probe(url, timeout=2.0, transport=self.transport)
            mine = answer.running and not any(
                p.host_port == port for _, p in self.engine.published_ports())
            if not mine:
                raise self.port_conflict(port)
            action = "reused"  # Desktop's runner already answers on this port
        else:
            self.notify(f"running `docker desktop enable model-runner --tcp {port}`")
            result = self.cli.enable_model_runner(tcp_port=port)
            if not result.ok:
                raise self._enable_failed(result, port)
        out = RunnerUpResult(
            action=action, kind="Docker Desktop", method="docker desktop enable model-runner",
            port=port, endpoint=url, base_url=url + OPENAI_PATH,
            endpoint_container=DESKTOP_CONTAINER_URL + OPENAI_PATH, ready=None, notes=notes,
        )
        if not wait:
            return out
        answer, seconds = self._wait(url, timeout, desktop_port=port)
        self._fill(out, answer, seconds)
        return out

    def _enable_failed(self, result: CliResult, port: int) -> LlmctlError:
        text = result.output
        low = text.lower()
        if "disabled" in low or "admin" in low or "locked" in low or "not allowed" in low:
            return RunnerDisabled(
                f"Docker Desktop refused to enable Model Runner: {text.splitlines()[0][:200]}",
                "Model Runner is switched off by Docker Desktop settings: turn it on in "
                "Settings > AI > Enable Docker Model Runner (if your organisation locks "
                "settings, ask its Docker admin).",
                details={"output": text[-1000:]},
            )
        return CliCommandFailed(
            f"`docker desktop enable model-runner --tcp {port}` failed (exit "
            f"{result.returncode}): {(text.splitlines() or ['(no output)'])[0][:200]}",
            "Or turn it on in Settings > AI > Enable Docker Model Runner, with "
            f"'Enable host-side TCP support' on port {port}.",
            details={"output": text[-1000:]},
        )

    def _up_engine(self, port: int, gpu: str, wait: bool, timeout: float,
                   recreate: bool) -> RunnerUpResult:
        notes = [self.place.note] if self.place.note else []
        variant = resolve_gpu(gpu, self.facts)
        url = self._url(port)
        runners = self.find_runners()
        created_here: str | None = None
        method = "llmctl (Docker API)"
        action = "created"
        image: str | None = None
        existing = runners[0] if runners else None
        if existing is not None:
            current = host_port_of(existing)
            image = existing.image
            method = "existing container"
            if current != port:
                if not recreate:
                    raise ConflictError(
                        f"the Model Runner container {existing.name} already runs on port "
                        f"{current}",
                        f"Use --tcp {current}, or add --yes to recreate it on port {port} "
                        "(the models volume is kept).",
                        details={"port": current, "holder_kind": "engine-runner"},
                    )
                self.notify(f"removing {existing.name} to move it to port {port} "
                            "(models are kept)")
                self.engine.remove(existing.name)
                existing, action = None, "recreated"
            elif existing.running:
                action = "reused"
            else:
                self.engine.start(existing.name)
                action = "started"
        if existing is None:
            if self._local() and not self._port_free(port):
                raise self.port_conflict(port)
            plugin = self._plugin_present()
            if plugin:
                method = "docker model install-runner"
                self.notify(f"running `docker model install-runner --port {port} --gpu {gpu}`")
                self.cli.install_runner(port=port, gpu=gpu,
                                        on_line=lambda line: self.notify(line))
                action = "installed" if action == "created" else action
                info = next(iter(self.find_runners()), None)
                if info is None:
                    raise ServerError(
                        "`docker model install-runner` succeeded but no runner container "
                        "(label com.docker.model-runner.role=controller) is on this engine",
                        "Check `docker ps -a` and `docker model status`.",
                    )
                created_here = info.name
                image = info.image
            else:
                notes.append("the `docker model` plugin is not installed: llmctl runs the "
                             "runner container itself with the plugin's settings")
                gateway = None if self.facts.rootless else self.engine.bridge_gateway()
                spec = plan_runner_container(port, variant, gateway=gateway)
                image = spec.image
                if not self.engine.image_present(spec.image):
                    self.notify(f"pulling image {spec.image}")
                    self.engine.pull_image(spec.image, alternative=f"{IMAGE_ENV}=REF")
                try:
                    self.engine.run(spec)
                    created_here = spec.name
                except ConflictError as exc:
                    if exc.details.get("reason") == "name":
                        # Another run won the race: use its container if it is a runner.
                        theirs = self.engine.get(spec.name)
                        if theirs is None or not is_runner_container(theirs):
                            raise ConflictError(
                                f"a container named {spec.name} exists and is not a Model "
                                "Runner", f"Remove it (`docker rm -f {spec.name}`).",
                            ) from exc
                        action = "reused"
                    elif exc.details.get("port"):
                        raise self.port_conflict(port) from exc
                    else:
                        raise
        info = self.engine.get(CONTAINER_NAME) or next(iter(self.find_runners()), None)
        if info is None:
            raise NotFoundError("the Model Runner container disappeared while starting")
        out = RunnerUpResult(
            action=action, kind="Docker Engine", method=method, port=port,
            endpoint=url, base_url=url + OPENAI_PATH,
            endpoint_container=container_endpoint(info) + OPENAI_PATH, ready=None,
            container=info.name, image=image or info.image,
            volume=next(iter(info.volumes), None), gpu=variant, notes=notes,
        )
        if not wait:
            return out
        if not self._local():
            out.notes.append(
                f"the daemon is remote: 127.0.0.1:{port} is on that host; tunnel it "
                f"(`ssh -L {port}:127.0.0.1:{port} HOST`) to use it from here"
            )
            return out
        try:
            answer, seconds = self._wait(url, timeout, container=info.name)
        except BaseException:
            if created_here:
                # Leave nothing half-made; the models volume is kept.
                with contextlib.suppress(Exception):
                    self.engine.remove(created_here, stop_timeout=2)
            raise
        self._fill(out, answer, seconds)
        return out

    def _plugin_present(self) -> bool:
        try:
            self.cli.model_status(timeout=15)
        except PluginMissing:
            return False
        except CliCommandFailed:
            return True  # it is there, it just had nothing good to say
        return True

    def _fill(self, out: RunnerUpResult, answer: RunnerProbe, seconds: float) -> None:
        out.ready, out.ready_seconds = True, seconds
        out.version, out.backends = answer.version, answer.backends
        out.models = list(answer.models or [])

    def _wait(self, url: str, timeout: float, *, desktop_port: int | None = None,
              container: str | None = None) -> tuple[RunnerProbe, float]:
        """Poll until ``verify`` passes; fail early when the container exits."""
        start = time.monotonic()
        last: RunnerHttpError | None = None
        interval = 0.2
        while True:
            try:
                return verify(url, timeout=min(5.0, max(1.0, timeout)),
                              transport=self.transport), time.monotonic() - start
            except RunnerHttpError as exc:
                last = exc
                if exc.reason == "not-runner":
                    raise self.port_conflict(int(url.rsplit(":", 1)[1])) from exc
            if container is not None:
                info = self.engine.get(container)
                if info is None or info.state not in ("running", "created", "restarting"):
                    state = info.state if info else "removed"
                    logs = self.engine.logs_tail(container) if info else []
                    raise NotReadyError(
                        f"the Model Runner container {state} before it answered",
                        "Last log lines:\n  " + "\n  ".join(logs[-10:]) if logs
                        else f"See `docker logs {container}`.",
                        details={"logs": logs},
                    )
            if time.monotonic() - start >= timeout:
                break
            time.sleep(interval)
            interval = min(interval * 1.5, 1.0)
        assert last is not None
        if desktop_port is not None:
            raise self._desktop_not_answering(desktop_port, last, timeout)
        if last.reason == "unavailable":
            raise ServerError(last.message, last.hint, details=last.details)
        raise NotReadyError(
            f"the Model Runner at {url} was not ready after {timeout:g} s ({last.message})",
            last.hint or (f"See `docker logs {container}`." if container else None),
            details=last.details,
        )

    def _desktop_not_answering(self, port: int, last: RunnerHttpError,
                               timeout: float) -> LlmctlError:
        """Enabled, but the host port does not answer as a runner: say why."""
        try:
            st = self.cli.model_status(timeout=15)
        except LlmctlError:
            st = None
        if st is not None and not st.running:
            return RunnerDisabled(
                "Docker Model Runner is not running in Docker Desktop",
                "Turn it on in Settings > AI > Enable Docker Model Runner (it may be "
                "disabled by your organisation's settings), then run this again.",
            )
        if last.reason in ("refused", "timeout", "unreachable"):
            return TcpNotEnabled(
                f"Model Runner runs in Docker Desktop but nothing answers on 127.0.0.1:{port} "
                f"after {timeout:g} s: host-side TCP support is not on for that port",
                f"Run `docker desktop enable model-runner --tcp {port}`, or turn on "
                f"Settings > AI > Enable host-side TCP support (port {port}).",
                details={"port": port},
            )
        if last.reason == "unavailable":
            return ServerError(last.message, "Desktop's runner is starting or broken: see "
                               "`docker model status` and restart Docker Desktop if it "
                               "stays so.", details=last.details)
        return ServerError(last.message, last.hint, details=last.details)

    # -- down
    def down(self, *, volumes: bool = False,
             confirm: Callable[[str], None] | None = None) -> RunnerDownResult:
        """Engine: remove the runner container (the volume only with ``volumes``). Desktop:
        `docker desktop disable model-runner` after ``confirm`` (which raises to refuse)."""
        if self.place.mode == "desktop":
            warning = ("this turns Docker Model Runner off for the whole of Docker Desktop "
                       "(every context and project that uses it); models are kept")
            if confirm is not None:
                confirm(warning)
            result = self.cli.disable_model_runner()
            if not result.ok:
                raise CliCommandFailed(
                    f"`docker desktop disable model-runner` failed (exit {result.returncode}):"
                    f" {(result.output.splitlines() or ['(no output)'])[0][:200]}",
                    "Or turn it off in Settings > AI.",
                )
            notes = [f"Model Runner is now off in Docker Desktop: {warning}"]
            if volumes:
                notes.append("--volumes has no effect on Desktop: remove models with "
                             "`docker model rm`")
            return RunnerDownResult("disabled", "Docker Desktop", notes=notes)
        runners = self.find_runners()
        out = RunnerDownResult("removed", "Docker Engine")
        if not runners:
            labels = self.engine.volume_labels(VOLUME_NAME) if volumes else None
            if labels is None:
                raise NotFoundError("no Docker Model Runner container on this engine",
                                    "See `llmctl status`.")
            # The container is gone already; its models volume is removed only when it is
            # labelled as the runner's (by llmctl or the plugin).
            if labels.get(LABEL_MANAGED) == "true" or labels.get(LABEL_SERVICE) == SERVICE:
                if self.engine.remove_volume(VOLUME_NAME):
                    out.volumes_removed.append(VOLUME_NAME)
            else:
                out.volumes_kept.append(VOLUME_NAME)
                out.notes.append(f"{VOLUME_NAME} carries no llmctl or Model Runner label: "
                                 f"remove it yourself (`docker volume rm {VOLUME_NAME}`)")
            return out
        for info in runners:
            if self.engine.remove(info.name):
                out.removed.append(info.name)
            for vol in info.volumes:
                if not volumes:
                    out.volumes_kept.append(vol)
                elif self.engine.remove_volume(vol):
                    out.volumes_removed.append(vol)
        return out

    # -- status
    def status(self, *, timeout: float = 1.5) -> RunnerStatus:
        """Never raises for an unreachable or absent runner: that is reported."""
        try:
            if self.place.mode == "desktop":
                return desktop_status(self.place, self.cli, timeout, self.transport)
            return engine_status(self.engine, timeout, self.transport)
        except LlmctlError as exc:
            return RunnerStatus(kind=self.place.kind, running=False, installed=False,
                                problem=exc.message, fix=exc.hint)
