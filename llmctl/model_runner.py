"""Docker Model Runner: bring it up, report it, take it down, on Desktop and on Engine.

Where the runner lives is decided from the engine's facts, like the `docker model` CLI does
(reference/server-apis.md §2.5): Docker Desktop on macOS, Windows or WSL2 runs it inside
Desktop (at least 4.40), switched with `docker desktop enable|disable model-runner`; every
other engine, Docker Desktop for Linux included, runs it as the container
``docker-model-runner``: installed by `docker model install-runner` when that plugin is
there, otherwise by llmctl through the engine layer with the plugin's facts (image
``docker/model-runner:latest[-cuda|-rocm]``, volume ``docker-model-runner-models`` at
``/models``, labels ``com.docker.desktop.service=model-runner`` and
``com.docker.model-runner.role=controller``, published on 127.0.0.1).

Up is verified over HTTP: ``GET /`` says "Docker Model Runner is running" and
``/engines/v1/models`` answers an OpenAI list. Every failure is one LlmctlError with a fix.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl import __version__
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
    UsageError,
)
from llmctl.plan import (
    LABEL_API,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_PORT,
    LABEL_PROFILE,
    LABEL_VERSION,
    ContainerSpec,
    PortBinding,
    VolumeMount,
    validate_port,
)
from llmctl.ports import next_free, port_free, process_holding
from llmctl.urls import MODEL_RUNNER_PORT

if TYPE_CHECKING:
    from llmctl.engine.model import ContainerInfo, Engine, EngineFacts

PROFILE = "model-runner"  # the name `llmctl up/down` dispatches on
DEFAULT_PORT = MODEL_RUNNER_PORT
CONTAINER_PORT = MODEL_RUNNER_PORT  # the image's MODEL_RUNNER_PORT; only the host port moves
CONTAINER_NAME = "docker-model-runner"
VOLUME_NAME = "docker-model-runner-models"
MODELS_PATH = "/models"
IMAGE_REPO = "docker/model-runner"
IMAGE_ENV = "LLMCTL_MODEL_RUNNER_IMAGE"  # tests (and mirrors) replace the image
LABEL_SERVICE = "com.docker.desktop.service"
SERVICE = "model-runner"
LABEL_ROLE = "com.docker.model-runner.role"
ROLE_CONTROLLER = "controller"
DESKTOP_MIN = (4, 40)
DESKTOP_CONTAINER_URL = "http://model-runner.docker.internal"
GPU_CHOICES = ("auto", "none", "cuda", "rocm")
DEFAULT_TIMEOUT = 120.0

Notify = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# --- where are we ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Place:
    """Where the runner lives for this engine."""

    mode: str  # "desktop" (inside Docker Desktop) | "engine" (a container)
    engine_kind: str  # EngineFacts.kind
    desktop_version: str | None = None
    note: str | None = None

    @property
    def kind(self) -> str:
        return "Docker Desktop" if self.mode == "desktop" else "Docker Engine"


def host_os() -> str:
    """darwin | win32 | wsl | linux | … (the machine llmctl runs on)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            if "microsoft" in os.uname().release.lower():
                return "wsl"
        return "linux"
    return sys.platform


def parse_version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def detect_place(facts: EngineFacts, os_name: str | None = None) -> Place:
    """Desktop on macOS/Windows/WSL2 runs the runner itself; Docker Desktop for Linux is
    treated as a plain engine, as the `docker model` CLI does (desktop/context.go)."""
    os_name = os_name or host_os()
    if facts.kind == "Docker Desktop":
        if os_name in ("darwin", "win32", "wsl"):
            return Place("desktop", facts.kind, facts.desktop_version)
        return Place("engine", facts.kind, facts.desktop_version,
                     note="Docker Desktop for Linux: Model Runner runs as a container in "
                          "Desktop's VM, like on Docker Engine")
    note = None
    if facts.kind != "Docker Engine":
        note = f"{facts.kind}: Model Runner runs as a container, as on Docker Engine"
    return Place("engine", facts.kind, None, note)


def check_desktop(place: Place, facts: EngineFacts, os_name: str | None = None) -> list[str]:
    """Raise DesktopTooOld below 4.40; return warnings worth showing."""
    notes: list[str] = []
    version = parse_version(place.desktop_version)
    if version is None:
        notes.append("could not read the Docker Desktop version; assuming 4.40 or later")
    elif version[:2] < DESKTOP_MIN:
        raise DesktopTooOld(
            f"Docker Desktop {place.desktop_version} is too old for Docker Model Runner "
            f"(it needs {DESKTOP_MIN[0]}.{DESKTOP_MIN[1]} or later)",
            "Update Docker Desktop (menu > Check for updates), then run this again.",
            details={"desktop_version": place.desktop_version,
                     "required": f"{DESKTOP_MIN[0]}.{DESKTOP_MIN[1]}"},
        )
    if (os_name or host_os()) == "darwin" and facts.arch in ("x86_64", "amd64"):
        notes.append("Model Runner on macOS needs Apple Silicon; this Mac reports "
                     f"{facts.arch}, so enabling it may fail")
    return notes


# --- the runner container (Engine) -------------------------------------------------------------
def resolve_gpu(gpu: str, facts: EngineFacts) -> str:
    """none | cuda | rocm, from --gpu (auto: cuda when the engine has the NVIDIA runtime)."""
    if gpu not in GPU_CHOICES:
        raise UsageError(f"--gpu {gpu!r} is not one of {', '.join(GPU_CHOICES)}")
    if gpu == "auto":
        return "cuda" if facts.gpu_runtime else "none"
    return gpu


def runner_image(variant: str) -> str:
    override = os.environ.get(IMAGE_ENV)
    if override:
        return override
    return f"{IMAGE_REPO}:latest" + ("" if variant == "none" else f"-{variant}")


def plan_runner_container(
    port: int, variant: str, image: str | None = None, gateway: str | None = None
) -> ContainerSpec:
    """The container `docker model install-runner --port PORT` would make, plus llmctl's
    labels. Pure: what `up` applies and what the tests check. Like the plugin, it is also
    published on the docker0 gateway IP (``gateway``, not on rootless engines) so containers
    on the default bridge reach it at http://GATEWAY:PORT (§2.5)."""
    validate_port(port, "--tcp")
    if variant == "rocm":
        raise UsageError(
            "--gpu rocm needs the `docker model` plugin (it passes /dev/kfd and /dev/dri)",
            "Install docker-model-plugin, or use --gpu none or --gpu cuda.",
        )
    labels = {
        LABEL_SERVICE: SERVICE,
        LABEL_ROLE: ROLE_CONTROLLER,
        LABEL_MANAGED: "true",
        LABEL_PROFILE: PROFILE,
        LABEL_INSTANCE: PROFILE,
        LABEL_API: "openai",
        LABEL_PORT: str(CONTAINER_PORT),
        LABEL_VERSION: __version__,
    }
    return ContainerSpec(
        name=CONTAINER_NAME, instance=PROFILE, profile=PROFILE, api="openai",
        image=image or runner_image(variant), command=(),
        env={"MODEL_RUNNER_PORT": str(CONTAINER_PORT), "MODELS_PATH": MODELS_PATH},
        ports=(PortBinding("127.0.0.1", port, CONTAINER_PORT),
               *([PortBinding(gateway, port, CONTAINER_PORT)] if gateway else [])),
        volumes=(VolumeMount(VOLUME_NAME, MODELS_PATH),),
        gpus=variant == "cuda", labels=labels, restart="always",
    )


def is_runner_container(info: ContainerInfo) -> bool:
    return info.labels.get(LABEL_ROLE) == ROLE_CONTROLLER


def host_port_of(info: ContainerInfo) -> int | None:
    """The host port the runner is reached on from this machine (loopback first)."""
    best = None
    for p in info.ports:
        if p.host_ip in ("127.0.0.1", "0.0.0.0", "::1", "::", ""):
            return p.host_port
        best = best or p.host_port
    return best


def container_endpoint(info: ContainerInfo) -> str:
    """How other containers reach an Engine runner: the bridge gateway binding the plugin
    adds (e.g. http://172.17.0.1:12434); llmctl's own runner is on the `llmctl` network."""
    for p in info.ports:
        if p.host_ip not in ("127.0.0.1", "0.0.0.0", "::1", "::", ""):
            return f"http://{p.host_ip}:{p.host_port}"
    if info.labels.get(LABEL_MANAGED) == "true":
        return f"http://{info.name}:{CONTAINER_PORT}"
    return f"http://172.17.0.1:{host_port_of(info) or DEFAULT_PORT}"


# --- results -----------------------------------------------------------------------------------
@dataclass
class RunnerUpResult:
    action: str  # enabled | installed | created | reused | started | recreated
    kind: str  # Docker Desktop | Docker Engine
    method: str  # docker desktop enable | docker model install-runner | llmctl (engine API)
    port: int
    endpoint: str  # for processes on this machine
    base_url: str  # OpenAI base: endpoint + /engines/v1
    endpoint_container: str  # for containers
    ready: bool | None
    ready_seconds: float | None = None
    container: str | None = None
    image: str | None = None
    volume: str | None = None
    gpu: str | None = None
    version: str | None = None
    backends: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunnerDryRun:
    """`up model-runner --dry-run`: what `up` would do, found by reading only (no pull, no
    registry, no container, volume or network made, Desktop's settings untouched)."""

    kind: str  # Docker Desktop | Docker Engine | unknown (engine not reached)
    method: str  # as RunnerUpResult.method
    port: int
    container: str  # create | install | enable | reuse | start | recreate | refuse | unknown
    endpoint: str
    base_url: str
    reason: str | None = None
    spec: ContainerSpec | None = None  # the container llmctl itself would run
    would_run: list[str] = field(default_factory=list)  # commands (`docker ...`)
    would_pull: list[str] = field(default_factory=list)
    would_create: list[str] = field(default_factory=list)
    would_remove: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = True


@dataclass
class RunnerDownResult:
    action: str  # disabled | removed
    kind: str
    removed: list[str] = field(default_factory=list)
    volumes_removed: list[str] = field(default_factory=list)
    volumes_kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunnerStatus:
    kind: str  # Docker Desktop | Docker Engine
    running: bool
    installed: bool  # a runner container exists / Desktop reports the feature
    endpoint: str | None = None  # for host processes
    base_url: str | None = None
    endpoint_container: str | None = None
    container: str | None = None
    managed: bool = False  # made by llmctl (io.llmctl.* labels)
    version: str | None = None
    backends: dict[str, str] = field(default_factory=dict)
    models: int | None = None
    problem: str | None = None
    fix: str | None = None
    notes: list[str] = field(default_factory=list)


# --- the core ------------------------------------------------------------------------------------
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
        self.os_name = os_name or host_os()
        self.place = detect_place(self.facts, self.os_name)
        self.cli = cli or DockerCli(engine.target, desktop=self.place.mode == "desktop")
        self.transport = transport
        self.notify = notify

    # -- helpers
    def _url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def _local(self) -> bool:
        return bool(self.engine.target.is_local)

    def _port_free(self, port: int) -> bool:
        return port_free(port, "127.0.0.1")

    def find_runners(self) -> list[ContainerInfo]:
        """Runner containers on this engine, found by the plugin's controller label."""
        return [c for c in self.engine.list_all() if is_runner_container(c)]

    def port_conflict(self, port: int) -> ConflictError:
        """Name what holds ``port`` and the fix for it."""
        taken = [p.host_port for _, p in self.engine.published_ports()]
        free = next_free(port + 1, "127.0.0.1", taken)
        other = f"--tcp {free}" if free else "another --tcp port"
        kind, holder, fix = "unknown", "another program on this host", f"Use {other}."
        for info, pub in self.engine.published_ports():
            if pub.host_port != port:
                continue
            if is_runner_container(info):
                kind = "engine-runner"
                holder = f"the Docker Engine Model Runner container {info.name}"
                fix = (f"Stop it with `llmctl down model-runner` (or `docker model "
                       f"uninstall-runner`), or use {other}.")
            else:
                kind = "container"
                holder = f"container {info.name} ({info.image})"
                fix = f"Stop it (`docker stop {info.name}`), or use {other}."
            break
        else:
            answer = probe(self._url(port), timeout=1.0, transport=self.transport)
            if answer.running:
                if self.place.mode == "desktop":
                    kind = "desktop-runner"
                    holder = "Docker Desktop's Model Runner (host-side TCP)"
                else:
                    kind = "desktop-runner"
                    holder = ("a Docker Model Runner this engine does not run (Docker "
                              "Desktop's host-side TCP, or a manual install)")
                fix = ("Turn Desktop's off with `docker desktop disable model-runner`, move it "
                       f"with `docker desktop enable model-runner --tcp {free or 'PORT'}`, "
                       f"or use {other}.")
            else:
                proc = process_holding(port) if self._local() else None
                if proc:
                    kind, holder = "process", f"host process {proc}"
                    fix = f"Stop that process, or use {other}."
        return ConflictError(
            f"port {port} on 127.0.0.1 is taken by {holder}", fix,
            details={"port": port, "holder": holder, "holder_kind": kind,
                     "suggested_port": free},
        )

    # -- up
    def up(self, port: int = DEFAULT_PORT, *, gpu: str = "auto", wait: bool = True,
           timeout: float = DEFAULT_TIMEOUT, recreate: bool = False) -> RunnerUpResult:
        validate_port(port, "--tcp")
        if gpu not in GPU_CHOICES:
            raise UsageError(f"--gpu {gpu!r} is not one of {', '.join(GPU_CHOICES)}")
        if self.place.mode == "desktop":
            return self._up_desktop(port, gpu, wait, timeout)
        return self._up_engine(port, gpu, wait, timeout, recreate)

    # -- up --dry-run
    def plan_up(self, port: int = DEFAULT_PORT, *, gpu: str = "auto",
                recreate: bool = False) -> RunnerDryRun:
        """What :meth:`up` would do, reading the engine, the port and the plugin only."""
        validate_port(port, "--tcp")
        if gpu not in GPU_CHOICES:
            raise UsageError(f"--gpu {gpu!r} is not one of {', '.join(GPU_CHOICES)}")
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
                return self._status_desktop(timeout)
            return self._status_engine(timeout)
        except LlmctlError as exc:
            return RunnerStatus(kind=self.place.kind, running=False, installed=False,
                                problem=exc.message, fix=exc.hint)

    def _status_engine(self, timeout: float) -> RunnerStatus:
        runners = self.find_runners()
        if not runners:
            st = RunnerStatus(kind="Docker Engine", running=False, installed=False,
                              problem="no Model Runner container on this engine",
                              fix="llmctl up model-runner --tcp 12434")
            if self._local():
                answer = probe(self._url(DEFAULT_PORT), timeout=timeout,
                               transport=self.transport)
                if answer.running:
                    st.running = True
                    st.endpoint = answer.url
                    st.base_url = answer.url + OPENAI_PATH
                    st.backends, st.version = answer.backends, answer.version
                    st.models = None if answer.models is None else len(answer.models)
                    st.problem = None
                    st.fix = None
                    st.notes.append(f"a Model Runner answers at {answer.url} but is not a "
                                    "container of this engine (Docker Desktop or a manual "
                                    "install)")
            return st
        info = runners[0]
        port = host_port_of(info)
        st = RunnerStatus(
            kind="Docker Engine", running=info.running, installed=True, container=info.name,
            managed=info.labels.get(LABEL_MANAGED) == "true",
            endpoint=self._url(port) if port else None,
            endpoint_container=container_endpoint(info) + OPENAI_PATH,
        )
        st.base_url = st.endpoint + OPENAI_PATH if st.endpoint else None
        if not info.running:
            st.problem = f"the runner container is {info.state}"
            st.fix = "llmctl up model-runner" + (f" --tcp {port}" if port else "")
            return st
        if not port:
            st.running = False
            st.problem = "the runner container publishes no port"
            st.fix = "llmctl down model-runner && llmctl up model-runner --tcp 12434"
            return st
        if not self._local():
            st.notes.append("the daemon is remote: its 127.0.0.1 is not this machine's")
            return st
        self._apply_probe(st, probe(self._url(port), timeout=timeout,
                                    transport=self.transport))
        if st.problem:
            st.fix = f"See `docker logs {info.name}`."
        return st

    def _apply_probe(self, st: RunnerStatus, answer: RunnerProbe) -> None:
        st.running = answer.running
        if answer.backends:
            st.backends = answer.backends
        st.version = answer.version or st.version
        st.models = None if answer.models is None else len(answer.models)
        if answer.reason != "ok":
            st.problem = answer.detail

    def _status_desktop(self, timeout: float) -> RunnerStatus:
        st = RunnerStatus(kind="Docker Desktop", running=False, installed=True,
                          endpoint_container=DESKTOP_CONTAINER_URL + OPENAI_PATH)
        version = parse_version(self.place.desktop_version)
        if version is not None and version[:2] < DESKTOP_MIN:
            st.installed = False
            st.problem = (f"Docker Desktop {self.place.desktop_version} is too old for "
                          "Model Runner (4.40 or later)")
            st.fix = "Update Docker Desktop."
            return st
        try:
            cli_status = self.cli.model_status(timeout=10)
        except PluginMissing as exc:
            st.installed = False
            st.problem, st.fix = exc.message, exc.hint
            return st
        st.running = cli_status.running
        st.backends = cli_status.backends
        if cli_status.endpoint:
            st.endpoint_container = cli_status.endpoint.rstrip("/").removesuffix("/v1") \
                .removesuffix("/engines") + OPENAI_PATH
        if not cli_status.running:
            st.problem = "Model Runner is not running in Docker Desktop (disabled in settings?)"
            st.fix = ("llmctl up model-runner --tcp 12434 (or Settings > AI > Enable Docker "
                      "Model Runner)")
            return st
        host = _base_of(cli_status.endpoint_host) or self._url(DEFAULT_PORT)
        answer = probe(host, timeout=timeout, transport=self.transport)
        if answer.running:
            st.endpoint, st.base_url = host, host + OPENAI_PATH
            self._apply_probe(st, answer)
            st.running = True
        else:
            st.problem = (f"host-side TCP is not enabled (nothing answers as a runner at "
                          f"{host}: {answer.detail})")
            st.fix = "llmctl up model-runner --tcp 12434"
        return st


def _base_of(endpoint: str | None) -> str | None:
    """http://127.0.0.1:12434/engines/v1/ -> http://127.0.0.1:12434."""
    if not endpoint:
        return None
    m = re.match(r"(https?://[^/]+)", endpoint)
    return m.group(1) if m else None
