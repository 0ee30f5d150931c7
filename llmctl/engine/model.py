"""Plain data the engine layer hands back (no docker objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    @property
    def running(self) -> bool:
        return self.state == "running"


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


@dataclass(frozen=True)
class PortHolder:
    """Who holds a host port: one of ours, another container, or a host process."""

    kind: str  # "llmctl" | "container" | "process" | "unknown"
    description: str
    container: str | None = None
    profile: str | None = None  # for one of llmctl's: what `llmctl down` needs
    instance: str | None = None
