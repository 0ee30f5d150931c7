"""Docker Engine API documents to and from llmctl's data: pure, no daemon.

What :class:`~llmctl.engine.docker_engine.DockerEngine` sends (the create document, a tar of
files to put into a container) and reads (a container's inspect document, logs, `docker
info` and `docker version`). A unit test compares the create document with the one the
docker SDK sends for the same options.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from llmctl.engine.model import ContainerInfo, EngineFacts, PublishedPort
from llmctl.plan import ContainerFile, ContainerSpec

# The user-defined network llmctl's servers join: other containers reach them by name.
NETWORK = "llmctl"


def _port_map(spec: ContainerSpec) -> dict[str, list[tuple[str, int]]]:
    """Container port -> host bindings: one container port may be published on several IPs."""
    mapping: dict[str, list[tuple[str, int]]] = {}
    for p in spec.ports:
        mapping.setdefault(f"{p.container_port}/tcp", []).append((p.host_ip, p.host_port))
    return mapping


_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _bytes(size: str) -> int:
    """Docker's size strings (``1g``, ``512m``, ``67108864``) in bytes (profiles checked the
    form: SHM_RE)."""
    size = size.strip().lower()
    if size[-1:] in _UNITS:
        return int(size[:-1]) * _UNITS[size[-1]]
    return int(size)


def create_body(spec: ContainerSpec, network: str = NETWORK) -> dict[str, Any]:
    """The ``POST /containers/create`` document for ``spec``: what the docker SDK's
    ``containers.create`` sends for the same options (a unit test compares them)."""
    ports = _port_map(spec)
    host: dict[str, Any] = {
        # A literal IP: a host name would make the daemon bind every interface.
        "PortBindings": {key: [{"HostIp": ip, "HostPort": str(port)} for ip, port in binds]
                         for key, binds in ports.items()},
        "NetworkMode": network,
    }
    if spec.volumes:
        host["Binds"] = [f"{v.name}:{v.target}:rw" for v in spec.volumes]
    if spec.mounts:
        host["Mounts"] = [{"Target": m.target, "Source": m.source, "Type": "bind",
                           "ReadOnly": m.read_only} for m in spec.mounts]
    if spec.restart != "no":
        host["RestartPolicy"] = {"Name": spec.restart}
    if spec.shm_size:
        host["ShmSize"] = _bytes(spec.shm_size)
    if spec.ipc_mode:
        host["IpcMode"] = spec.ipc_mode
    if spec.gpus:
        host["DeviceRequests"] = [{"Driver": "", "Count": -1, "DeviceIDs": [],
                                   "Capabilities": [["gpu"]], "Options": {}}]
    body: dict[str, Any] = {
        "Image": spec.image,
        # env plus secrets: the only place the secret values go (docker inspect shows a
        # container's environment; the docs say so and suggest mounting the cache).
        "Env": [f"{k}={v}" for k, v in spec.environment.items()],
        "Labels": dict(spec.labels),
        "ExposedPorts": {key: {} for key in sorted(ports)},
        "HostConfig": host,
    }
    if spec.command:
        body["Cmd"] = list(spec.command)
    if spec.volumes:
        body["Volumes"] = {v.target: {} for v in spec.volumes}
    return body


def tar_of(files: Iterable[ContainerFile]) -> bytes:
    """A tar archive (to extract at ``/``) of ``files``, owned by root, with their folders."""
    import io
    import posixpath
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        folders: set[str] = set()
        for f in files:
            parts = posixpath.dirname(f.path).strip("/").split("/")
            for i in range(len(parts)):
                folder = "/".join(parts[: i + 1])
                if folder and folder not in folders:
                    folders.add(folder)
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(f.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(f.content), f.mode, int(time.time())
            tar.addfile(info, io.BytesIO(f.content))
    return buf.getvalue()


def container_info(attrs: dict[str, Any]) -> ContainerInfo:
    """A container as ``GET /containers/{id}/json`` shows it."""
    ports: list[PublishedPort] = []
    for key, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        cport = int(key.split("/")[0])
        for b in bindings or []:
            ports.append(PublishedPort(b.get("HostIp") or "0.0.0.0", int(b["HostPort"]), cport))
    if not ports:  # a created/exited container: fall back to what was asked for
        asked = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
        for key, bindings in asked.items():
            cport = int(key.split("/")[0])
            for b in bindings or []:
                if b.get("HostPort"):
                    ports.append(
                        PublishedPort(b.get("HostIp") or "0.0.0.0", int(b["HostPort"]), cport)
                    )
    volumes = tuple(
        m.get("Name") for m in attrs.get("Mounts") or [] if m.get("Type") == "volume"
    )
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    image = config.get("Image") or ""
    return ContainerInfo(
        id=str(attrs.get("Id") or ""), name=str(attrs.get("Name") or "").lstrip("/"),
        state=state.get("Status", "unknown"), image=image,
        labels=dict(config.get("Labels") or {}), ports=tuple(ports),
        volumes=tuple(v for v in volumes if v), exit_code=state.get("ExitCode"),
        image_id=str(attrs.get("Image") or ""), env_keys=env_names(config.get("Env")),
        gpus=bool((attrs.get("HostConfig") or {}).get("DeviceRequests")),
    )


def env_names(env: Any) -> tuple[str, ...]:
    """The sorted names of a ``KEY=VALUE`` list (Docker's Config.Env); values are dropped
    here, in the engine layer, so that no secret leaves it this way."""
    return tuple(sorted({str(item).split("=", 1)[0] for item in env or ()}))


def log_text(raw: bytes) -> str:
    """``GET /containers/{id}/logs`` as text: a container without a TTY sends frames of
    ``[stream, 0, 0, 0, size (4 bytes, big-endian)]`` + payload; one with a TTY raw bytes."""
    parts: list[bytes] = []
    i = 0
    while i + 8 <= len(raw) and raw[i] in (0, 1, 2) and raw[i + 1:i + 4] == b"\0\0\0":
        size = int.from_bytes(raw[i + 4:i + 8], "big")
        parts.append(raw[i + 8:i + 8 + size])
        i += 8 + size
    text = b"".join(parts) if parts and i >= len(raw) else raw
    return text.decode("utf-8", "replace")


def split_image(image: str) -> tuple[str, str]:
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, "latest"


def facts_from(info: dict[str, Any], version: dict[str, Any]) -> EngineFacts:
    """Engine kind and capabilities from `docker info` / `docker version` documents."""
    os_name = str(info.get("OperatingSystem") or "")
    platform = str((version.get("Platform") or {}).get("Name") or "")
    components = " ".join(str(c.get("Name", "")) for c in version.get("Components") or [])
    name = str(info.get("Name") or "")
    security = " ".join(info.get("SecurityOptions") or [])
    desktop_version = None
    if os_name == "Docker Desktop" or platform.startswith("Docker Desktop"):
        kind = "Docker Desktop"
        m = re.search(r"Docker Desktop\s+([0-9][0-9.]*)", platform)
        desktop_version = m.group(1) if m else None
    elif "podman" in components.lower() or "podman" in platform.lower():
        kind = "Podman"
    elif "orbstack" in os_name.lower() or "orbstack" in name.lower():
        kind = "OrbStack"
    elif name.lower().startswith("colima") or "colima" in os_name.lower():
        kind = "Colima"
    elif "rancher" in os_name.lower() or name.lower().startswith("lima-rancher"):
        kind = "Rancher Desktop"
    else:
        kind = "Docker Engine"
    runtimes = info.get("Runtimes") or {}
    cdi = info.get("DiscoveredDevices") or []
    return EngineFacts(
        kind=kind,
        version=platform if kind == "Docker Desktop" and platform
        else str(version.get("Version") or info.get("ServerVersion") or ""),
        api_version=str(version.get("ApiVersion") or ""),
        os_type=str(info.get("OSType") or version.get("Os") or ""),
        arch=str(info.get("Architecture") or version.get("Arch") or ""),
        operating_system=os_name,
        rootless="rootless" in security,
        gpu_runtime="nvidia" in runtimes or any(
            "nvidia" in str(d).lower() for d in cdi
        ),
        desktop_version=desktop_version,
    )
