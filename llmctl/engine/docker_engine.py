"""Apply container specs to a real Docker daemon through the Docker SDK.

Rules from reference/docker-engine.md: create then start (and remove what we created when
start fails), publish on a literal IP, branch on status codes (404/409/500), catch transport
errors beyond DockerException, pull with the streaming API and treat ``errorDetail`` as an
error, and act only on objects labelled ``io.llmctl.*``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from llmctl.engine.model import (
    ContainerInfo,
    DaemonTarget,
    EngineFacts,
    ImageDigests,
    PublishedPort,
)
from llmctl.errors import (
    ConflictError,
    EngineUnavailable,
    LlmctlError,
    NotFoundError,
    PortTakenOnStart,
    ServerError,
)
from llmctl.plan import LABEL_MANAGED, ContainerFile, ContainerSpec
from llmctl.progress import ProgressEvent, ProgressSink, null_sink

if TYPE_CHECKING:
    import docker

NETWORK = "llmctl"
PORT_TAKEN_RE = re.compile(
    r"port is already allocated|address already in use|ports are not available|"
    r"only one usage of each socket address",
    re.IGNORECASE,
)
GPU_REFUSED_RE = re.compile(r"could not select device driver|nvidia-container-cli|no devices",
                            re.IGNORECASE)


@contextlib.contextmanager
def engine_errors(target: DaemonTarget) -> Iterator[None]:
    """Map a lost daemon (requests' ConnectionError, not DockerException) to one error."""
    import docker
    import requests

    try:
        yield
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise EngineUnavailable(
            f"lost contact with the Docker daemon at {target.host}: {str(exc)[:160]}",
            "Check that Docker is still running.",
        ) from exc
    except docker.errors.DockerException as exc:
        if isinstance(exc, docker.errors.APIError):
            raise
        raise EngineUnavailable(f"Docker error: {str(exc)[:200]}") from exc


def _port_map(spec: ContainerSpec) -> dict[str, list[tuple[str, int]]]:
    """Docker SDK ports: one container port may be published on several host IPs."""
    mapping: dict[str, list[tuple[str, int]]] = {}
    for p in spec.ports:
        mapping.setdefault(f"{p.container_port}/tcp", []).append((p.host_ip, p.host_port))
    return mapping


def _tar_of(files: Iterable[ContainerFile]) -> bytes:
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


def _container_info(c: Any) -> ContainerInfo:
    attrs = c.attrs
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
        id=c.id, name=c.name, state=state.get("Status", "unknown"), image=image,
        labels=dict(config.get("Labels") or {}), ports=tuple(ports),
        volumes=tuple(v for v in volumes if v), exit_code=state.get("ExitCode"),
        image_id=str(attrs.get("Image") or ""), env_keys=env_names(config.get("Env")),
        gpus=bool((attrs.get("HostConfig") or {}).get("DeviceRequests")),
    )


def env_names(env: Any) -> tuple[str, ...]:
    """The sorted names of a ``KEY=VALUE`` list (Docker's Config.Env); values are dropped
    here, in the engine layer, so that no secret leaves it this way."""
    return tuple(sorted({str(item).split("=", 1)[0] for item in env or ()}))


class DockerEngine:
    """A connected daemon through the Docker SDK: implements
    :class:`llmctl.engine.model.Engine`. Every method may raise EngineUnavailable."""

    def __init__(self, client: docker.DockerClient, target: DaemonTarget) -> None:
        self.client = client
        self.target = target
        self._facts: EngineFacts | None = None

    # --- facts ---------------------------------------------------------------------------
    def facts(self) -> EngineFacts:
        if self._facts is None:
            with engine_errors(self.target):
                info = self.client.info()
                version = self.client.version()
            self._facts = facts_from(info, version)
        return self._facts

    @property
    def address_host(self) -> str:
        return self.target.address_host

    # --- containers ----------------------------------------------------------------------
    def get(self, name: str) -> ContainerInfo | None:
        import docker

        with engine_errors(self.target):
            try:
                return _container_info(self.client.containers.get(name))
            except docker.errors.NotFound:
                return None

    def list_managed(self, **labels: str) -> list[ContainerInfo]:
        filters = [f"{LABEL_MANAGED}=true", *(f"{k}={v}" for k, v in labels.items())]
        with engine_errors(self.target):
            found = self.client.containers.list(all=True, filters={"label": filters},
                                               ignore_removed=True)
            return [_container_info(c) for c in found]

    def list_all(self) -> list[ContainerInfo]:
        with engine_errors(self.target):
            return [_container_info(c)
                    for c in self.client.containers.list(all=True, ignore_removed=True)]

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        """Create then start ``spec``. On a failed start, remove what we created and raise.
        Raises ConflictError(details={"reason": "name"}) when the name exists (409)."""
        import docker

        kwargs: dict[str, Any] = dict(
            image=spec.image,
            command=list(spec.command) or None,
            name=spec.name,
            # env plus secrets: the only place the secret values go (docker inspect shows
            # a container's environment; the docs say so and suggest mounting the cache).
            environment=spec.environment,
            labels=dict(spec.labels),
            # A literal IP: a host name would make the daemon bind every interface.
            ports=_port_map(spec),
            volumes={v.name: {"bind": v.target, "mode": "rw"} for v in spec.volumes},
            restart_policy={"Name": spec.restart} if spec.restart != "no" else None,
            detach=True,
            network=NETWORK,
        )
        if spec.mounts:
            kwargs["mounts"] = [
                docker.types.Mount(m.target, m.source, type="bind", read_only=m.read_only)
                for m in spec.mounts
            ]
        if spec.shm_size:
            kwargs["shm_size"] = spec.shm_size
        if spec.ipc_mode:
            kwargs["ipc_mode"] = spec.ipc_mode
        if spec.gpus:
            kwargs["device_requests"] = [
                docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])
            ]
        with engine_errors(self.target):
            self.ensure_network()
            for v in spec.volumes:
                self.ensure_volume(v.name, {LABEL_MANAGED: "true",
                                            "io.llmctl.instance": spec.instance})
            try:
                container = self.client.containers.create(**kwargs)
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    raise ConflictError(
                        f"a container named {spec.name} already exists",
                        details={"reason": "name"},
                    ) from exc
                if exc.status_code == 404:
                    raise NotFoundError(f"image {spec.image} is not present") from exc
                raise ServerError(f"Docker refused to create {spec.name}: "
                                  f"{exc.explanation or exc}") from exc
            try:
                if spec.files:
                    # Secret configs go in as files (never env, labels or argv: `docker
                    # inspect` and `ps` show those), before the process starts.
                    container.put_archive("/", _tar_of(spec.files))
                container.start()
            except BaseException as exc:
                # Writing the files or the start failed (port taken, GPU refused) or we were
                # interrupted: the container is left in "created" state, so remove it.
                with contextlib.suppress(Exception):
                    container.remove(force=True)
                if isinstance(exc, docker.errors.APIError):
                    raise self._start_error(spec, exc) from exc
                raise
            container.reload()
            return _container_info(container)

    def _start_error(self, spec: ContainerSpec, exc: Any) -> LlmctlError:
        text = str(exc.explanation or exc)
        if PORT_TAKEN_RE.search(text):
            return PortTakenOnStart(
                f"port {spec.bind}:{spec.host_port} is already in use",
                details={"port": spec.host_port},
            )
        if GPU_REFUSED_RE.search(text):
            return ServerError(
                f"this Docker engine cannot give the container a GPU ({text[:120]})",
                "Run on the CPU with `--gpus none` (or install the NVIDIA Container Toolkit).",
            )
        return ServerError(f"Docker could not start {spec.name}: {text[:300]}")

    def start(self, name: str) -> ContainerInfo:
        import docker

        with engine_errors(self.target):
            c = self.client.containers.get(name)
            try:
                c.start()
            except docker.errors.APIError as exc:
                raise ServerError(f"Docker could not start {name}: {exc.explanation or exc}",
                                  "See `docker logs " + name + "`.") from exc
            c.reload()
            return _container_info(c)

    def remove(self, name: str, *, stop_timeout: int = 10) -> bool:
        """Stop and remove a container; False when it was already gone."""
        import docker

        with engine_errors(self.target):
            try:
                c = self.client.containers.get(name)
            except docker.errors.NotFound:
                return False
            with contextlib.suppress(docker.errors.APIError):
                if c.status == "running":
                    c.stop(timeout=stop_timeout)
            try:
                # v: its anonymous volumes too (an image's VOLUME that nothing was mounted
                # on, e.g. the official Caddy image's /config); named volumes are kept.
                c.remove(force=True, v=True)
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # removal already in progress elsewhere
                    return True
                raise
            return True

    def logs_tail(self, name: str, lines: int = 20) -> list[str]:
        import docker

        with engine_errors(self.target):
            try:
                raw = self.client.containers.get(name).logs(tail=lines)
            except docker.errors.NotFound:
                return []
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # marked for removal: its logs are gone
                    return []
                raise
        return raw.decode("utf-8", "replace").splitlines()[-lines:]

    # --- volumes and networks --------------------------------------------------------------
    def ensure_network(self) -> None:
        import docker

        try:
            self.client.networks.get(NETWORK)
        except docker.errors.NotFound:
            try:
                self.client.networks.create(NETWORK, labels={LABEL_MANAGED: "true"})
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise

    def has_network(self, name: str = NETWORK) -> bool:
        import docker

        with engine_errors(self.target):
            try:
                self.client.networks.get(name)
                return True
            except docker.errors.NotFound:
                return False

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        import docker

        try:
            self.client.volumes.get(name)
        except docker.errors.NotFound:
            self.client.volumes.create(name, labels=labels)  # idempotent on races

    def bridge_gateway(self) -> str | None:
        """The default bridge's gateway IP (docker0, e.g. 172.17.0.1): how containers on
        the default network reach ports published on it. None when there is none."""
        import docker

        with engine_errors(self.target):
            try:
                ipam = self.client.networks.get("bridge").attrs.get("IPAM") or {}
            except docker.errors.NotFound:
                return None
        for cfg in ipam.get("Config") or []:
            if cfg.get("Gateway"):
                return str(cfg["Gateway"])
            if cfg.get("Subnet") and ":" not in cfg["Subnet"]:
                # Older engines (20.10) omit Gateway for the default bridge: the daemon
                # gives it the subnet's first address.
                import ipaddress

                return str(next(ipaddress.ip_network(cfg["Subnet"], strict=False).hosts()))
        return None

    def volume_labels(self, name: str) -> dict[str, str] | None:
        import docker

        with engine_errors(self.target):
            try:
                return dict(self.client.volumes.get(name).attrs.get("Labels") or {})
            except docker.errors.NotFound:
                return None

    def remove_volume(self, name: str) -> bool:
        import docker

        with engine_errors(self.target):
            try:
                self.client.volumes.get(name).remove()
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    raise ConflictError(
                        f"volume {name} is still in use by a container",
                        "Stop the container that uses it first (`docker ps -a --filter "
                        f"volume={name}`).",
                    ) from exc
                raise
            return True

    # --- images ----------------------------------------------------------------------------
    def image_present(self, image: str) -> bool:
        import docker

        with engine_errors(self.target):
            try:
                self.client.images.get(image)
                return True
            except docker.errors.ImageNotFound:
                return False

    def pull_image(
        self, image: str, on_event: ProgressSink = null_sink, *, stall_timeout: float = 120.0,
        alternative: str | None = None,
    ) -> None:
        """Pull with the streaming API: per-layer progress, errorDetail is an error, and a
        stall (no new bytes for ``stall_timeout`` s) ends the pull. ``alternative`` names
        how the caller's user picks another image (``--image REF``), for the error hint."""
        import docker
        import requests

        repo, tag = split_image(image)
        api = self.client.api
        # The socket read timeout doubles as the watchdog for a silent stream.
        saved_timeout, api.timeout = api.timeout, stall_timeout
        on_event(ProgressEvent("image", "pulling", subject=image))
        last_change = time.monotonic()
        seen: dict[str, tuple[int | None, int | None]] = {}
        try:
            with engine_errors(self.target):
                stream = api.pull(repo, tag=tag, stream=True, decode=True)
                for ev in stream:
                    if "errorDetail" in ev or "error" in ev:
                        msg = (ev.get("errorDetail") or {}).get("message") or ev.get("error")
                        raise image_pull_error(image, str(msg), alternative)
                    layer = ev.get("id")
                    status = str(ev.get("status", ""))
                    detail = ev.get("progressDetail") or {}
                    cur, tot = detail.get("current"), detail.get("total")
                    done = status in ("Pull complete", "Already exists", "Download complete")
                    key = (cur, tot) if not done else (-1, -1)
                    if layer and seen.get(layer) != key:
                        seen[layer] = key
                        last_change = time.monotonic()
                    elif time.monotonic() - last_change > stall_timeout:
                        raise ServerError(
                            f"pulling {image} stalled: no progress for {stall_timeout:g} s",
                            "Check the network or registry, then run the command again.",
                        )
                    on_event(ProgressEvent(
                        "image", status, layer=layer if layer and layer != tag else None,
                        current=cur, total=tot, done=done, subject=image,
                    ))
        except docker.errors.APIError as exc:
            raise image_pull_error(image, str(exc.explanation or exc), alternative) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise ServerError(
                f"pulling {image} stalled: nothing received for {stall_timeout:g} s",
                "Check the network or registry, then run the command again.",
            ) from exc
        finally:
            api.timeout = saved_timeout
        if not self.image_present(image):
            raise image_pull_error(image, "the pull ended but the image is not there",
                                   alternative)
        on_event(ProgressEvent("image", "pulled", done=True, subject=image))

    def image_digests(self, image: str) -> ImageDigests | None:
        """The ID, registry digests and environment names of ``image`` (a reference or an
        ID); None when it is not present."""
        import docker

        with engine_errors(self.target):
            try:
                attrs = self.client.api.inspect_image(image)
            except docker.errors.NotFound:
                return None
            except docker.errors.APIError as exc:
                if exc.status_code in (400, 404):  # not present, or not a reference at all
                    return None
                raise
        return ImageDigests(
            id=str(attrs.get("Id") or ""),
            repo_digests=tuple(sorted(str(d) for d in attrs.get("RepoDigests") or ())),
            env_keys=env_names((attrs.get("Config") or {}).get("Env")),
        )

    # --- files -------------------------------------------------------------------------------
    def read_file(self, name: str, path: str, *, limit: int = 1 << 20) -> bytes | None:
        """The regular file ``path`` in container ``name`` (running or not), through the
        archive API: None when the container or the file does not exist, ServerError when
        it is larger than ``limit`` bytes or not a regular file."""
        import io
        import tarfile

        import docker

        with engine_errors(self.target):
            try:
                stream, stat = self.client.api.get_archive(name, path)
            except docker.errors.NotFound:
                return None
            size = int((stat or {}).get("size") or 0)
            if size > limit:
                raise ServerError(f"{path} in {name} is {size} bytes, more than the "
                                  f"{limit} expected")
            raw = io.BytesIO()
            for chunk in stream:
                raw.write(chunk)
                if raw.tell() > limit + 64 * 1024:  # the file plus its tar headers
                    raise ServerError(f"{path} in {name} is larger than {limit} bytes")
        raw.seek(0)
        with tarfile.open(fileobj=raw) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            if member is None:
                raise ServerError(f"{path} in {name} is not a regular file")
            handle = tar.extractfile(member)
            return handle.read() if handle is not None else None

    # --- ports -------------------------------------------------------------------------------
    def published_ports(self) -> list[tuple[ContainerInfo, PublishedPort]]:
        """Every port published by a running container (ours or not)."""
        with engine_errors(self.target):
            running = self.client.containers.list(filters={"status": "running"},
                                                 ignore_removed=True)
            infos = [_container_info(c) for c in running]
        return [(c, p) for c in infos for p in c.ports]


# What dockerd says when it cannot reach a registry at all: DNS, routes, proxies, TLS.
UNREACHABLE_RE = re.compile(
    r"no such host|server misbehaving|lookup \S+ on|dial tcp|i/o timeout|connection refused|"
    r"network is unreachable|no route to host|tls handshake timeout|proxyconnect|"
    r"request canceled while waiting for connection|client\.timeout exceeded|"
    r"temporary failure in name resolution|connection reset by peer",
    re.IGNORECASE,
)
DENIED_RE = re.compile(r"unauthorized|authentication required|denied|forbidden",
                       re.IGNORECASE)


def image_pull_error(image: str, message: str, alternative: str | None = None) -> LlmctlError:
    """One error for a failed pull, classified (details["reason"]: not-found, denied,
    unreachable, failed) with the fix for that case."""
    text = message.strip()
    low = text.lower()
    other = (f"use a local image or a mirror's copy instead ({alternative}), or "
             if alternative else "")
    if "not found" in low or "manifest unknown" in low or "does not exist" in low \
            or "pull access denied" in low:
        return NotFoundError(
            f"image {image} was not found in its registry ({text[:160]})",
            "Check the image name and tag; llmctl never falls back to another tag.",
            details={"reason": "not-found", "image": image},
        )
    if UNREACHABLE_RE.search(text):
        return ServerError(
            f"pulling image {image} failed: this Docker engine cannot reach its registry "
            f"({text[:200]})",
            f"Check the network, DNS and proxy of the Docker daemon; or {other}bring the "
            f"image from a machine that can pull it: `docker pull {image}` and `docker save "
            f"{image} -o image.tar` there, `docker load -i image.tar` here.",
            details={"reason": "unreachable", "image": image},
        )
    if DENIED_RE.search(text):
        return ServerError(
            f"pulling image {image} was refused by its registry ({text[:200]})",
            f"Log in to that registry (`docker login`), or {other}check the name.",
            details={"reason": "denied", "image": image},
        )
    return ServerError(
        f"pulling image {image} failed: {text[:200]}",
        f"Check the network and registry access and run the command again; or {other}"
        f"load the image yourself (`docker pull {image}` / `docker load`).",
        details={"reason": "failed", "image": image},
    )


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
