"""Apply container specs to a real Docker daemon through its HTTP API.

Rules from reference/docker-engine.md: create then start (and remove what we created when
start fails), publish on a literal IP, branch on status codes (404/409/500), treat a lost
connection as its own error, pull with the streaming API and treat ``errorDetail`` as an
error, and act only on objects labelled ``io.llmctl.*``.

Requests go through a :mod:`~llmctl.engine.api` transport: the standard library on a unix
or plain TCP socket (no docker SDK import, no version negotiation: the hot paths of `up`,
`down` and `status` pay for neither), or the docker SDK's session for ssh, TLS and named
pipes. The SDK's client (:attr:`DockerEngine.client`) is made on first use, by what still
uses it: pulling images, and `doctor`.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from llmctl.engine.api import Reply, Transport, TransportError, path_of
from llmctl.engine.documents import (
    NETWORK,
    container_info,
    create_body,
    env_names,
    facts_from,
    log_text,
    split_image,
    tar_of,
)
from llmctl.engine.model import (
    ContainerEvent,
    ContainerInfo,
    DaemonTarget,
    EngineFacts,
    ImageDigests,
    PublishedPort,
    Watch,
)
from llmctl.errors import (
    ConflictError,
    EngineUnavailable,
    LlmctlError,
    NotFoundError,
    PortTakenOnStart,
    ServerError,
)
from llmctl.plan import LABEL_MANAGED, ContainerSpec
from llmctl.progress import ProgressEvent, ProgressSink, null_sink

if TYPE_CHECKING:
    import docker

# Seconds a request may take once the daemon has answered its first contact: creating or
# starting a container (GPU hooks, a slow disk) can take seconds; stopping one adds its grace.
CALL_TIMEOUT = 30.0
PORT_TAKEN_RE = re.compile(
    r"port is already allocated|address already in use|ports are not available|"
    r"only one usage of each socket address",
    re.IGNORECASE,
)
GPU_REFUSED_RE = re.compile(r"could not select device driver|nvidia-container-cli|no devices",
                            re.IGNORECASE)


@contextlib.contextmanager
def engine_errors(target: DaemonTarget) -> Iterator[None]:
    """For calls through the docker SDK (:attr:`DockerEngine.client`): map a lost daemon
    (requests' ConnectionError, not DockerException) to one error."""
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


class _EventWatch:
    """Reads one container's events on a thread of its own until closed."""

    def __init__(self, stream: Any, on_event: Callable[[ContainerEvent], None]) -> None:
        self._stream = stream
        self._thread = threading.Thread(target=self._read, args=(on_event,),
                                        name="llmctl-events", daemon=True)
        self._thread.start()

    def _read(self, on_event: Callable[[ContainerEvent], None]) -> None:
        for doc in self._stream:
            attributes = (doc.get("Actor") or {}).get("Attributes") or {}
            code = str(attributes.get("exitCode") or "")
            on_event(ContainerEvent(str(doc.get("Action") or doc.get("status") or ""),
                                    int(code) if code.isdigit() else None))

    def close(self) -> None:
        self._stream.close()
        self._thread.join(timeout=2)


class DockerEngine:
    """A connected daemon: implements :class:`llmctl.engine.model.Engine`. Every method may
    raise EngineUnavailable."""

    def __init__(self, api: Transport, target: DaemonTarget, *,
                 client: docker.DockerClient | None = None,
                 sdk: Callable[[], docker.DockerClient] | None = None) -> None:
        self.api = api
        self.target = target
        self._client = client
        self._sdk = sdk
        self._facts: EngineFacts | None = None

    @property
    def client(self) -> docker.DockerClient:
        """The docker SDK's client for this daemon, made on first use (pulls, `doctor`)."""
        if self._client is None:
            if self._sdk is None:
                raise EngineUnavailable(f"no docker SDK client for {self.target.host}")
            self._client = self._sdk()
        return self._client

    # --- requests --------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                 body: Any = None, timeout: float = CALL_TIMEOUT) -> Reply:
        try:
            return self.api.request(method, path, params=params, body=body, timeout=timeout)
        except TransportError as exc:
            raise EngineUnavailable(
                f"lost contact with the Docker daemon at {self.target.host}: {str(exc)[:160]}",
                "Check that Docker is still running.",
            ) from exc

    def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path``'s document; None on 404; ServerError on any other failure."""
        reply = self._request("GET", path, params=params)
        if reply.status == 404:
            return None
        if reply.status >= 400:
            raise ServerError(f"Docker answered GET {path.split('?')[0]} with HTTP "
                              f"{reply.status}: {reply.message}")
        return self._document(reply, f"GET {path.split('?')[0]}")

    def _document(self, reply: Reply, what: str) -> Any:
        """The JSON document of a successful answer; EngineUnavailable when it is not JSON
        (DOCKER_HOST pointing at a web server, a proxy's error page)."""
        try:
            return reply.json()
        except ValueError:
            raise EngineUnavailable(
                f"{self.target.host} answered {what} with something that is not the Docker "
                f"API: {reply.snippet(80)!r}",
                "Point DOCKER_HOST (or the context) at a Docker daemon (`docker context ls`).",
            ) from None

    # --- facts ---------------------------------------------------------------------------
    def facts(self) -> EngineFacts:
        if self._facts is None:
            # Both at once: each takes the daemon 5 to 15 ms, on the way of every `up`.
            got: dict[str, Any] = {}

            def version() -> None:
                try:
                    got["version"] = self._json("/version")
                except Exception as exc:  # raised below, in the caller's thread
                    got["error"] = exc

            thread = threading.Thread(target=version, name="llmctl-version", daemon=True)
            thread.start()
            info = self._json("/info") or {}
            thread.join()
            if "error" in got:
                raise got["error"]
            self._facts = facts_from(info, got.get("version") or {})
        return self._facts

    @property
    def address_host(self) -> str:
        return self.target.address_host

    # --- containers ----------------------------------------------------------------------
    def get(self, name: str) -> ContainerInfo | None:
        attrs = self._json(path_of("/containers/{}/json", name))
        return container_info(attrs) if attrs is not None else None

    def _list(self, filters: dict[str, list[str]], everything: bool = True) -> list[ContainerInfo]:
        import json

        found = self._json("/containers/json", {"all": everything, "filters": json.dumps(filters)})
        infos = (self.get(c["Id"]) for c in found or [])
        return [c for c in infos if c is not None]  # one removed meanwhile is left out

    def list_managed(self, **labels: str) -> list[ContainerInfo]:
        return self._list({"label": [f"{LABEL_MANAGED}=true",
                                     *(f"{k}={v}" for k, v in labels.items())]})

    def list_all(self) -> list[ContainerInfo]:
        return self._list({})

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        """Create then start ``spec``. On a failed start, remove what we created and raise.
        Raises ConflictError(details={"reason": "name"}) when the name exists (409)."""
        self.ensure_network()
        for v in spec.volumes:
            self.ensure_volume(v.name, {LABEL_MANAGED: "true",
                                        "io.llmctl.instance": spec.instance})
        reply = self._request("POST", "/containers/create", params={"name": spec.name},
                              body=create_body(spec))
        if reply.status == 409:
            raise ConflictError(f"a container named {spec.name} already exists",
                                details={"reason": "name"})
        if reply.status == 404:
            raise NotFoundError(f"image {spec.image} is not present")
        if reply.status >= 400:
            raise ServerError(f"Docker refused to create {spec.name}: {reply.message}")
        cid = str((self._document(reply, "POST /containers/create") or {}).get("Id")
                  or spec.name)
        try:
            if spec.files:
                # Secret configs go in as files (never env, labels or argv: `docker
                # inspect` and `ps` show those), before the process starts.
                put = self._request("PUT", path_of("/containers/{}/archive", cid),
                                    params={"path": "/"}, body=tar_of(spec.files))
                if put.status >= 400:
                    raise ServerError(f"Docker could not write the files of {spec.name}: "
                                      f"{put.message}")
            started = self._request("POST", path_of("/containers/{}/start", cid))
            if started.status >= 400:
                raise self._start_error(spec, started.message)
        except BaseException:
            # Writing the files or the start failed (port taken, GPU refused) or we were
            # interrupted: the container is left in "created" state, so remove what we made.
            with contextlib.suppress(Exception):
                self._request("DELETE", path_of("/containers/{}", cid), params={"force": True})
            raise
        info = self.get(cid)
        if info is None:
            raise NotFoundError(f"{spec.name} was removed while it was starting")
        return info

    def _start_error(self, spec: ContainerSpec, text: str) -> LlmctlError:
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
        """Start a stopped container; NotFoundError when there is none by that name."""
        reply = self._request("POST", path_of("/containers/{}/start", name))
        if reply.status == 404:
            raise NotFoundError(f"no container named {name}")
        if reply.status >= 400:  # 304: already running
            raise ServerError(f"Docker could not start {name}: {reply.message}",
                              "See `docker logs " + name + "`.")
        info = self.get(name)
        if info is None:
            raise NotFoundError(f"{name} was removed while it was starting")
        return info

    def remove(self, name: str, *, stop_timeout: int = 10) -> bool:
        """Stop (SIGTERM, then SIGKILL after ``stop_timeout`` s) and remove a container;
        False when it was already gone."""
        stopped = self._request("POST", path_of("/containers/{}/stop", name),
                                params={"t": stop_timeout}, timeout=CALL_TIMEOUT + stop_timeout)
        if stopped.status == 404:
            return False
        # 304: not running. Any other failure to stop: the forced removal below kills it.
        # v: its anonymous volumes too (an image's VOLUME that nothing was mounted on, e.g.
        # the official Caddy image's /config); named volumes are kept.
        reply = self._request("DELETE", path_of("/containers/{}", name),
                              params={"force": True, "v": True})
        if reply.status == 404:
            return False
        if reply.status == 409:  # removal already in progress elsewhere
            return True
        if reply.status >= 400:
            raise ServerError(f"Docker could not remove {name}: {reply.message}")
        return True

    def logs_tail(self, name: str, lines: int = 20) -> list[str]:
        reply = self._request("GET", path_of("/containers/{}/logs", name),
                              params={"stdout": True, "stderr": True, "tail": lines})
        if reply.status in (404, 409):  # gone, or marked for removal: its logs are gone
            return []
        if reply.status >= 400:
            raise ServerError(f"Docker could not read the logs of {name}: {reply.message}")
        return log_text(reply.body).splitlines()[-lines:]

    def watch(self, name: str, on_event: Callable[[ContainerEvent], None]) -> Watch:
        """Call ``on_event`` (on another thread) for each event of the container ``name``
        (``die`` with its exit code, ``destroy``, ``health_status: healthy``, ...) from now
        until the returned watch is closed."""
        try:
            stream = self.api.events({"type": ["container"], "container": [name]})
        except TransportError as exc:
            raise EngineUnavailable(
                f"cannot follow the events of the Docker daemon at {self.target.host}: "
                f"{str(exc)[:160]}") from exc
        return _EventWatch(stream, on_event)

    # --- volumes and networks --------------------------------------------------------------
    def ensure_network(self) -> None:
        if self.has_network(NETWORK):
            return
        reply = self._request("POST", "/networks/create", body={
            "Name": NETWORK, "Labels": {LABEL_MANAGED: "true"}, "CheckDuplicate": True})
        if reply.status >= 400 and reply.status != 409:
            raise ServerError(f"Docker could not create the network {NETWORK}: {reply.message}")

    def has_network(self, name: str = NETWORK) -> bool:
        return self._json(path_of("/networks/{}", name)) is not None

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        if self.volume_labels(name) is not None:
            return
        # Creating a volume that exists is no error: two runs at once both succeed.
        reply = self._request("POST", "/volumes/create", body={"Name": name, "Labels": labels})
        if reply.status >= 400:
            raise ServerError(f"Docker could not create the volume {name}: {reply.message}")

    def bridge_gateway(self) -> str | None:
        """The default bridge's gateway IP (docker0, e.g. 172.17.0.1): how containers on
        the default network reach ports published on it. None when there is none."""
        network = self._json("/networks/bridge")
        if network is None:
            return None
        ipam = network.get("IPAM") or {}
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
        volume = self._json(path_of("/volumes/{}", name))
        return None if volume is None else dict(volume.get("Labels") or {})

    def remove_volume(self, name: str) -> bool:
        reply = self._request("DELETE", path_of("/volumes/{}", name))
        if reply.status == 404:
            return False
        if reply.status == 409:
            raise ConflictError(
                f"volume {name} is still in use by a container",
                "Stop the container that uses it first (`docker ps -a --filter "
                f"volume={name}`).",
            )
        if reply.status >= 400:
            raise ServerError(f"Docker could not remove the volume {name}: {reply.message}")
        return True

    # --- images ----------------------------------------------------------------------------
    def image_present(self, image: str) -> bool:
        return self._json(path_of("/images/{}/json", image)) is not None

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
        reply = self._request("GET", path_of("/images/{}/json", image))
        if reply.status in (400, 404):  # not present, or not a reference at all
            return None
        if reply.status >= 400:
            raise ServerError(f"Docker could not inspect the image {image}: {reply.message}")
        attrs = self._document(reply, "GET /images/.../json") or {}
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
        infos = self._list({"status": ["running"]}, everything=False)
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
