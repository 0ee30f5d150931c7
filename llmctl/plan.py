"""Pure planning: (Profile, options, engine facts) -> ContainerSpec. No I/O here.

The spec is what ``llmctl up --dry-run`` prints and what the engine layer applies. Its hash
is stored as a label so a later ``up`` can tell "same container" from "changed spec".
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field

from llmctl import __version__
from llmctl.errors import UsageError
from llmctl.profiles import ENV_KEY_RE, VOLUME_RE, Profile, validate_image

LABEL_PREFIX = "io.llmctl"
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"
LABEL_PROFILE = f"{LABEL_PREFIX}.profile"
LABEL_INSTANCE = f"{LABEL_PREFIX}.instance"
LABEL_API = f"{LABEL_PREFIX}.api"
LABEL_SPEC_HASH = f"{LABEL_PREFIX}.spec-hash"
LABEL_VERSION = f"{LABEL_PREFIX}.version"
LABEL_PORT = f"{LABEL_PREFIX}.container-port"

INSTANCE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
LOOPBACK_BINDS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class PortBinding:
    host_ip: str
    host_port: int
    container_port: int


@dataclass(frozen=True)
class VolumeMount:
    name: str
    target: str


@dataclass(frozen=True)
class UpOptions:
    """What the user asked for, already parsed into typed values."""

    port: int | None = None
    bind: str = "127.0.0.1"
    name: str | None = None
    volume: str | None = None
    image: str | None = None
    gpus: str = "auto"  # auto | all | none
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerSpec:
    name: str  # container name
    instance: str  # llmctl's name for it (`--name`), e.g. "ollama"
    profile: str
    api: str
    image: str
    command: tuple[str, ...]
    env: dict[str, str]
    ports: tuple[PortBinding, ...]
    volumes: tuple[VolumeMount, ...]
    gpus: bool
    labels: dict[str, str]
    restart: str = "unless-stopped"

    @property
    def host_port(self) -> int:
        return self.ports[0].host_port

    @property
    def bind(self) -> str:
        return self.ports[0].host_ip

    @property
    def exposed(self) -> bool:
        return self.bind not in LOOPBACK_BINDS

    def to_dict(self) -> dict[str, object]:
        doc = asdict(self)
        doc["exposed"] = self.exposed
        return doc


def spec_hash(spec_fields: dict[str, object]) -> str:
    blob = json.dumps(spec_fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def container_name(instance: str) -> str:
    return f"llmctl-{instance}"


def validate_bind(bind: str) -> str:
    """A literal IP address only: publishing on a host name makes Docker bind every
    interface (reference/docker-engine.md)."""
    try:
        return str(ipaddress.ip_address(bind.strip("[]")))
    except ValueError:
        raise UsageError(
            f"--bind {bind!r} is not an IP address",
            "Use a literal address such as 127.0.0.1 (default) or 0.0.0.0 to expose.",
        ) from None


def validate_port(port: int, what: str = "--port") -> int:
    if not 1 <= port <= 65535:
        raise UsageError(f"{what} {port} is not a TCP port", "Use a number from 1 to 65535.")
    return port


def parse_env(items: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not ENV_KEY_RE.match(key):
            raise UsageError(f"--env {item!r} is not KEY=VALUE", "Example: --env OLLAMA_DEBUG=1")
        env[key] = value
    return env


def plan_container(
    profile: Profile, opts: UpOptions, *, host_port: int, gpu_available: bool
) -> ContainerSpec:
    """The container llmctl will run for ``profile``. ``host_port`` is already chosen
    (an explicit --port, the profile default, or the next free port)."""
    instance = opts.name or profile.name
    if not INSTANCE_RE.match(instance):
        raise UsageError(
            f"--name {instance!r} is not a valid name",
            "Use lower-case letters, digits, '.', '_' or '-' (at most 63 characters).",
        )
    bind = validate_bind(opts.bind)
    validate_port(host_port)
    image = opts.image or profile.image
    problem = validate_image(image)
    if problem:
        raise UsageError(f"--image: {problem}", "Example: --image ollama/ollama:0.17.1")

    volumes = []
    for i, vol in enumerate(profile.volumes):
        name = vol.name
        if i == 0 and opts.volume:
            name = opts.volume
        elif instance != profile.name:
            # A second instance gets its own data unless --volume says otherwise.
            name = f"{instance}-{vol.name}"
        if not VOLUME_RE.match(name):
            raise UsageError(f"--volume {name!r} is not a valid volume name")
        volumes.append(VolumeMount(name, vol.target))
    if opts.volume and not profile.volumes:
        raise UsageError(f"profile {profile.name!r} has no volume to rename with --volume")

    if opts.gpus == "all":
        gpus = True
    elif opts.gpus == "none":
        gpus = False
    elif opts.gpus == "auto":
        gpus = gpu_available and profile.gpu != "none"
    else:
        raise UsageError(f"--gpus {opts.gpus!r} is not one of auto, all, none")

    env = {**profile.env, **opts.env}
    ports = (PortBinding(bind, host_port, profile.container_port),)
    hashed = {
        "image": image, "command": list(profile.command), "env": env,
        "ports": [asdict(p) for p in ports], "volumes": [asdict(v) for v in volumes],
        "gpus": gpus,
    }
    labels = {
        LABEL_MANAGED: "true",
        LABEL_PROFILE: profile.name,
        LABEL_INSTANCE: instance,
        LABEL_API: profile.api,
        LABEL_PORT: str(profile.container_port),
        LABEL_SPEC_HASH: spec_hash(hashed),
        LABEL_VERSION: __version__,
    }
    return ContainerSpec(
        name=container_name(instance), instance=instance, profile=profile.name,
        api=profile.api, image=image, command=profile.command, env=env, ports=ports,
        volumes=tuple(volumes), gpus=gpus, labels=labels,
    )
