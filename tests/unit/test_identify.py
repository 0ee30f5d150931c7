"""llmctl.backends.identify: what answers at GET /, against real sockets and the fake servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from llmctl.backends.identify import Answer, identify
from tests.unit.test_probe import fake, free_port, send, serve


@contextmanager
def listener(reply: bytes | None) -> Iterator[str]:
    """A TCP port that accepts connections and then says ``reply`` and hangs up, or (None)
    says nothing at all."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            if reply is None:
                held.append(conn)  # keep it open and silent
                continue
            with suppress(OSError):
                conn.recv(4096)
                conn.sendall(reply)
            conn.close()

    threading.Thread(target=run, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        srv.close()
        for conn in held:
            conn.close()


def test_nothing_listens() -> None:
    answer = identify(f"http://127.0.0.1:{free_port()}", 1.0)
    assert answer == Answer("none", "nothing listens")
    assert not answer.listening


def test_a_port_that_accepts_and_says_nothing_is_silent() -> None:
    with listener(None) as url:
        answer = identify(url, 0.3)
    assert answer == Answer("silent", "accepts connections but sent no HTTP answer in 0.3 s")
    assert answer.listening


def test_a_port_that_does_not_speak_http_is_silent() -> None:
    with listener(b"SSH-2.0-OpenSSH_9.6\r\n") as url:
        answer = identify(url, 2.0)
    assert answer.kind == "silent"
    assert answer.detail.startswith("listens but does not speak HTTP (")


def test_servers_that_say_their_name() -> None:
    with fake("ollama") as url:
        assert identify(url, 2.0) == Answer("ollama", "Ollama", 200, "ollama")
    with fake("model-runner") as url:
        assert identify(url, 2.0) == Answer("model-runner", "Docker Model Runner", 200,
                                            "docker-model-runner")


def test_another_http_server_is_described_with_its_status() -> None:
    with serve(lambda h: send(h, 200, b"<html><body>Welcome</body></html>", "text/html")) as url:
        answer = identify(url, 2.0)
    page = "'<html><body>Welcome</body></html>'"
    assert answer == Answer("http", f"an HTTP server (GET / answered 200 text/html: {page})", 200)
    # a server that names itself on an error page is still named; the status says the rest
    with serve(lambda h: send(h, 503, b"Ollama is running", "text/plain")) as url:
        assert identify(url, 2.0) == Answer("ollama", "Ollama", 503, "ollama")
