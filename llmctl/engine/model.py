"""What the engine layer hands out: plain data (no docker objects leak out) and the
:class:`Engine` interface the core is written against.

:class:`llmctl.engine.docker_engine.DockerEngine` implements ``Engine`` on a real daemon;
tests implement it once in memory (tests/fakes). Nothing here imports ``docker``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable

    from llmctl.plan import ContainerSpec
    from llmctl.progress import ProgressSink


@dataclass(frozen=True)
class DaemonTarget:
    """Which Docker daemon llmctl talks to, and why (see llmctl.engine.connect)."""

    host: str  # unix:///..., tcp://h:p, ssh://u@h, npipe://...
    context: str  # context name, or "(DOCKER_HOST)" / "(--host)"
    source: str  # where the choice came from
    tls_dir: str | None = None
    tls_verify: bool = True

    @property
    def is_local(self) -> bool:
        scheme = urlsplit(self.host).scheme
        if scheme in ("unix", "npipe", "http+unix"):
            return True
        host = urlsplit(self.host).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1")

    @property
    def address_host(self) -> str:
        """The host name that published ports are reached on from this machine."""
        if self.is_local:
            return "127.0.0.1"
        return urlsplit(self.host).hostname or "127.0.0.1"


@dataclass(frozen=True)
class PublishedPort:
    host_ip: str
    host_port: int
    container_port: int


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    state: str  # created | running | exited | paused | restarting | dead
    image: str
    labels: dict[str, str] = field(default_factory=dict)
    ports: tuple[PublishedPort, ...] = ()
    volumes: tuple[str, ...] = ()
    exit_code: int | None = None
    image_id: str = ""  # the image it runs, by ID (sha256:<64 hex>); "" when unknown
    # The names (never the values) of its environment variables, its image's own included,
    # and whether it was given GPUs: what `llmctl lock` records of its shape.
    env_keys: tuple[str, ...] = ()
    gpus: bool = False

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class ContainerEvent:
    """Something that happened to a container, as the daemon's event stream says it."""

    action: str  # die | destroy | stop | kill | oom | start | health_status: healthy | ...
    exit_code: int | None = None  # for die


class Watch(Protocol):
    """Following a container's events (:meth:`Engine.watch`) until closed."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class ImageDigests:
    """What an image reference (or ID) stands for on this daemon."""

    id: str  # the image ID: sha256 of its config, sha256:<64 hex>
    # ``repo@sha256:<64 hex>``, one per repository it was pulled from or pushed to; none for
    # an image built or loaded here (it has no registry digest).
    repo_digests: tuple[str, ...] = ()
    env_keys: tuple[str, ...] = ()  # the names of the image's own environment variables


@dataclass(frozen=True)
class EngineFacts:
    """What the daemon says about itself, reduced to what llmctl decides on."""

    kind: str  # "Docker Desktop", "Docker Engine", "Podman", "Colima", "OrbStack", ...
    version: str  # server version, e.g. "20.10.24" or "Docker Desktop 4.49.0 (12345)"
    api_version: str
    os_type: str  # linux | windows
    arch: str
    operating_system: str
    rootless: bool = False
    gpu_runtime: bool = False  # nvidia runtime or CDI devices: a hint, not a promise
    desktop_version: str | None = None


class Engine(Protocol):
    """A connected daemon, as the core uses it. Every method may raise EngineUnavailable;
    the errors each one raises are those of :class:`~llmctl.engine.docker_engine.DockerEngine`.
    """

    target: DaemonTarget

    @property
    def address_host(self) -> str:
        """The host name published ports are reached on from this machine."""
        ...

    def facts(self) -> EngineFacts: ...

    # containers
    def get(self, name: str) -> ContainerInfo | None: ...

    def list_managed(self, **labels: str) -> list[ContainerInfo]:
        """Containers labelled ``io.llmctl.managed=true`` (and ``labels``), stopped ones too."""
        ...

    def list_all(self) -> list[ContainerInfo]: ...

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start ``spec`` (its ``files`` written in between);
        ConflictError(details={"reason": "name"}) when the name exists, PortTakenOnStart
        when the port is taken."""
        ...

    def start(self, name: str) -> ContainerInfo: ...

    def remove(self, name: str, *, stop_timeout: int = 10) -> bool:
        """Stop and remove; False when it was already gone."""
        ...

    def logs_tail(self, name: str, lines: int = 20) -> list[str]: ...

    def watch(self, name: str, on_event: Callable[[ContainerEvent], None]) -> Watch:
        """Call ``on_event`` (from another thread) for every event of the container
        ``name`` from now until the watch is closed: how a wait learns at once that the
        container exited, was removed or became healthy, instead of asking again and again."""
        ...

    def published_ports(self) -> list[tuple[ContainerInfo, PublishedPort]]:
        """Every port published by a running container (ours or not)."""
        ...

    # volumes, networks, images
    def has_network(self, name: str = ...) -> bool: ...

    def bridge_gateway(self) -> str | None: ...

    def volume_labels(self, name: str) -> dict[str, str] | None:
        """A volume's labels; None when there is no such volume."""
        ...

    def remove_volume(self, name: str) -> bool: ...

    def image_present(self, image: str) -> bool: ...

    def pull_image(self, image: str, on_event: ProgressSink = ..., *,
                   stall_timeout: float = ..., alternative: str | None = None) -> None:
        """Pull ``image`` (a tag, or ``repo@sha256:...``: then that exact manifest)."""
        ...

    def image_digests(self, image: str) -> ImageDigests | None:
        """The ID and registry digests of ``image`` (a reference or an image ID); None when
        it is not present."""
        ...

    def read_file(self, name: str, path: str, *, limit: int = ...) -> bytes | None:
        """The content of the regular file ``path`` in container ``name`` (at most ``limit``
        bytes); None when the container or the file does not exist."""
        ...

