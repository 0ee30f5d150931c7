"""The Docker Engine API as HTTP requests, for :class:`~llmctl.engine.docker_engine.DockerEngine`.

Two transports speak it:

- :class:`SocketTransport`: the standard library's ``http.client`` on the daemon's socket,
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
import http.client
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
        return self.body.decode("utf-8", "replace").strip()[:300]


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
    """``/containers/{}/json`` with each name quoted (a name may hold ``/`` or ``:``)."""
    return template.format(*(quote(n, safe="") for n in names))


def _query(path: str, params: Params | None) -> str:
    if not params:
        return path
    flat = {k: ("1" if v is True else "0" if v is False else str(v)) for k, v in params.items()}
    return f"{path}?{urlencode(flat)}"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


# What a kept-alive connection the daemon has closed meanwhile looks like: sent again once.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
          http.client.CannotSendRequest, http.client.ResponseNotReady)


class SocketTransport:
    """``unix:///path`` or ``tcp://host:port`` (no TLS), with ``http.client``."""

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
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    @staticmethod
    def handles(host: str, tls: bool) -> bool:
        scheme = urlsplit(host).scheme
        return scheme in ("unix", "http+unix") or (scheme in ("tcp", "http") and not tls)

    def _new(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._unix is not None:
            return _UnixConnection(self._unix, timeout)
        assert self._addr is not None
        return http.client.HTTPConnection(*self._addr, timeout=timeout)

    def request(self, method: str, path: str, *, params: Params | None = None,
                body: Any = None, timeout: float | None = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        url = _query(path, params)
        for attempt in (1, 2):
            with self._lock:  # a kept-alive connection if one is idle, else a new one
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            conn = conn or self._new(timeout or self.timeout)  # the connect's timeout too
            try:
                if conn.sock is None:
                    conn.connect()
                assert conn.sock is not None
                conn.sock.settimeout(timeout or self.timeout)
                conn.request(method, url, body=data, headers=headers)
                response = conn.getresponse()
                reply = Reply(response.status, response.read())
            except _STALE as exc:
                conn.close()
                if reused and attempt == 1:
                    continue
                raise TransportError(str(exc) or type(exc).__name__) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise TransportError(str(exc) or type(exc).__name__) from exc
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            return reply
        raise AssertionError("unreachable")

    def events(self, filters: dict[str, list[str]]) -> Stream:
        # A connection of its own: connecting and the answer's head within the timeout,
        # then no read timeout (events come when they come).
        conn = self._new(self.timeout)
        try:
            conn.request("GET", _query("/events", {"filters": json.dumps(filters)}))
            response = conn.getresponse()
            if conn.sock is not None:
                conn.sock.settimeout(None)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise TransportError(str(exc) or type(exc).__name__) from exc
        if response.status != 200:
            reply = Reply(response.status, response.read())
            conn.close()
            raise TransportError(f"GET /events: HTTP {reply.status}: {reply.message}")
        return _SocketStream(conn, response)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _SocketStream:
    """An event stream on a connection of its own. The reading thread owns the connection;
    ``close()`` from another thread only shuts the socket down, which ends the read."""

    def __init__(self, conn: http.client.HTTPConnection,
                 response: http.client.HTTPResponse) -> None:
        self._conn, self._response = conn, response
        self._closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            while not self._closed:
                try:
                    line = self._response.readline()
                except (OSError, ValueError, AttributeError, http.client.HTTPException):
                    return  # shut down under us, or the daemon went away
                if not line:
                    return
                with contextlib.suppress(ValueError):
                    doc = json.loads(line)
                    if isinstance(doc, dict):
                        yield doc
        finally:
            self._conn.close()

    def close(self) -> None:
        self._closed = True
        sock = self._conn.sock
        if sock is not None:
            # shutdown wakes a reader blocked in recv (closing the socket would not).
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SdkTransport:
    """The docker SDK's session (its ``APIClient``), for ssh://, TLS and named pipes."""

    def __init__(self, api: Any, host: str) -> None:
        self.api = api
        self.host = host

    def request(self, method: str, path: str, *, params: Params | None = None,
                body: Any = None, timeout: float | None = None) -> Reply:
        import requests

        url = f"{self.api.base_url}/v{self.api.api_version}{_query(path, params)}"
        try:
            r = self.api.request(method, url, json=body, timeout=timeout or self.api.timeout)
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
