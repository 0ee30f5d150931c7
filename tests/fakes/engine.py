"""One in-memory Docker engine for tests: stands in for a connected daemon, that is for
``llmctl.engine.docker_engine.DockerEngine`` (what ``llmctl.engine.connect()`` returns).

Its public methods are the real class's, with the same signatures (a test compares them),
the same return values and the same errors for the cases the real one handles: a name taken
(ConflictError, ``details["reason"] == "name"``), an image not present (NotFoundError), a
host port another running container publishes (PortTakenOnStart when created, ServerError
when started), a volume still in use (ConflictError), a missing container on ``start``
(NotFoundError). tests/integration/test_fake_engine.py runs the same scenario against the
real engine and this one.

What the daemon holds is plain data the test sets and reads:

- ``containers``: name -> ContainerInfo; ``volumes``: name -> labels; ``images``,
  ``networks``: sets of names; ``logs``: container name -> its log lines;
- images by digest: ``digests`` (reference -> ImageDigests of a present image; an image in
  ``images`` without one is a local image: its ID is made from its name, no repo digest),
  ``remote`` (reference -> what pulling it gives: a tag, or ``repo@sha256:...``); files in
  containers: ``files`` ((container, path) -> bytes: a spec's files once it runs, or what a
  test puts there);
- what it says about itself: ``facts`` (an EngineFacts), or ``recorded``, the name (or the
  loaded document) of a recorded ``docker info``/``docker version`` pair in
  tests/fixtures/engines/, which also gives ``client.info()``/``client.version()`` and the
  daemon target; neither: the recorded Docker Engine 20.10 on Linux;
- what the code under test did: ``created``, ``started``, ``removed`` (every name asked
  for, found or not), ``pulled``;
- knobs: ``race`` (the next ``run`` loses to a twin created first: 409), ``read_only``
  (any call that would change the daemon fails the test: dry runs), ``gateway`` (the default
  bridge's gateway, None for none), ``written`` ({path: content} that every container's
  process writes once it runs, such as a proxy's generated CA certificate);
- events: ``watch`` delivers what happens to a container from then on (``die`` with its
  exit code when the test calls ``exit(name, code)``, ``destroy`` on ``remove``), on the
  caller's thread; ``wait_watched()`` blocks until a watch is open (a test acts then).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from llmctl.engine import ContainerInfo, DaemonTarget, EngineFacts
from llmctl.engine.documents import NETWORK, facts_from
from llmctl.engine.model import ContainerEvent, ImageDigests, PublishedPort
from llmctl.errors import ConflictError, NotFoundError, PortTakenOnStart, ServerError
from llmctl.plan import LABEL_INSTANCE, LABEL_MANAGED, ContainerSpec
from llmctl.progress import ProgressEvent, ProgressSink, null_sink

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "engines"
LOCAL = DaemonTarget("unix:///var/run/docker.sock", "default", "default")


def recorded_engine(name: str) -> dict[str, Any]:
    """A recorded daemon (tests/fixtures/engines/NAME.json): ``info``, ``version``, the
    ``target`` it was reached at and the ``host`` it runs on."""
    doc: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    return doc


class FakeEngine:
    """A connected Docker daemon as data (see the module docstring)."""

    def __init__(
        self,
        facts: EngineFacts | None = None,
        containers: Iterable[ContainerInfo] = (),
        *,
        recorded: str | Mapping[str, Any] | None = None,
        target: DaemonTarget | None = None,
        volumes: Mapping[str, Mapping[str, str]] | Iterable[str] | None = None,
        images: Iterable[str] | None = None,
        network: bool = False,
        gateway: str | None = "172.17.0.1",
        logs: Mapping[str, list[str]] | None = None,
        read_only: bool = False,
    ) -> None:
        if facts is not None and recorded is not None:
            raise TypeError("give facts or recorded documents, not both")
        docs: dict[str, Any] | None = None
        if isinstance(recorded, Mapping):
            docs = dict(recorded)
        elif facts is None:
            docs = recorded_engine(recorded or "engine-linux")
        self._facts = facts
        self._docs = docs
        self.target = target or (DaemonTarget(**docs["target"]) if docs else LOCAL)
        self._client = SimpleNamespace(info=self._info_doc, version=self._version_doc)
        self.containers: dict[str, ContainerInfo] = {c.name: c for c in containers}
        # A container's image and volumes exist unless the test says otherwise.
        if volumes is None:
            volumes = [v for c in self.containers.values() for v in c.volumes]
        if isinstance(volumes, Mapping):
            self.volumes = {name: dict(labels) for name, labels in volumes.items()}
        else:
            self.volumes = {name: {LABEL_MANAGED: "true"} for name in volumes}
        self.images: set[str] = set(
            images if images is not None else (c.image for c in self.containers.values()))
        self.networks: set[str] = {"bridge", "host", "none"} | ({NETWORK} if network else set())
        self.gateway = gateway
        self.logs: dict[str, list[str]] = {k: list(v) for k, v in (logs or {}).items()}
        self.digests: dict[str, ImageDigests] = {}
        self.remote: dict[str, ImageDigests] = {}
        self.files: dict[tuple[str, str], bytes] = {}
        self.written: dict[str, bytes] = {}
        self.read_only = read_only
        self.race = False
        self.created: list[str] = []
        self.started: list[str] = []
        self.removed: list[str] = []
        self.pulled: list[str] = []
        self._watchers: list[tuple[str, Callable[[ContainerEvent], None]]] = []
        self._watch_lock = threading.Condition()

    @property
    def client(self) -> SimpleNamespace:
        """``info()`` and ``version()``: the recorded documents (what `doctor` reads)."""
        return self._client

    def add(self, *containers: ContainerInfo) -> None:
        """Containers someone else made (another tool, a user, an earlier run)."""
        for c in containers:
            self.containers[c.name] = c
            self.images.add(c.image)
            for v in c.volumes:
                self.volumes.setdefault(v, {LABEL_MANAGED: "true"})

    # --- facts ---------------------------------------------------------------------------
    def facts(self) -> EngineFacts:
        if self._facts is not None:
            return self._facts
        assert self._docs is not None
        return facts_from(self._docs["info"], self._docs["version"])

    def _info_doc(self) -> dict[str, Any]:
        return dict(self._recorded()["info"])

    def _version_doc(self) -> dict[str, Any]:
        return dict(self._recorded()["version"])

    def _recorded(self) -> dict[str, Any]:
        if self._docs is None:
            raise AssertionError("this FakeEngine was given facts, not recorded documents: "
                                 "pass recorded=NAME for client.info()/version()")
        return self._docs

    @property
    def address_host(self) -> str:
        return self.target.address_host

    # --- containers ----------------------------------------------------------------------
    def get(self, name: str) -> ContainerInfo | None:
        return self.containers.get(name)

    def list_managed(self, **labels: str) -> list[ContainerInfo]:
        want = {LABEL_MANAGED: "true", **labels}
        return [c for c in self.containers.values()
                if all(c.labels.get(k) == v for k, v in want.items())]

    def list_all(self) -> list[ContainerInfo]:
        return list(self.containers.values())

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        self._writes("created a container")
        # in the real one's order: network and volumes, create (409, 404), start
        self.ensure_network()
        for v in spec.volumes:
            self.ensure_volume(v.name, {LABEL_MANAGED: "true", LABEL_INSTANCE: spec.instance})
        if self.race:  # another `up` created the same name between our look and our create
            self.race = False
            self.containers[spec.name] = _info(spec)
        if spec.name in self.containers:
            raise ConflictError(f"a container named {spec.name} already exists",
                                details={"reason": "name"})
        if spec.image not in self.images:
            raise NotFoundError(f"image {spec.image} is not present")
        found = self.image_digests(spec.image)
        made = replace(_info(spec), image_id=found.id if found else "")
        if self._port_taken(made):  # refused at start: what was created is removed
            raise PortTakenOnStart(f"port {spec.bind}:{spec.host_port} is already in use",
                                   details={"port": spec.host_port})
        self.containers[spec.name] = made
        for path, content in {**{f.path: f.content for f in spec.files},
                              **self.written}.items():
            self.files[(spec.name, path)] = content
        self.created.append(spec.name)
        return made

    def start(self, name: str) -> ContainerInfo:
        self._writes("started a container")
        if name not in self.containers:
            raise NotFoundError(f"no container named {name}")
        running = replace(self.containers[name], state="running", exit_code=0)
        taken = self._port_taken(running)
        if taken:
            raise ServerError(f"Docker could not start {name}: driver failed programming "
                              f"external connectivity: Bind for {taken} failed: port is "
                              "already allocated", "See `docker logs " + name + "`.")
        self.containers[name] = running
        self.started.append(name)
        return running

    def remove(self, name: str, *, stop_timeout: int = 10) -> bool:
        self._writes("removed a container")
        self.removed.append(name)
        for key in [k for k in self.files if k[0] == name]:
            del self.files[key]
        gone = self.containers.pop(name, None) is not None
        if gone:
            self._emit(name, ContainerEvent("destroy"))
        return gone

    def exit(self, name: str, code: int) -> None:
        """The test's door: the container's process ends with ``code`` (``die`` is told)."""
        self.containers[name] = replace(self.containers[name], state="exited", exit_code=code)
        self._emit(name, ContainerEvent("die", code))

    def watch(self, name: str, on_event: Callable[[ContainerEvent], None]) -> _Watch:
        entry = (name, on_event)
        with self._watch_lock:
            self._watchers.append(entry)
            self._watch_lock.notify_all()
        return _Watch(self, entry)

    def wait_watched(self, timeout: float = 30.0) -> bool:
        """Block until a watch is open (a condition for tests that act while `up` waits)."""
        with self._watch_lock:
            return self._watch_lock.wait_for(lambda: bool(self._watchers), timeout)

    def _emit(self, name: str, event: ContainerEvent) -> None:
        with self._watch_lock:
            listeners = [fn for watched, fn in self._watchers if watched == name]
        for fn in listeners:
            fn(event)

    def logs_tail(self, name: str, lines: int = 20) -> list[str]:
        if name not in self.containers:
            return []
        return self.logs.get(name, [])[-lines:]


    # --- volumes and networks --------------------------------------------------------------
    def ensure_network(self) -> None:
        self._writes("created a network")
        self.networks.add(NETWORK)

    def has_network(self, name: str = NETWORK) -> bool:
        return name in self.networks

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        self._writes("created a volume")
        self.volumes.setdefault(name, dict(labels))

    def bridge_gateway(self) -> str | None:
        return self.gateway

    def volume_labels(self, name: str) -> dict[str, str] | None:
        labels = self.volumes.get(name)
        return None if labels is None else dict(labels)

    def remove_volume(self, name: str) -> bool:
        self._writes("removed a volume")
        if name not in self.volumes:
            return False
        if any(name in c.volumes for c in self.containers.values()):
            raise ConflictError(
                f"volume {name} is still in use by a container",
                "Stop the container that uses it first (`docker ps -a --filter "
                f"volume={name}`).",
            )
        del self.volumes[name]
        return True

    # --- images ----------------------------------------------------------------------------
    def image_present(self, image: str) -> bool:
        return image in self.images

    def pull_image(
        self, image: str, on_event: ProgressSink = null_sink, *, stall_timeout: float = 120.0,
        alternative: str | None = None,
    ) -> None:
        self._writes("pulled an image")
        on_event(ProgressEvent("image", "pulling", subject=image))
        self.pulled.append(image)
        self.images.add(image)
        if image in self.remote:
            self.digests[image] = self.remote[image]
        on_event(ProgressEvent("image", "pulled", done=True, subject=image))

    def image_digests(self, image: str) -> ImageDigests | None:
        if image in self.digests:
            return self.digests[image]
        for found in self.digests.values():
            if found.id == image:
                return found
        if image in self.images:  # built or loaded here: an ID, no registry digest
            import hashlib

            return ImageDigests("sha256:" + hashlib.sha256(image.encode()).hexdigest())
        return None

    # --- files -------------------------------------------------------------------------------
    def read_file(self, name: str, path: str, *, limit: int = 1 << 20) -> bytes | None:
        if name not in self.containers:
            return None
        data = self.files.get((name, path))
        if data is not None and len(data) > limit:
            raise ServerError(f"{path} in {name} is {len(data)} bytes, more than the "
                              f"{limit} expected")
        return data

    # --- ports -------------------------------------------------------------------------------
    def published_ports(self) -> list[tuple[ContainerInfo, PublishedPort]]:
        return [(c, p) for c in self.containers.values() if c.running for p in c.ports]

    # --- helpers -----------------------------------------------------------------------------
    def _writes(self, what: str) -> None:
        if self.read_only:
            raise AssertionError(f"a dry run {what}")

    def _port_taken(self, new: ContainerInfo) -> str | None:
        """The first ``ip:port`` of ``new`` that a running container already publishes (the
        same address, or either of them on every address)."""
        held = [p for c, p in self.published_ports() if c.name != new.name]
        for p in new.ports:
            if any(h.host_port == p.host_port and (h.host_ip == p.host_ip or {h.host_ip, p.host_ip}
                                                   & {"0.0.0.0", "::"}) for h in held):
                return f"{p.host_ip}:{p.host_port}"
        return None


class _Watch:
    def __init__(self, engine: FakeEngine, entry: tuple[str, Any]) -> None:
        self._engine, self._entry = engine, entry

    def close(self) -> None:
        with self._engine._watch_lock:
            if self._entry in self._engine._watchers:
                self._engine._watchers.remove(self._entry)


def _info(spec: ContainerSpec) -> ContainerInfo:
    """What inspecting the running container made from ``spec`` shows."""
    return ContainerInfo(
        id=spec.name, name=spec.name, state="running", image=spec.image,
        labels=dict(spec.labels), volumes=tuple(v.name for v in spec.volumes), exit_code=0,
        ports=tuple(PublishedPort(p.host_ip, p.host_port, p.container_port) for p in spec.ports),
        env_keys=tuple(sorted(spec.environment)), gpus=spec.gpus)
