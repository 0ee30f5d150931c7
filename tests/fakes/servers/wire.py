"""HTTP plumbing of the fake servers: the request handler every kind shares (HTTP/1.1,
chunked streams, bodies read as they arrive, the ``hang``/``trickle`` behaviours) and the
threading server. What a route answers is the application's business (base.App).
"""

from __future__ import annotations

import contextlib
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .base import Request, dumps

if TYPE_CHECKING:
    from .base import App


class ChunkStream:
    """Chunked transfer-encoding writer.  flush_each=False batches small writes (cheap for
    200k-line pulls); the bytes are still streamed, never built whole in memory."""

    def __init__(self, h: Handler, flush_each: bool):
        self.h = h
        self.flush_each = flush_each
        self.buf: list[bytes] = []
        self.size = 0

    def write(self, data: str | bytes) -> None:
        b = data.encode() if isinstance(data, str) else data
        if self.flush_each:
            self._send(b)
            return
        self.buf.append(b)
        self.size += len(b)
        if self.size >= 32768:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            data = b"".join(self.buf)
            self.buf, self.size = [], 0
            self._send(data)

    def _send(self, data: bytes) -> None:
        if data and not self.h.is_head:
            self.h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def close(self) -> None:
        self.flush()
        if not self.h.is_head:
            self.h.wfile.write(b"0\r\n\r\n")

    def abort(self) -> None:
        """Drop the TCP connection mid-stream (no terminating chunk)."""
        self.flush()
        self.h.close_connection = True
        with contextlib.suppress(OSError):
            self.h.connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer
    is_head = False
    # Go's net package sets TCP_NODELAY on every connection (Ollama, Model Runner): without
    # it, headers and body written apart wait ~40 ms for the client's delayed ACK
    disable_nagle_algorithm = True

    def handle(self) -> None:
        app = self.server.app
        if app.opts["hang"]:
            app.stop_event.wait()  # accepted, never read, never answered
            return
        if app.opts["trickle"]:
            self._trickle(app)
            return
        super().handle()

    def _trickle(self, app: App) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
        i = 0
        try:
            while not app.stop_event.is_set():
                self.wfile.write(head[i : i + 1] if i < len(head) else b".")
                i += 1
                app.stop_event.wait(app.opts["trickle_interval"])
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.opts["verbose"]:
            self.server.app.log(f"{self.address_string()} {format % args}")

    def _dispatch(self) -> None:
        self.is_head = self.command == "HEAD"
        try:
            parts = urlsplit(self.path)
            n = int(self.headers.get("Content-Length") or 0)
            streamed = self.server.app.streams_body(self.command, unquote(parts.path))
            body = self.rfile.read(n) if n > 0 and not streamed else b""
            req = Request(
                self.command, unquote(parts.path), parse_qs(parts.query), self.headers, body
            )
            self.server.app.dispatch(self, req)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = do_PATCH = do_OPTIONS = _dispatch

    def body_chunks(self, size: int = 1 << 20):
        """The request body as it arrives (routes for which App.streams_body is true):
        Content-Length or chunked transfer encoding. A client that hangs up mid-body raises
        ConnectionError."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("the client closed the connection mid-body")
                left = int(line.split(b";")[0].strip() or b"0", 16)
                if left == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                while left:
                    piece = self.rfile.read(min(left, size))
                    if not piece:
                        raise ConnectionError("the client closed the connection mid-body")
                    left -= len(piece)
                    yield piece
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            piece = self.rfile.read(min(left, size))
            if not piece:
                raise ConnectionError("the client closed the connection mid-body")
            left -= len(piece)
            yield piece

    def client_gone(self) -> bool:
        """True when the client closed its side (a request whose context is cancelled)."""
        import select

        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    # --- response helpers
    def start(self, status: int, ctype: str | None, headers: dict | None = None) -> None:
        self.log_request(status)
        self.send_response_only(status)
        server_header = self.server.app.server_header
        if server_header:
            self.send_header("Server", server_header)
        self.send_header("Date", self.date_time_string())
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)

    def send(
        self,
        status: int,
        body: bytes | str = b"",
        ctype: str | None = None,
        headers: dict | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.start(status, ctype, headers)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and not self.is_head:
            self.wfile.write(data)

    def send_json(
        self, status: int, obj: Any, ctype: str = "application/json; charset=utf-8"
    ) -> None:
        self.send(status, dumps(obj), ctype)

    def send_text(self, status: int, text: str, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send(status, text, ctype)

    def go_error(self, status: int, msg: str) -> None:
        """Go net/http http.Error: text/plain, nosniff, trailing newline (§2.1)."""
        self.send(
            status, msg + "\n", "text/plain; charset=utf-8", {"X-Content-Type-Options": "nosniff"}
        )

    def stream(self, status: int, ctype: str, flush_each: bool = True) -> ChunkStream:
        self.start(status, ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        return ChunkStream(self, flush_each)


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], app: App):
        self.app = app
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler, bind_and_activate=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (timeouts, Ctrl-C) is normal for a server:
        # real servers log nothing noisy for it, and tests read the client's stderr.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)
