"""The Docker Engine API as HTTP requests, for :class:`~llmctl.engine.docker_engine.DockerEngine`.

Two transports speak it:

- :class:`SocketTransport`: HTTP/1.1 written and read with the standard library's sockets,
  for ``unix://`` and plain ``tcp://`` daemons (the local engine, Docker Desktop, CI's
  ``tcp://docker:2375``). No docker SDK, requests or urllib3 import and no version
  negotiation: those cost 60 to 110 ms per process, more than `up` on a running server or
  `down` need for their work (docs/performance.md). Connections are kept alive and reused;
  requests from several threads at once each get their own.
- :class:`SdkTransport`: the docker SDK's HTTP session, for everything else (``ssh://``,
  TLS, Windows named pipes), where the SDK's connection code is worth its import.

Paths carry no ``/vX.Y`` prefix: the daemon then answers at its own current API version,
which is what the SDK's ``version="auto"`` negotiates too (with one more request).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

Params = Mapping[str, str | int | bool]


class TransportError(Exception):
    """The daemon could not be reached or broke the connection (the cause is chained)."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def message(self) -> str:
        """The daemon's error text (``{"message": ...}``), or the body as text."""
        try:
            doc = self.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return str(doc["message"])
        return self.snippet()

    def snippet(self, size: int = 120) -> str:
        """The body as one line of at most ``size`` characters (an HTML page, a proxy's
        error) for an error message."""
        text = " ".join(self.body.decode("utf-8", "replace").split())
        return text if len(text) <= size else text[:size - 3] + "..."

    @property
    def from_docker(self) -> bool:
        """Whether the body is the daemon's own JSON error document (``{"message": ...}``)."""
        try:
            doc = self.json()
        except ValueError:
            return False
        return isinstance(doc, dict) and "message" in doc


class Stream(Protocol):
    """Decoded JSON documents as the daemon sends them; ``close()`` (from any thread) ends
    the iteration."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    host: str

    def request(self, method: str, path: str, *, params: Params | None = None,
                body: Any = None, timeout: float | None = None) -> Reply:
        """One request; TransportError when the daemon cannot be reached."""
        ...

    def events(self, filters: dict[str, list[str]]) -> Stream:
        """``GET /events`` from now on, filtered: a stream that runs until closed."""
        ...

    def close(self) -> None: ...


def path_of(template: str, *names: str) -> str:
    """``/containers/{}/json`` with each name quoted as the docker SDK quotes it (an image
    reference keeps its ``/`` and ``:``: the daemon's routes take them as they are)."""
    return template.format(*(quote(n, safe="/:") for n in names))


def _query(path: str, params: Params | None) -> str:
    if not params:
        return path
    flat = {k: ("1" if v is True else "0" if v is False else str(v)) for k, v in params.items()}
    return f"{path}?{urlencode(flat)}"


def _encoded(body: Any) -> tuple[bytes | None, str]:
    """A request's body and its type: bytes go as they are (a tar archive for
    ``PUT /containers/{id}/archive``), anything else as JSON."""
    if isinstance(body, bytes):
        return body, "application/x-tar"
    return (None if body is None else json.dumps(body).encode()), "application/json"


class ProtocolError(Exception):
    """The daemon's answer is not HTTP/1.1 as expected."""


class _Closed(ProtocolError):
    """The daemon closed the connection before a whole answer (a kept-alive connection it
    dropped meanwhile, when nothing of the answer came)."""


_LINE = 65537


class _Connection:
    """One HTTP/1.1 connection to the daemon, requests written and answers read here.

    Why not ``http.client``: it imports ``email`` and ``ssl`` (8 to 10 ms per process, on
    the way of every `up` and `down`), and the daemon's answers need little: a status line,
    headers, then a body of Content-Length bytes or chunks (logs, events, pulls)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.reusable = True

    def send(self, method: str, target: str, body: bytes | None,
             content_type: str = "application/json") -> None:
        lines = [f"{method} {target} HTTP/1.1", "Host: docker", "User-Agent: llmctl"]
        if body is not None:
            lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        elif method in ("POST", "PUT"):
            lines.append("Content-Length: 0")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))

    def head(self) -> tuple[int, dict[str, str]]:
        """The status and headers (names lower-cased) of the answer, past any 1xx."""
        while True:
            line = self.reader.readline(_LINE)
            if not line:
                raise _Closed("the daemon closed the connection")
            version, _, rest = line.partition(b" ")
            if not version.startswith(b"HTTP/") or not rest[:3].isdigit():
                raise ProtocolError(f"not an HTTP answer: {line[:80]!r}")
            status = int(rest[:3])
            headers: dict[str, str] = {}
            while True:
                field = self.reader.readline(_LINE)
                if field in (b"\r\n", b"\n", b""):
                    break
                name, _, value = field.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200:
                continue  # 100 Continue and the like: the real answer follows
            if version == b"HTTP/1.0" or headers.get("connection", "").lower() == "close":
                self.reusable = False
            return status, headers

    def body(self, method: str, status: int, headers: dict[str, str]) -> bytes:
        if method == "HEAD" or status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return b"".join(self.chunks())
        length = headers.get("content-length")
        if length is not None:
            return self._exactly(int(length))
        self.reusable = False  # the body ends with the connection
        return self.reader.read()

    def chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self.reader.readline(_LINE)
            if not size_line:
                raise ProtocolError("the daemon closed the connection inside an answer")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while self.reader.readline(_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            data = self._exactly(size)
            self.reader.readline(_LINE)  # the chunk's CRLF
            yield data

    def _exactly(self, size: int) -> bytes:
        data = self.reader.read(size)
        if len(data) < size:
            raise ProtocolError("the daemon closed the connection inside an answer")
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
        with contextlib.suppress(OSError):
            self.sock.close()


class SocketTransport:
    """``unix:///path`` or ``tcp://host:port`` (no TLS), with the standard library."""

    def __init__(self, host: str, timeout: float = 30.0) -> None:
        self.host = host
        self.timeout = timeout
        parts = urlsplit(host)
        if parts.scheme in ("unix", "http+unix"):
            self._unix: str | None = parts.path
            self._addr: tuple[str, int] | None = None
        elif parts.scheme in ("tcp", "http"):
            self._unix, self._addr = None, (parts.hostname or "127.0.0.1", parts.port or 2375)
        else:
            raise ValueError(f"no socket transport for {host}")
        # Kept-alive connections not in use: requests from several threads each take one.
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    @staticmethod
    def handles(host: str, tls: bool) -> bool:
        scheme = urlsplit(host).scheme
        return scheme in ("unix", "http+unix") or (scheme in ("tcp", "http") and not tls)

    def _connect(self, timeout: float | None) -> _Connection:
        if self._unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(self._unix)
            except BaseException:
                sock.close()
                raise
        else:
            assert self._addr is not None
            sock = socket.create_connection(self._addr, timeout)
        return _Connection(sock)

    def request(self, method: str, path: str, *, params: Params | None = None,
                body: Any = None, timeout: float | None = None) -> Reply:
        data, kind = _encoded(body)
        target = _query(path, params)
        wait = timeout or self.timeout
        for attempt in (1, 2):
            with self._lock:  # a kept-alive connection if one is idle, else a new one
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            try:
                if conn is None:
                    conn = self._connect(wait)
                conn.sock.settimeout(wait)
                conn.send(method, target, data, kind)
                status, headers = conn.head()
                reply = Reply(status, conn.body(method, status, headers))
            except (_Closed, ConnectionResetError, BrokenPipeError) as exc:
                if conn is not None:
                    conn.close()
                if reused and attempt == 1:
                    continue  # the daemon dropped the idle connection: once more, anew
                raise TransportError(str(exc) or type(exc).__name__) from exc
            except (OSError, ValueError, ProtocolError) as exc:
                if conn is not None:
                    conn.close()
                raise TransportError(str(exc) or type(exc).__name__) from exc
            if conn.reusable:
                with self._lock:
                    self._idle.append(conn)
            else:
                conn.close()
            return reply
        raise AssertionError("unreachable")

    def events(self, filters: dict[str, list[str]]) -> Stream:
        # A connection of its own: connecting and the answer's head within the timeout,
        # then no read timeout (events come when they come).
        conn: _Connection | None = None
        try:
            conn = self._connect(self.timeout)
            conn.send("GET", _query("/events", {"filters": json.dumps(filters)}), None)
            status, headers = conn.head()
            if status != 200:
                reply = Reply(status, conn.body("GET", status, headers))
                raise TransportError(f"GET /events: HTTP {status}: {reply.message}")
            conn.sock.settimeout(None)
        except (OSError, ValueError, ProtocolError) as exc:
            if conn is not None:
                conn.close()
            raise TransportError(str(exc) or type(exc).__name__) from exc
        except TransportError:
            if conn is not None:
                conn.close()
            raise
        return _SocketStream(conn, "chunked" in headers.get("transfer-encoding", "").lower())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _SocketStream:
    """An event stream on a connection of its own. The reading thread owns the connection;
    ``close()`` from another thread only shuts the socket down, which ends the read."""

    def __init__(self, conn: _Connection, chunked: bool) -> None:
        self._conn, self._chunked = conn, chunked
        self._closed = False

    def _pieces(self) -> Iterator[bytes]:
        if self._chunked:
            yield from self._conn.chunks()
        else:
            while piece := self._conn.reader.read1(65536):
                yield piece

    def __iter__(self) -> Iterator[dict[str, Any]]:
        pending = b""
        try:
            for piece in self._pieces():
                pending += piece
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    with contextlib.suppress(ValueError):
                        doc = json.loads(line)
                        if isinstance(doc, dict):
                            yield doc
                if self._closed:
                    return
        except (OSError, ValueError, ProtocolError):
            return  # shut down under us, or the daemon went away
        finally:
            self._conn.close()

    def close(self) -> None:
        self._closed = True
        # shutdown wakes a reader blocked in recv (closing the socket would not).
        with contextlib.suppress(OSError):
            self._conn.sock.shutdown(socket.SHUT_RDWR)


class SdkTransport:
    """The docker SDK's session (its ``APIClient``), for ssh://, TLS and named pipes."""

    def __init__(self, api: Any, host: str) -> None:
        self.api = api
        self.host = host

    def request(self, method: str, path: str, *, params: Params | None = None,
                body: Any = None, timeout: float | None = None) -> Reply:
        import requests

        url = f"{self.api.base_url}/v{self.api.api_version}{_query(path, params)}"
        data, kind = _encoded(body)
        try:
            r = self.api.request(method, url, data=data, headers={"Content-Type": kind},
                                 timeout=timeout or self.api.timeout)
        except (requests.exceptions.RequestException, OSError) as exc:
            raise TransportError(str(exc)[:300]) from exc
        return Reply(r.status_code, r.content)

    def events(self, filters: dict[str, list[str]]) -> Stream:
        import requests

        try:
            stream = self.api.events(filters=filters, decode=True)
        except (requests.exceptions.RequestException, OSError) as exc:
            raise TransportError(str(exc)[:300]) from exc
        return _SdkStream(stream)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api.close()


class _SdkStream:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for doc in self._stream:
                if isinstance(doc, dict):
                    yield doc
        except Exception:  # closed under us, or the daemon went away
            return

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()
