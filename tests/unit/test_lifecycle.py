"""`up`/`down` decisions with an in-memory engine (stands in for the Docker daemon's
container API: get/run/start/remove/list by label, and the 409 a lost create race gets)."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from llmctl import lifecycle
from llmctl.engine.connect import DaemonTarget
from llmctl.engine.model import ContainerInfo, EngineFacts, PublishedPort
from llmctl.errors import ConflictError, NotFoundError, UsageError
from llmctl.plan import LABEL_INSTANCE, UpOptions
from llmctl.profiles import load_profile
from tests.fakes.llmfake import start_fake


class MemoryEngine:
    """Containers as data; ``race`` makes the next create lose to a twin created first."""

    def __init__(self) -> None:
        self.containers: dict[str, ContainerInfo] = {}
        self.volumes: dict[str, dict[str, str]] = {}
        self.target = DaemonTarget("unix:///var/run/docker.sock", "default", "default")
        self.address_host = "127.0.0.1"
        self.race = False
        self.created: list[str] = []
        self.removed: list[str] = []
        self.pulled: list[str] = []

    def facts(self) -> EngineFacts:
        return EngineFacts("Docker Engine", "20.10.24", "1.41", "linux", "x86_64", "Debian")

    def get(self, name: str) -> ContainerInfo | None:
        return self.containers.get(name)

    def list_managed(self, **labels: str) -> list[ContainerInfo]:
        return [c for c in self.containers.values()
                if all(c.labels.get(k) == v for k, v in labels.items())]

    def published_ports(self):  # type: ignore[no-untyped-def]
        return [(c, p) for c in self.containers.values() if c.running for p in c.ports]

    def image_present(self, image: str) -> bool:
        return image in self.pulled

    def pull_image(self, image: str, on_event=None) -> None:  # type: ignore[no-untyped-def]
        self.pulled.append(image)

    def _info(self, spec, state: str) -> ContainerInfo:  # type: ignore[no-untyped-def]
        return ContainerInfo(
            id=spec.name, name=spec.name, state=state, image=spec.image,
            labels=dict(spec.labels), volumes=tuple(v.name for v in spec.volumes),
            ports=tuple(PublishedPort(p.host_ip, p.host_port, p.container_port)
                        for p in spec.ports))

    def run(self, spec):  # type: ignore[no-untyped-def]
        if self.race:
            self.race = False
            self.containers[spec.name] = self._info(spec, "running")
            raise ConflictError("exists", details={"reason": "name"})
        if spec.name in self.containers:
            raise ConflictError("exists", details={"reason": "name"})
        self.containers[spec.name] = self._info(spec, "running")
        self.created.append(spec.name)
        for v in spec.volumes:
            self.volumes.setdefault(v.name, {"io.llmctl.managed": "true"})
        return self.containers[spec.name]

    def start(self, name: str) -> ContainerInfo:
        self.containers[name] = replace(self.containers[name], state="running")
        return self.containers[name]

    def remove(self, name: str, stop_timeout: int = 10) -> bool:
        self.removed.append(name)
        return self.containers.pop(name, None) is not None

    def logs_tail(self, name: str, lines: int = 20) -> list[str]:
        return ["line one", "fatal: boom"]

    def volume_labels(self, name: str) -> dict[str, str] | None:
        return self.volumes.get(name)

    def remove_volume(self, name: str) -> bool:
        return self.volumes.pop(name, None) is not None


@pytest.fixture
def ollama():  # type: ignore[no-untyped-def]
    return load_profile("ollama")


@pytest.fixture
def fake_ollama(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A fake Ollama on loopback plays the server inside the "container"; its port counts as
    free before the container is created (it is what the container will publish)."""
    h = start_fake("ollama", port=0)
    real = lifecycle.port_free
    monkeypatch.setattr(lifecycle, "port_free",
                        lambda port, bind="127.0.0.1": port in (h.port, h.port + 1)
                        or real(port, bind))
    yield h
    h.stop()


def up(engine, profile, **kw):  # type: ignore[no-untyped-def]
    return lifecycle.up(engine, profile, UpOptions(**kw))  # type: ignore[arg-type]


def test_up_creates_pulls_and_waits(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    res = up(eng, ollama, port=fake_ollama.port)
    assert res.action == "created" and res.ready is True
    assert eng.pulled == [ollama.image]
    assert res.endpoint == f"http://127.0.0.1:{fake_ollama.port}"
    assert res.endpoint_container == "http://llmctl-ollama:11434"


def test_second_up_reuses_and_stopped_one_is_started(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    up(eng, ollama, port=fake_ollama.port)
    assert up(eng, ollama, port=fake_ollama.port).action == "reused"
    eng.containers["llmctl-ollama"] = replace(eng.containers["llmctl-ollama"], state="exited")
    assert up(eng, ollama, port=fake_ollama.port).action == "started"
    assert eng.created == ["llmctl-ollama"]


def test_losing_a_create_race_reuses_the_winner(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    eng.race = True
    res = up(eng, ollama, port=fake_ollama.port)
    assert res.action == "reused" and res.ready is True
    assert eng.created == [] and eng.removed == []


def test_changed_spec_needs_recreate(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    up(eng, ollama, port=fake_ollama.port)
    with pytest.raises(ConflictError, match="different spec"):
        up(eng, ollama, port=fake_ollama.port, image="ollama/ollama:0.17.2")
    res = lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port,
                                              image="ollama/ollama:0.17.2"), recreate=True)
    assert res.action == "recreated" and eng.removed == ["llmctl-ollama"]


def test_foreign_container_with_our_name_is_not_adopted(ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    eng.containers["llmctl-ollama"] = ContainerInfo("x", "llmctl-ollama", "running", "other:1")
    with pytest.raises(ConflictError, match="not made by llmctl"):
        up(eng, ollama, port=1)


def test_explicit_port_taken_is_a_conflict_never_moved(ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(ConflictError) as err:
            up(eng, ollama, port=port)
    assert err.value.details["port"] == port and err.value.details["explicit"] is True
    assert err.value.details["suggested_port"] > port
    assert eng.created == []


def test_not_ready_removes_what_this_run_created(ollama, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    h = start_fake("ollama", port=0, html=True)  # answers, but is not Ollama
    monkeypatch.setattr(lifecycle, "port_free", lambda port, bind="": True)
    try:
        from llmctl.errors import NotReadyError

        with pytest.raises(NotReadyError) as err:
            lifecycle.up(eng, ollama, UpOptions(port=h.port), timeout=0.6)
    finally:
        h.stop()
    assert "not ready after 0.6 s" in err.value.message
    assert "fatal: boom" in (err.value.hint or "")
    assert eng.removed == ["llmctl-ollama"] and eng.containers == {}


def test_down_keeps_volumes_unless_asked_and_never_foreign_ones(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    up(eng, ollama, port=fake_ollama.port)
    res = lifecycle.down(eng, "ollama")
    assert res.removed == ["llmctl-ollama"] and res.volumes_kept == ["ollama-data"]
    up(eng, ollama, port=fake_ollama.port)
    eng.volumes["ollama-data"] = {}  # made by the user, not by llmctl
    res = lifecycle.down(eng, "ollama", volumes=True)
    assert res.volumes_removed == [] and res.volumes_kept == ["ollama-data"]


def test_down_picks_instances(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    with pytest.raises(NotFoundError):
        lifecycle.down(eng, "ollama")
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port, name="a"), wait=False)
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port + 1, name="b"), wait=False)
    with pytest.raises(UsageError, match="a, b"):
        lifecycle.down(eng, "ollama")
    assert lifecycle.down(eng, "ollama", name="b").removed == ["llmctl-b"]
    assert [c.labels[LABEL_INSTANCE] for c in eng.containers.values()] == ["a"]


def test_down_without_a_target_never_guesses(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = MemoryEngine()
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port), wait=False)
    with pytest.raises(UsageError) as err:
        lifecycle.down(eng)
    assert "ollama --name ollama" in (err.value.hint or "")
    assert list(eng.containers) == ["llmctl-ollama"]  # nothing removed


def test_second_ctrl_c_during_cleanup_reports_the_leftover(ollama, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from llmctl.errors import ExitCode, Interrupted

    eng = MemoryEngine()
    monkeypatch.setattr(lifecycle, "port_free", lambda port, bind="": True)

    def first_ctrl_c(*a, **k):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    def second_ctrl_c(name: str, stop_timeout: int = 10) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle, "wait_ready", first_ctrl_c)
    eng.remove = second_ctrl_c  # type: ignore[method-assign]
    with pytest.raises(Interrupted) as err:
        lifecycle.up(eng, ollama, UpOptions(port=1))
    assert err.value.exit_code == ExitCode.INTERRUPTED
    assert "llmctl-ollama may be left behind" in err.value.message
    assert "llmctl down ollama --name ollama" in (err.value.hint or "")


def test_status_does_not_call_a_remote_loopback_server_down(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    # A remote daemon (ssh://gpu-box): its 127.0.0.1 is not ours, so no verdict from here.
    from llmctl.engine.connect import DaemonTarget

    eng = MemoryEngine()
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port), wait=False)
    eng.target = DaemonTarget("ssh://me@gpu-box", "gpu", "--context")
    eng.address_host = "gpu-box"
    (entry,) = lifecycle.status(eng)
    assert entry.server.endpoint == f"http://gpu-box:{fake_ollama.port}"
    assert entry.health == "unknown" and "ssh -L" in entry.detail
