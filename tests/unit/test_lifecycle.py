"""`up`/`down` decisions with the in-memory engine of tests/fakes/engine.py (it stands in for
the Docker daemon's container API: get/run/start/remove/list by label, and the 409 a lost
create race gets)."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from llmctl import lifecycle
from llmctl.engine.model import ContainerInfo
from llmctl.errors import ConflictError, NotFoundError, UsageError
from llmctl.plan import LABEL_INSTANCE, UpOptions
from llmctl.profiles import load_profile
from tests.fakes.engine import FakeEngine
from tests.fakes.llmfake import start_fake


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
    eng = FakeEngine()
    res = up(eng, ollama, port=fake_ollama.port)
    assert res.action == "created" and res.ready is True
    assert eng.pulled == [ollama.image]
    assert res.endpoint == f"http://127.0.0.1:{fake_ollama.port}"
    assert res.endpoint_container == "http://llmctl-ollama:11434"


def test_second_up_reuses_and_stopped_one_is_started(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    up(eng, ollama, port=fake_ollama.port)
    assert up(eng, ollama, port=fake_ollama.port).action == "reused"
    eng.containers["llmctl-ollama"] = replace(eng.containers["llmctl-ollama"], state="exited")
    assert up(eng, ollama, port=fake_ollama.port).action == "started"
    assert eng.created == ["llmctl-ollama"]


def test_losing_a_create_race_reuses_the_winner(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    eng.race = True
    res = up(eng, ollama, port=fake_ollama.port)
    assert res.action == "reused" and res.ready is True
    assert eng.created == [] and eng.removed == []


def test_changed_spec_needs_recreate(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    up(eng, ollama, port=fake_ollama.port)
    with pytest.raises(ConflictError, match="different spec"):
        up(eng, ollama, port=fake_ollama.port, image="ollama/ollama:0.17.2")
    res = lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port,
                                              image="ollama/ollama:0.17.2"), recreate=True)
    assert res.action == "recreated" and eng.removed == ["llmctl-ollama"]


def test_foreign_container_with_our_name_is_not_adopted(ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    eng.containers["llmctl-ollama"] = ContainerInfo("x", "llmctl-ollama", "running", "other:1")
    with pytest.raises(ConflictError, match="not made by llmctl"):
        up(eng, ollama, port=1)


def test_explicit_port_taken_is_a_conflict_never_moved(ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
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
    eng = FakeEngine(logs={"llmctl-ollama": ["line one", "fatal: boom"]})
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
    eng = FakeEngine()
    up(eng, ollama, port=fake_ollama.port)
    res = lifecycle.down(eng, "ollama")
    assert res.removed == ["llmctl-ollama"] and res.volumes_kept == ["ollama-data"]
    up(eng, ollama, port=fake_ollama.port)
    eng.volumes["ollama-data"] = {}  # made by the user, not by llmctl
    res = lifecycle.down(eng, "ollama", volumes=True)
    assert res.volumes_removed == [] and res.volumes_kept == ["ollama-data"]


def test_down_picks_instances(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    with pytest.raises(NotFoundError):
        lifecycle.down(eng, "ollama")
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port, name="a"), wait=False)
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port + 1, name="b"), wait=False)
    with pytest.raises(UsageError, match="a, b"):
        lifecycle.down(eng, "ollama")
    assert lifecycle.down(eng, "ollama", name="b").removed == ["llmctl-b"]
    assert [c.labels[LABEL_INSTANCE] for c in eng.containers.values()] == ["a"]


def test_down_without_a_target_never_guesses(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port), wait=False)
    with pytest.raises(UsageError) as err:
        lifecycle.down(eng)
    assert "ollama --name ollama" in (err.value.hint or "")
    assert list(eng.containers) == ["llmctl-ollama"]  # nothing removed


def test_second_ctrl_c_during_cleanup_reports_the_leftover(ollama, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from llmctl.errors import ExitCode, Interrupted

    eng = FakeEngine()
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

    eng = FakeEngine()
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port), wait=False)
    eng.target = DaemonTarget("ssh://me@gpu-box", "gpu", "--context")  # reached on gpu-box
    (entry,) = lifecycle.status(eng)
    assert entry.server.endpoint == f"http://gpu-box:{fake_ollama.port}"
    assert entry.health == "unknown" and "ssh -L" in entry.detail


# --- hardening: secrets, dry runs, the port-conflict hint, the pull note --------------------

TOKEN_A = "tok-A-0123456789"
TOKEN_B = "tok-B-9876543210"


def test_changed_secret_is_named_and_recreate_applies_it(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    eng = FakeEngine()
    up(eng, ollama, port=fake_ollama.port, env={"MY_TOKEN": TOKEN_A})
    label = eng.containers["llmctl-ollama"].labels["io.llmctl.secrets"]
    # Salted, stretched and truncated: neither the token nor its plain hash is in it.
    assert TOKEN_A not in label and hashlib.sha256(TOKEN_A.encode()).hexdigest()[:16] \
        not in label
    assert label.startswith("v1:") and "MY_TOKEN=" in label
    # The same secret: reused, and the salt is kept (so fingerprints compare).
    assert up(eng, ollama, port=fake_ollama.port, env={"MY_TOKEN": TOKEN_A}).action == "reused"
    assert eng.containers["llmctl-ollama"].labels["io.llmctl.secrets"] == label
    with pytest.raises(ConflictError) as err:
        up(eng, ollama, port=fake_ollama.port, env={"MY_TOKEN": TOKEN_B})
    assert err.value.message == "llmctl-ollama runs with another MY_TOKEN than the one given now"
    assert "--recreate" in (err.value.hint or "")
    assert TOKEN_A not in str(err.value.to_dict()) and TOKEN_B not in str(err.value.to_dict())
    res = lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port, env={"MY_TOKEN": TOKEN_B}),
                       recreate=True)
    assert res.action == "recreated" and eng.removed == ["llmctl-ollama"]


def test_a_secret_added_later_needs_recreate_a_dropped_one_is_a_note(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    up(eng, ollama, port=fake_ollama.port)
    with pytest.raises(ConflictError, match="another MY_TOKEN"):
        up(eng, ollama, port=fake_ollama.port, env={"MY_TOKEN": TOKEN_A})
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port, env={"MY_TOKEN": TOKEN_A}),
                 recreate=True)
    said: list[str] = []
    res = lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port), notify=said.append)
    assert res.action == "reused"
    assert said == ["llmctl-ollama keeps the MY_TOKEN it was started with (none is given "
                    "now); --recreate starts it without"]


def test_a_container_without_the_secrets_label_is_reused_with_a_note(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    up(eng, ollama, port=fake_ollama.port, env={"MY_TOKEN": TOKEN_A})
    old = eng.containers["llmctl-ollama"]
    labels = {k: v for k, v in old.labels.items() if k != "io.llmctl.secrets"}
    eng.containers["llmctl-ollama"] = replace(old, labels=labels)  # made by an older llmctl
    said: list[str] = []
    res = lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port, env={"MY_TOKEN": TOKEN_B}),
                       notify=said.append)
    assert res.action == "reused"
    assert said == ["llmctl-ollama was made by an llmctl that did not record its secrets: if "
                    "MY_TOKEN changed since, --recreate applies it"]


def test_dry_run_changes_nothing_and_says_what_would_happen(ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    res = lifecycle.dry_run(eng, ollama, UpOptions(port=1))
    assert res.container == "create" and res.would_pull == [ollama.image]
    assert res.would_create == ["network llmctl", "volume ollama-data",
                                "container llmctl-ollama"]
    assert eng.created == [] and eng.pulled == [] and eng.removed == []


def test_dry_run_on_an_engine_without_gpu_warns_instead_of_refusing() -> None:
    vllm = load_profile("vllm")
    eng = FakeEngine()
    with pytest.raises(Exception, match="needs an NVIDIA GPU"):
        lifecycle.up(eng, vllm, UpOptions(port=1, model="a/b"))
    res = lifecycle.dry_run(eng, vllm, UpOptions(port=1, model="a/b"))
    assert res.spec.gpus is True
    (warning,) = res.warnings
    assert warning.startswith("vllm needs an NVIDIA GPU") and "`up` would refuse" in warning
    assert eng.created == []


def test_port_conflict_hint_names_the_instance_to_take_down(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    lifecycle.up(eng, ollama, UpOptions(port=fake_ollama.port, name="t-first"), wait=False)
    err = lifecycle.port_conflict(eng, fake_ollama.port, "127.0.0.1", explicit=True)
    assert "llmctl's container llmctl-t-first (instance t-first)" in err.message
    assert "Or stop it with `llmctl down ollama --name t-first`." in (err.hint or "")
    assert "..." not in (err.hint or "")


def test_no_pulling_note_of_its_own(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    # The progress renderer says "pulling IMAGE"; a note as well printed it twice.
    said: list[str] = []
    lifecycle.up(FakeEngine(), ollama, UpOptions(port=fake_ollama.port), notify=said.append)
    assert not [m for m in said if "pulling" in m]


def test_empty_name_is_never_the_default_instance(ollama) -> None:  # type: ignore[no-untyped-def]
    eng = FakeEngine()
    with pytest.raises(UsageError, match="--name is empty"):
        lifecycle.dry_run(eng, ollama, UpOptions(name=""))
    with pytest.raises(UsageError, match="--name is empty"):
        lifecycle.down(eng, "ollama", name="")


def test_a_host_ollama_holding_the_port_is_named() -> None:
    """An Ollama installed on the host holds the port (the in-process fake Ollama stands in
    for it): the conflict says so. A page that names Ollama without answering 200 is only a
    process."""
    from tests.unit.test_probe import send, serve

    h = start_fake("ollama", port=0)
    try:
        err = lifecycle.port_conflict(FakeEngine(), h.port, "127.0.0.1", explicit=True)
    finally:
        h.stop()
    assert err.message.startswith(f"port {h.port} on 127.0.0.1 is taken by host process pid ")
    assert err.message.endswith(", an Ollama server (likely installed on the host)")
    assert err.details["holder_kind"] == "process"
    with serve(lambda r: send(r, 503, b"Ollama is running", "text/plain")) as url:
        port = int(url.rsplit(":", 1)[1])
        err = lifecycle.port_conflict(FakeEngine(), port, "127.0.0.1", explicit=True)
    assert err.message.startswith(f"port {port} on 127.0.0.1 is taken by host process pid ")
    assert "Ollama" not in err.message


def test_up_follows_the_container_and_fails_when_it_exits(ollama, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The wait's pauses end only on an event of the engine (30 s would fail the test): the
    # exit is told by the engine's event stream, and what this run created is removed.
    import threading

    from llmctl import readiness
    from llmctl.errors import NotReadyError
    from tests.support import closed_port

    eng = FakeEngine(logs={"llmctl-ollama": ["fatal: out of memory"]})
    monkeypatch.setattr(lifecycle, "port_free", lambda port, bind="": True)
    monkeypatch.setattr(readiness, "_pause", lambda woken, seconds: woken.wait(30))

    def crash() -> None:
        assert eng.wait_watched()
        eng.exit("llmctl-ollama", 3)

    threading.Thread(target=crash, daemon=True).start()
    with pytest.raises(NotReadyError) as err:
        lifecycle.up(eng, ollama, UpOptions(port=closed_port()), timeout=20)
    assert err.value.message == ("the container exited (exit code 3) before the server was "
                                 "ready")
    assert "fatal: out of memory" in (err.value.hint or "")
    assert eng.removed == ["llmctl-ollama"] and eng.containers == {}


def test_a_running_ready_container_is_inspected_once(ollama, fake_ollama) -> None:  # type: ignore[no-untyped-def]
    # `up` of what already runs: the container is looked up once (its labels carry the spec
    # hash and the secrets fingerprint), nothing is started, created or watched.
    eng = FakeEngine()
    up(eng, ollama, port=fake_ollama.port)
    looked: list[str] = []
    real_get = eng.get
    eng.get = lambda name: looked.append(name) or real_get(name)  # type: ignore[method-assign]
    assert up(eng, ollama, port=fake_ollama.port).action == "reused"
    assert looked == ["llmctl-ollama"]
    assert eng.created == ["llmctl-ollama"] and eng.started == [] and not eng.wait_watched(0)
