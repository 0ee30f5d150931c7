"""The one place that builds httpx clients, plus small helpers every backend shares.

Rules (reference/reliability.md): loopback traffic never goes through HTTP(S)_PROXY,
redirects are not followed, an ``https`` server whose configured endpoint names a CA file
(`llmctl expose --tls internal`) is verified against that CA, for that origin only (every
other server against the system's CAs), connect and read timeouts are short and explicit, and
wall-clock deadlines are enforced on top (httpx's read timeout is per read): by the caller's
asyncio cancellation, or for sync clients by a :class:`Cutter` that shuts the connection down
from another thread (:func:`hard_deadline`).

Whether an answer comes from an LLM API at all is decided here, once, for every caller:
:func:`not_api_reason` says where a redirect points and that a web page is ``serving
text/html, not an LLM API``, as ``probe`` says it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from llmctl.errors import NotAnAPI, TimedOut  # defined in errors, still importable from here
from llmctl.urls import is_loopback_host

if TYPE_CHECKING:
    import socket

    import httpx

T = TypeVar("T")

USER_AGENT = "llmctl"
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0


def _client_options(
    base_url: str, timeout: float, connect_timeout: float, headers: dict[str, str] | None,
    transport: Any, ca_file: str | None = None,
) -> dict[str, Any]:
    import httpx

    parts = urlsplit(base_url)
    loopback = is_loopback_host(parts.hostname or "")
    options: dict[str, Any] = dict(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=False,
        trust_env=not loopback,  # HTTP(S)_PROXY never sees loopback traffic
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        transport=transport,
    )
    if loopback and parts.scheme == "http":
        # Plain HTTP on loopback: skip loading the CA bundle (tens of ms per client).
        options["verify"] = False
    elif parts.scheme == "https":
        if ca_file is None:
            from llmctl.endpoint import configured_for

            configured = configured_for(base_url)
            ca_file = configured.ca_file if configured is not None else None
        if ca_file:
            options["verify"] = trust_only(ca_file, base_url)
    return options


def trust_only(ca_file: str, url: str) -> Any:
    """An SSL context that trusts the CA in ``ca_file`` and nothing else (the proxy's own
    CA, for the one server it signed); a missing or unreadable file is a ConfigError."""
    import ssl

    from llmctl.errors import ConfigError

    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"the CA certificate for {url}, {ca_file}, cannot be used: "
            f"{getattr(exc, 'strerror', None) or exc}",
            "Run `llmctl expose NAME --tls internal` again: it fetches the proxy's CA "
            "certificate anew.",
        ) from None


def make_client(
    base_url: str = "",
    *,
    timeout: float = DEFAULT_READ_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    headers: dict[str, str] | None = None,
    transport: Any = None,
    cutter: Cutter | None = None,
    ca_file: str | None = None,
) -> httpx.Client:
    """A sync client: no proxies for loopback, no redirects, explicit timeouts; ``https``
    verified against ``ca_file`` when given (else the configured endpoint's CA for this
    origin, else the system's).

    ``cutter``: every connection the client opens is handed to it, so that a wall-clock
    deadline (or a stall watchdog) can cut a request off from another thread, even one still
    waiting for the response headers (httpx's timeouts are per read).
    """
    import httpx

    options = _client_options(base_url, timeout, connect_timeout, headers, transport, ca_file)
    if cutter is not None:
        options["event_hooks"] = {"request": [cutter.hook]}
        if transport is None:  # one connection per request, so each one is seen connecting
            options["limits"] = httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(**options)


class Cutter:
    """Cuts off the requests of sync httpx clients from another thread.

    The client's request hook asks httpcore to trace the request; when its TCP connection is
    made the socket is kept, and :meth:`cut` shuts every kept socket down, which wakes a
    blocked read at once (closing a socket from another thread does not, on Linux).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.cut_done = False

    def hook(self, request: httpx.Request) -> None:
        request.extensions["trace"] = self._trace

    def extensions(self) -> dict[str, Any]:
        """For one request: ``client.stream(..., extensions=cutter.extensions())``."""
        return {"trace": self._trace}

    def add(self, response: httpx.Response) -> None:
        """Also cut ``response``'s connection (one reused from the pool is not traced)."""
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            self._keep(sock)

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event != "connection.connect_tcp.complete":
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            self._keep(sock)

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            late = self.cut_done
        if late:
            _shutdown(sock)

    def cut(self) -> None:
        with self._lock:
            self.cut_done = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    import socket

    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def hard_deadline(seconds: float, what: str, url: str, *, shown: float | None = None
                  ) -> Iterator[Cutter]:
    """Run the block's requests (clients made with the yielded cutter) under a wall-clock
    limit: at ``seconds`` their connections are cut and :class:`TimedOut` is raised, whether
    the server is silent, trickles bytes or never finishes (``shown``: the limit to name in
    the message, when the caller already spent part of it)."""
    cutter = Cutter()
    done = threading.Event()

    def guard() -> None:
        if not done.wait(seconds):
            cutter.cut()

    thread = threading.Thread(target=guard, name="llmctl-deadline", daemon=True)
    thread.start()
    try:
        yield cutter
    except Exception as exc:
        if cutter.cut_done and not isinstance(exc, TimedOut):
            raise timed_out(what, url, shown or seconds) from None
        raise
    finally:
        done.set()


def timed_out(what: str, url: str, seconds: float) -> TimedOut:
    return TimedOut(
        f"{what}: {url} did not answer within {seconds:g} s (--timeout)",
        "Check what answers there (llmctl probe URL), or raise --timeout.",
        details={"timeout_s": seconds, "url": url},
    )


def make_async_client(
    base_url: str = "",
    *,
    timeout: float = DEFAULT_READ_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    headers: dict[str, str] | None = None,
    transport: Any = None,
    ca_file: str | None = None,
) -> httpx.AsyncClient:
    """The async twin of :func:`make_client`."""
    import httpx

    return httpx.AsyncClient(**_client_options(base_url, timeout, connect_timeout, headers,
                                               transport, ca_file))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end from synchronous code, on a private event loop; when the
    caller already runs a loop (library use from async code), on one in a worker thread."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what lies beneath it: ``__cause__``/``__context__`` chains and the
    members of exception groups (anyio wraps each failed connection attempt)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 32:
        cur = todo.pop(0)
        if any(cur is s for s in seen):
            continue
        seen.append(cur)
        todo += [c for c in (cur.__cause__, cur.__context__) if c is not None]
        todo += [c for c in getattr(cur, "exceptions", ()) if isinstance(c, BaseException)]
    return seen


def describe_transport_error(exc: BaseException) -> str:
    """A short human reason for an httpx transport error: refused, timeout, TLS, ...

    The sync and async clients word a refused connection differently (the async one says
    "All connection attempts failed" and keeps the ``ConnectionRefusedError`` underneath),
    so the causes are looked at, not just the message.
    """
    import socket
    import ssl

    import httpx

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for an answer"
    if isinstance(exc, httpx.ConnectError):
        causes = _causes(exc)
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return "connection refused"
        if any(isinstance(c, socket.gaierror) for c in causes):
            return "host name not found"
        tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
        if tls is not None:
            return f"TLS error: {tls}"
        low = text.lower()
        if "refused" in low or "errno 111" in low or "errno 61" in low:
            return "connection refused"
        if "ssl" in low or "certificate" in low or "tls" in low:
            return f"TLS error: {text}"
        if "name or service not known" in low or "nodename nor servname" in low:
            return "host name not found"
        deepest = causes[-1] if causes else exc
        if deepest is not exc and isinstance(deepest, OSError) and deepest.strerror:
            return f"cannot connect: {deepest.strerror}"
        return f"cannot connect: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection mid-answer"
    if isinstance(exc, httpx.ReadError):
        return "the connection broke while reading"
    return text


def snippet(body: bytes | str, limit: int = 80) -> str:
    """A short, single-line, printable prefix of a body for error messages."""
    if isinstance(body, bytes):
        body = body[: limit * 4].decode("utf-8", "replace")
    flat = " ".join(body.split())
    return flat[:limit] + ("…" if len(flat) > limit else "")


def error_text(response: httpx.Response) -> str:
    """The server's own error text: Ollama ``{"error": "..."}``, OpenAI
    ``{"error": {"message": ...}}``, FastAPI ``{"detail": ...}`` or Model Runner's plain
    text; for a redirect or a web page, what :func:`not_api_reason` says."""
    reason = not_api_reason(response.status_code, response.headers.get("content-type"),
                            response.headers.get("location"), response.content)
    if reason is not None:
        return reason
    return body_error_text(response.content) or f"HTTP {response.status_code}"


def body_error_text(body: bytes, limit: int = 80) -> str:
    """:func:`error_text` for a body already read (bytes)."""
    import json

    try:
        doc = json.loads(body)
    except ValueError:
        return snippet(body, limit)
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err)
        if err:
            return str(err)
        for key in ("message", "detail"):
            if key in doc:
                return str(doc[key])
    return snippet(body, limit)


# --- answers that are not from an LLM API: one decision for every caller ---

NOT_API_HINT = "Check what answers there with: llmctl probe {url}"
_API_TYPES = ("json", "ndjson", "event-stream", "text/plain")


def media_type(content_type: str | None) -> str:
    """``text/html; charset=utf-8`` → ``text/html`` (``no content type`` when absent)."""
    return (content_type or "").split(";")[0].strip().lower() or "no content type"


def not_api_reason(
    status: int | None, content_type: str | None, location: str | None = None,
    body: bytes | str = b"", *, expect_json: bool = False,
) -> str | None:
    """Why an HTTP answer cannot come from an LLM API, said as ``probe`` says it, or None.

    A redirect is reported with where it points (redirects are never followed); a web page
    or another document type is ``serving text/html, not an LLM API``, with the start of the
    body. ``expect_json``: the body was meant to be JSON and is not.
    """
    if status is not None and 300 <= status < 400:
        return f"redirects to {location or '(no Location header)'} (not followed)"
    ctype = media_type(content_type)
    is_page = any(t in ctype for t in ("html", "xml")) or ctype.startswith(("image/", "video/"))
    prefix = snippet(body, 60) if body else ""
    shown = f" ({prefix!r})" if prefix else ""
    if expect_json and not is_page and "json" in ctype:
        return f"sent {ctype} that is not valid JSON{shown}"
    if is_page or expect_json:
        return f"serving {ctype}, not an LLM API{shown}"
    if ctype != "no content type" and not any(t in ctype for t in _API_TYPES):
        return f"serving {ctype}, not an LLM API"
    return None


def not_api_error(reason: str, url: str, what: str = "") -> NotAnAPI:
    where = f"{what} at {url}" if what else url
    return NotAnAPI(f"{where}: {reason}", NOT_API_HINT.format(url=url),
                    details={"url": url, "reason": reason})


def check_api_answer(response: httpx.Response, what: str = "", *, body: bytes | None = None
                     ) -> None:
    """Raise :class:`NotAnAPI` when ``response`` is a redirect or a page, not an API answer.
    ``body``: what was read of it; None for a streamed response not read yet (its first
    chunk is then read for the message)."""
    ctype, location = response.headers.get("content-type"), response.headers.get("location")
    reason = not_api_reason(response.status_code, ctype, location, body or b"")
    if reason is None:
        return
    if body is None:
        with contextlib.suppress(Exception):
            first = next(response.iter_bytes(), b"")
            reason = not_api_reason(response.status_code, ctype, location, first) or reason
    raise not_api_error(reason, _origin(response), what)


_SSE_FIELDS = (b"data:", b":", b"event:", b"id:", b"retry:")


def first_line_reason(first: bytes, status: int | None, content_type: str | None
                      ) -> str | None:
    """Why a stream whose first bytes are ``first`` is not an LLM API's answer (a web page
    served as 200, say), or None when it starts with a JSON line or a server-sent event."""
    import json

    line = first.strip().split(b"\n", 1)[0].strip()
    if not line or line.startswith(_SSE_FIELDS):
        return None
    try:
        json.loads(line)
        return None
    except ValueError:
        pass
    if line[:1] == b"{" and (b"&#34;" in line or b"&quot;" in line):
        return None  # Model Runner's HTML-escaped JSON lines (when Accept is not honoured)
    return not_api_reason(status, content_type, None, first, expect_json=True)


def checked_stream(chunks: Iterator[bytes], response: Any, what: str) -> Iterator[bytes]:
    """``chunks`` of a streamed answer, after checking that it starts like an API's
    (:func:`first_line_reason`); else :class:`NotAnAPI`. Sync or async responses alike
    (only ``status_code``, ``headers`` and ``request.url`` are read)."""
    head = b""
    checked = False
    for chunk in chunks:
        if checked:
            yield chunk
            continue
        head += chunk
        if b"\n" not in head.lstrip() and len(head) < 4096:
            continue
        _check_first(head, response, what)
        checked = True
        yield head
    if not checked and head:
        _check_first(head, response, what)
        yield head


def _check_first(head: bytes, response: Any, what: str) -> None:
    reason = first_line_reason(head, response.status_code, response.headers.get("content-type"))
    if reason is not None:
        raise not_api_error(reason, _origin(response), what)


def _origin(response: httpx.Response) -> str:
    url = response.request.url
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


def json_or_error(response: httpx.Response, what: str) -> Any:
    """Decode a JSON body, or raise :class:`NotAnAPI` saying what answered instead."""
    check_api_answer(response, what, body=response.content)
    try:
        return response.json()
    except ValueError:
        reason = not_api_reason(response.status_code, response.headers.get("content-type"),
                                None, response.content, expect_json=True)
        assert reason is not None
        raise not_api_error(reason, _origin(response), what) from None


class Deadline:
    """A wall-clock deadline; ``remaining()`` never goes below a small floor."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self, floor: float = 0.05) -> float:
        return max(floor, self.seconds - self.elapsed)

    @property
    def expired(self) -> bool:
        return self.elapsed >= self.seconds
