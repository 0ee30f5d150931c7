"""Readiness checks talk to the server directly, whatever the proxy settings say."""

from __future__ import annotations

import pytest

from llmctl.profiles import Readiness
from llmctl.readiness import check_once
from tests.fakes.llmfake import start_fake
from tests.support import closed_port as dead_port

OLLAMA_READY = Readiness("/", 200, "Ollama is running")


def test_loopback_ignores_a_dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # reliability.md fault 7: HTTP_PROXY set, NO_PROXY unset.
    proxy = f"http://127.0.0.1:{dead_port()}"
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with start_fake("ollama", port=0) as h:
        check = check_once(h.url, OLLAMA_READY)
        assert check.ok, check.detail
        localhost = check_once(f"http://localhost:{h.port}", OLLAMA_READY)
        assert localhost.ok, localhost.detail


def test_html_page_is_not_ready() -> None:
    with start_fake("ollama", port=0, html=True) as h:
        check = check_once(h.url, OLLAMA_READY)
    assert not check.ok and "not 'Ollama is running'" in check.detail


def test_refused_is_reported_as_such() -> None:
    check = check_once(f"http://127.0.0.1:{dead_port()}", OLLAMA_READY)
    assert not check.ok and check.detail == "connection refused"


@pytest.mark.parametrize(("state", "code", "said"), [
    ("removed", None, "was removed by someone else (`llmctl down` or `docker rm`?)"),
    ("exited", 0, "was stopped by someone else (`llmctl down` or `docker stop`?; exit code 0)"),
    ("exited", 143, "was stopped by someone else"),
    ("exited", 3, "exited (exit code 3)"),
    ("restarting", 1, "crashed (exit code 1) and Docker is restarting it"),
])
def test_a_container_that_ends_while_waiting_says_what_happened(
    state: str, code: int | None, said: str
) -> None:
    # `llmctl down` stops, then removes: `up` may see either, and names what it saw.
    from llmctl.errors import NotReadyError
    from llmctl.readiness import wait_ready

    with pytest.raises(NotReadyError) as caught:
        wait_ready(f"http://127.0.0.1:{dead_port()}", OLLAMA_READY, timeout=30,
                   container_state=lambda: (state, code), logs=lambda: ["bye"])
    assert caught.value.message.startswith(f"the container {said}")
    assert caught.value.message.endswith("before the server was ready")
    assert caught.value.exit_code == 6


# --- how often it looks, and reacting to the container's events -------------------------------
# Pauses are recorded instead of slept (readiness._pause): these tests wait on conditions only.


def test_the_schedule_starts_at_tens_of_ms_and_backs_off_only_after_seconds() -> None:
    from llmctl.readiness import POLL_MAX, poll_interval

    assert poll_interval(0.0) == poll_interval(0.99) == 0.01
    assert poll_interval(1.0) == poll_interval(1.9) == 0.02
    steps = [poll_interval(t / 10) for t in range(0, 1200)]
    assert steps == sorted(steps) and max(steps) == POLL_MAX == poll_interval(3600)
    assert poll_interval(2.0) <= 0.05  # "after seconds", gently


@pytest.mark.parametrize("timeout", [5.0, 1800.0])
def test_a_long_timeout_does_not_change_the_early_looks(
    timeout: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vLLM's profile allows 1800 s: the first looks are still 10 ms apart.
    from llmctl import readiness
    from llmctl.errors import NotReadyError

    pauses: list[float] = []
    monkeypatch.setattr(readiness, "_pause", lambda woken, seconds: pauses.append(seconds))
    states = iter([("running", None)] * 5 + [("exited", 3)])
    with pytest.raises(NotReadyError, match="exited"):
        readiness.wait_ready(f"http://127.0.0.1:{dead_port()}", OLLAMA_READY, timeout=timeout,
                             container_state=lambda: next(states))
    assert pauses == [0.01] * 5


def test_an_exit_event_ends_the_wait_without_another_look(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pause ends only when the engine's event wakes it (or after 30 s, which fails the
    # test): the exit is seen through the event, not by a later look.
    import threading

    from llmctl import readiness
    from llmctl.engine.model import ContainerInfo
    from llmctl.errors import NotReadyError
    from tests.fakes.engine import FakeEngine

    engine = FakeEngine(containers=[ContainerInfo("c1", "c1", "running", "img")])
    woken_by_event: list[bool] = []
    monkeypatch.setattr(readiness, "_pause",
                        lambda woken, seconds: woken_by_event.append(woken.wait(30)))
    looks: list[str] = []
    real_check = readiness.check_once
    monkeypatch.setattr(readiness, "check_once",
                        lambda *a, **k: looks.append("look") or real_check(*a, **k))

    def state() -> tuple[str, int | None]:
        info = engine.get("c1")
        return (info.state, info.exit_code) if info else ("removed", None)

    def crash() -> None:
        assert engine.wait_watched()
        engine.exit("c1", 3)

    threading.Thread(target=crash, daemon=True).start()
    with pytest.raises(NotReadyError) as caught:
        readiness.wait_ready(
            f"http://127.0.0.1:{dead_port()}", OLLAMA_READY, timeout=20,
            container_state=state,
            watch=lambda wake: engine.watch("c1", lambda _event: wake()).close)
    assert caught.value.message == "the container exited (exit code 3) before the server " \
                                   "was ready"
    assert woken_by_event == [True] and looks == ["look"]
    assert not engine.wait_watched(timeout=0)  # the watch was closed


def test_without_events_the_state_is_asked_at_every_look(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # An engine that cannot follow events (the watch fails) is asked at every look instead.
    from llmctl import readiness
    from llmctl.errors import EngineUnavailable, NotReadyError

    monkeypatch.setattr(readiness, "_pause", lambda woken, seconds: None)
    asked: list[int] = []

    def state() -> tuple[str, int | None]:
        asked.append(1)
        return ("running", None) if len(asked) < 4 else ("removed", None)

    def no_events(wake):  # type: ignore[no-untyped-def]
        raise EngineUnavailable("no events here")

    with pytest.raises(NotReadyError, match="was removed by someone else"):
        readiness.wait_ready(f"http://127.0.0.1:{dead_port()}", OLLAMA_READY, timeout=20,
                             container_state=state, watch=no_events)
    assert len(asked) == 4


def test_a_ready_server_is_not_watched() -> None:
    # The first look answers: no event stream is opened (an `up` of a running server).
    from llmctl.readiness import wait_ready

    opened: list[str] = []
    with start_fake("ollama", port=0) as h:
        wait_ready(h.url, OLLAMA_READY, timeout=20, container_state=lambda: ("running", None),
                   watch=lambda wake: opened.append("watch") or (lambda: None))
    assert opened == []
