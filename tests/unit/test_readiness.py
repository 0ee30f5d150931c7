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
