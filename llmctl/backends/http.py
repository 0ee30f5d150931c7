"""The one place that builds httpx clients, plus small helpers every backend shares.

Rules (reference/reliability.md): loopback traffic never goes through HTTP(S)_PROXY,
redirects are not followed, connect and read timeouts are short and explicit, and
wall-clock deadlines are enforced by the caller (httpx's read timeout is per read).
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmctl.errors import ServerError

if TYPE_CHECKING:
    import httpx

USER_AGENT = "llmctl"
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str = "--endpoint") -> str:
    """An http(s) URL with a host and a valid port, trailing slashes removed; otherwise a
    UsageError naming ``what`` (checked before any request is made)."""
    from llmctl.errors import UsageError

    raw = url.strip()
    example = "Example: http://127.0.0.1:11435 (IPv6: http://[::1]:11435)"
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"{what} {url!r} is not a valid URL ({exc})", example) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} {url!r} is not an http(s) URL with a host", example)
    return raw.rstrip("/")


def _client_options(
    base_url: str, timeout: float, connect_timeout: float, headers: dict[str, str] | None,
    transport: Any,
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
    return options


def make_client(
    base_url: str = "",
    *,
    timeout: float = DEFAULT_READ_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    headers: dict[str, str] | None = None,
    transport: Any = None,
) -> httpx.Client:
    """A sync client: no proxies for loopback, no redirects, explicit timeouts."""
    import httpx

    return httpx.Client(**_client_options(base_url, timeout, connect_timeout, headers,
                                          transport))


def make_async_client(
    base_url: str = "",
    *,
    timeout: float = DEFAULT_READ_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    headers: dict[str, str] | None = None,
    transport: Any = None,
) -> httpx.AsyncClient:
    """The async twin of :func:`make_client`."""
    import httpx

    return httpx.AsyncClient(**_client_options(base_url, timeout, connect_timeout, headers,
                                               transport))


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
    text."""
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


def json_or_error(response: httpx.Response, what: str) -> Any:
    """Decode a JSON body or raise a ServerError that names what answered instead."""
    ctype = response.headers.get("content-type", "")
    try:
        return response.json()
    except ValueError:
        kind = ctype.split(";")[0] or "no content type"
        raise ServerError(
            f"{what}: expected JSON, got {kind} ({snippet(response.content)!r})",
            "Check that the URL points at an LLM server's API.",
        ) from None


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
