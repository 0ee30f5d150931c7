"""The engine's HTTP layer without a daemon: the create document is the docker SDK's, log
frames are taken apart, and the standard-library transport survives what a daemon's socket
does (a kept-alive connection closed meanwhile, an event stream closed from another thread).
The same requests against the real engine: tests/integration/test_fake_engine.py and
test_engine_events.py."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmctl.engine.api import SocketTransport, TransportError
from llmctl.engine.documents import NETWORK, create_body, log_text
from llmctl.plan import (
    LABEL_MANAGED,
    BindMount,
    ContainerSpec,
    PortBinding,
    VolumeMount,
)


def spec(**changes: Any) -> ContainerSpec:
    base = dict(
        name="llmctl-x", instance="x", profile="tgi", api="openai", image="img:1",
        command=("--model-id", "org/m"), env={"A": "1", "B": "two words"},
        ports=(PortBinding("127.0.0.1", 8081, 80), PortBinding("::1", 8081, 80)),
        volumes=(VolumeMount("x-data", "/data"),), gpus=True,
        labels={LABEL_MANAGED: "true", "io.llmctl.instance": "x"}, restart="unless-stopped",
        mounts=(BindMount("/home/u/m.gguf", "/models/m.gguf", True),), shm_size="1g",
        ipc_mode="host", secrets={"HF_TOKEN": "hf_secret"})
    base.update(changes)
    return ContainerSpec(**base)  # type: ignore[arg-type]


def sdk_body(s: ContainerSpec) -> dict[str, Any]:
    """What docker-py 7's ``containers.create`` posts for ``s``, with the options llmctl
    gave it before (no daemon contacted: the request is caught before it is sent)."""
    import docker
    from docker.models.containers import _create_container_args

    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    kwargs: dict[str, Any] = dict(
        image=s.image, command=list(s.command) or None, name=s.name,
        environment=s.environment, labels=dict(s.labels),
        ports={f"{p.container_port}/tcp": [(q.host_ip, q.host_port) for q in s.ports
                                           if q.container_port == p.container_port]
               for p in s.ports},
        volumes={v.name: {"bind": v.target, "mode": "rw"} for v in s.volumes},
        restart_policy={"Name": s.restart} if s.restart != "no" else None,
        detach=True, network=NETWORK, version="1.41")
    if s.mounts:
        kwargs["mounts"] = [docker.types.Mount(m.target, m.source, type="bind",
                                               read_only=m.read_only) for m in s.mounts]
    if s.shm_size:
        kwargs["shm_size"] = s.shm_size
    if s.ipc_mode:
        kwargs["ipc_mode"] = s.ipc_mode
    if s.gpus:
        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1,
                                                                capabilities=[["gpu"]])]
    sent: dict[str, Any] = {}
    api.create_container_from_config = lambda config, name, platform=None: sent.update(
        config=config, name=name)
    api.create_container(**_create_container_args(kwargs))
    assert sent["name"] == s.name
    return dict(sent["config"])


def meaningful(doc: Any) -> Any:
    """Without what the daemon reads as absent: null, false, empty maps and lists."""
    if isinstance(doc, dict):
        kept = {k: meaningful(v) for k, v in doc.items()}
        return {k: v for k, v in kept.items() if v not in (None, False, {}, [])}
    if isinstance(doc, list):
        return [meaningful(v) for v in doc]
    return doc


@pytest.mark.parametrize("changes", [
    {},
    dict(gpus=False, mounts=(), shm_size=None, ipc_mode=None, command=(), volumes=(),
         restart="no", secrets={}, env={}),
    dict(shm_size="67108864", ports=(PortBinding("0.0.0.0", 9000, 8000),)),
])
def test_the_create_document_is_what_the_docker_sdk_sends(changes: dict[str, Any]) -> None:
    s = spec(**changes)
    ours, theirs = create_body(s), sdk_body(s)
    # The SDK names the network in a NetworkingConfig entry the daemon does not read
    # ({"llmctl": null}); HostConfig.NetworkMode is what attaches the container.
    theirs.pop("NetworkingConfig", None)
    assert meaningful(ours) == meaningful(theirs)
    assert ours["HostConfig"]["NetworkMode"] == NETWORK


def test_log_frames_are_taken_apart_and_tty_output_is_kept() -> None:
    def frame(stream: int, text: bytes) -> bytes:
        return bytes([stream, 0, 0, 0]) + len(text).to_bytes(4, "big") + text

    muxed = frame(1, b"listening on 0.0.0.0:8000\n") + frame(2, b"error: no model\n")
    assert log_text(muxed).splitlines() == ["listening on 0.0.0.0:8000", "error: no model"]
    assert log_text(b"plain tty output\nsecond\n").splitlines() == ["plain tty output",
                                                                      "second"]
    assert log_text(b"") == ""


class UnixServer:
    """A small HTTP/1.1 server on a unix socket, answering with ``respond(conn, request)``."""

    def __init__(self, path: Path, respond: Any) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.connections = 0
        self.bodies: list[bytes] = []
        self.respond = respond
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buf) < length:  # the request's body is kept, not answered
                    buf += conn.recv(4096)
                self.bodies.append(buf[:length])
                buf = buf[length:]
                if not self.respond(conn, head.decode()):
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # A short path: a unix socket's path is limited to about 100 bytes.
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="llmctl-sock."))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_kept_alive_connection_closed_by_the_daemon_is_sent_again(sock_dir: Path) -> None:
    # The answer says keep-alive, then the server closes the connection anyway: the next
    # request finds it dead and is sent once more on a new one.
    def respond(conn: socket.socket, request: str) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                     b"\r\nOK")
        return False  # close after one answer

    server = UnixServer(sock_dir / "d.sock", respond)
    try:
        api = SocketTransport(f"unix://{server.path}")
        replies = [api.request("GET", "/_ping") for _ in range(3)]
        assert [(r.status, r.body) for r in replies] == [(200, b"OK")] * 3
        assert server.connections == 3
        api.close()
    finally:
        server.close()


def test_answers_of_every_shape_are_read_on_one_kept_alive_connection(sock_dir: Path) -> None:
    # What the daemon sends: 204 and 304 without a body, a document with its length, logs
    # in chunks (with a chunk extension and a trailer), a 404 with its message.
    answers = iter([
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
        b'{"Id":"c1"}',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6;ext=1\r\nhello \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 37\r\n"
        b'\r\n{"message":"No such container: nope"}',
    ])
    seen: list[str] = []

    def respond(conn: socket.socket, request: str) -> bool:
        seen.append(request.split("\r\n")[0])
        conn.sendall(next(answers))
        return True  # keep the connection

    server = UnixServer(sock_dir / "k.sock", respond)
    try:
        api = SocketTransport(f"unix://{server.path}")
        got = [api.request("POST", "/containers/c1/start"),
               api.request("POST", "/containers/c1/stop", params={"t": 10}),
               api.request("POST", "/containers/create", params={"name": "c1"},
                           body={"Image": "i"}),
               api.request("GET", "/containers/c1/logs", params={"stdout": True}),
               api.request("GET", "/containers/nope/json")]
        assert [(r.status, r.body) for r in got[:4]] == [
            (204, b""), (304, b""), (200, b'{"Id":"c1"}'), (200, b"hello world")]
        assert (got[4].status, got[4].message) == (404, "No such container: nope")
        assert seen == ["POST /containers/c1/start HTTP/1.1", "POST /containers/c1/stop?t=10 "
                        "HTTP/1.1", "POST /containers/create?name=c1 HTTP/1.1",
                        "GET /containers/c1/logs?stdout=1 HTTP/1.1",
                        "GET /containers/nope/json HTTP/1.1"]
        assert server.connections == 1
        api.close()
    finally:
        server.close()


def test_bytes_go_as_a_tar_body_and_documents_as_json(sock_dir: Path) -> None:
    # PUT /containers/{id}/archive takes a tar archive (a proxy's key file); every other
    # body is a JSON document.
    heads: list[str] = []

    def respond(conn: socket.socket, request: str) -> bool:
        heads.append(request)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        return True

    server = UnixServer(sock_dir / "t.sock", respond)
    try:
        api = SocketTransport(f"unix://{server.path}")
        tar = bytes(range(256)) * 3
        api.request("PUT", "/containers/c1/archive", params={"path": "/"}, body=tar)
        api.request("POST", "/containers/create", body={"Image": "i"})
        assert "Content-Type: application/x-tar" in heads[0].split("\r\n")
        assert f"Content-Length: {len(tar)}" in heads[0].split("\r\n")
        assert "Content-Type: application/json" in heads[1].split("\r\n")
        assert server.bodies == [tar, b'{"Image": "i"}']
        api.close()
    finally:
        server.close()


def test_an_answer_cut_short_is_a_transport_error(sock_dir: Path) -> None:
    def respond(conn: socket.socket, request: str) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Id\"")
        return False

    server = UnixServer(sock_dir / "c.sock", respond)
    try:
        with pytest.raises(TransportError, match="inside an answer"):
            SocketTransport(f"unix://{server.path}").request("GET", "/containers/c1/json")
    finally:
        server.close()


def test_a_missing_socket_is_a_transport_error(sock_dir: Path) -> None:
    api = SocketTransport(f"unix://{sock_dir}/absent.sock")
    with pytest.raises(TransportError) as caught:
        api.request("GET", "/_ping")
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_closing_an_event_stream_ends_its_reader(sock_dir: Path) -> None:
    # The daemon sends one event, then nothing: close() from another thread ends the read.
    sent = threading.Event()

    def respond(conn: socket.socket, request: str) -> bool:
        assert request.startswith("GET /events?filters=")
        body = b'{"Action":"die","Actor":{"Attributes":{"exitCode":"3"}}}\n'
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     + f"{len(body):x}\r\n".encode() + body + b"\r\n")
        sent.set()
        conn.recv(1)  # hold the connection open until the client goes
        return False

    server = UnixServer(sock_dir / "e.sock", respond)
    got: list[dict[str, Any]] = []
    received = threading.Event()

    def read() -> None:
        for doc in stream:
            got.append(doc)
            received.set()

    try:
        stream = SocketTransport(f"unix://{server.path}").events({"type": ["container"]})
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert sent.wait(10) and received.wait(10)
        stream.close()
        reader.join(10)
        assert not reader.is_alive()
        assert got == [{"Action": "die", "Actor": {"Attributes": {"exitCode": "3"}}}]
    finally:
        server.close()
