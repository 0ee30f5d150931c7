"""One home for a server URL: every URL that enters llmctl is read and checked here.

``--endpoint`` of every command, probe targets, ``MODEL_RUNNER_HOST``, ``OLLAMA_HOST`` (with
Ollama's own rules, reference/server-apis.md §1.1) and the default ports of the servers llmctl
knows. A URL is checked before any I/O, and a bad one is a :class:`~llmctl.errors.UsageError`
(exit 2) that names where it came from: a scheme other than http(s), a malformed IPv6 literal
(``http://[::1``), port 0 or above 65535, a host with spaces, credentials, a query or a
fragment.

What a normalised URL looks like:

* ``localhost`` (and ``0.0.0.0``) mean ``127.0.0.1`` and ``::`` means ``::1``: on some systems
  ``localhost`` resolves to ``::1`` first, and a client that tries it first waits seconds for
  nothing (reference/reliability.md "Safe defaults" 2). ``probe`` alone may race both
  addresses, as it is a discovery tool (:attr:`ServerURL.host_as_given`).
* the scheme and host are lower-cased, the trailing ``/`` is dropped, the port is kept as
  written (a missing port means the scheme's: 80 or 443).
* :attr:`ServerURL.root` is the server root: the URL without an API suffix (``/v1``,
  ``/engines/v1``, ``/engines/llama.cpp/v1``, ``/api``, ``/api/tags``, ``/v1/models``); a
  prefix before it (a reverse proxy's ``/ollama``) is kept.

Pure: no I/O and no imports beyond the standard library, so any module may use it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from llmctl.errors import UsageError

# --- default ports (reference/server-apis.md §1.1, §2.1, §3, §5, §6) ---------------------------

OLLAMA_PORT = 11434
OLLAMA_ALT_PORT = 11435  # where `llmctl up ollama` goes when a host Ollama holds 11434
MODEL_RUNNER_PORT = 12434
VLLM_PORT = 8000
TGI_PORTS = (80, 3000)  # the image's PORT=80; the launcher's own default 3000
LLAMACPP_PORT = 8080
LOCALAI_PORT = 8080
#: where `probe` (and `endpoint write` without a URL) looks on this machine
PROBE_PORTS = (OLLAMA_PORT, OLLAMA_ALT_PORT, MODEL_RUNNER_PORT, VLLM_PORT, LLAMACPP_PORT)

LOOPBACK = "127.0.0.1"
OLLAMA_URL = f"http://{LOOPBACK}:{OLLAMA_PORT}"
MODEL_RUNNER_URL = f"http://{LOOPBACK}:{MODEL_RUNNER_PORT}"

EXAMPLE = "Example: http://127.0.0.1:11434 (IPv6: http://[::1]:11434)"

# Hosts a client must not connect to as written (Ollama's ConnectableHost, plus localhost).
_CONNECT_AS = {"localhost": LOOPBACK, "0.0.0.0": LOOPBACK, "::": "::1"}
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?")
# An API suffix after the server root; group "prefix" is what stays.
_API_SUFFIX = re.compile(
    r"(?P<prefix>.*?)(?P<api>/engines(?:/[^/]+)?/v1(?:/models)?|/v1(?:/models)?|/api(?:/tags)?)$"
)


# --- a parsed, checked URL ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServerURL:
    """A checked http(s) URL of a server (see the module docstring for the rules)."""

    scheme: str  # http | https
    host_as_given: str  # lower-cased, no brackets: localhost, 0.0.0.0, ::1, gpu.example
    port: int | None  # as written; None: the scheme's default
    path: str  # no trailing slash: "", /v1, /engines/v1, /proxy/v1
    given: str  # what the user wrote

    @property
    def host(self) -> str:
        """The host a client connects to: ``localhost``/``0.0.0.0`` → 127.0.0.1, ``::`` → ::1."""
        return _CONNECT_AS.get(self.host_as_given, self.host_as_given)

    @property
    def effective_port(self) -> int:
        return self.port or (443 if self.scheme == "https" else 80)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` (connectable, no path)."""
        return f"{self.scheme}://{join_host_port(self.host, self.port)}"

    @property
    def url(self) -> str:
        """The whole URL, connectable: ``http://127.0.0.1:8080/v1``."""
        return self.origin + self.path

    @property
    def api_path(self) -> str:
        """The API suffix written after the root (``/v1``, ``/engines/v1``), or ``""``."""
        m = _API_SUFFIX.fullmatch(self.path)
        return m.group("api") if m else ""

    @property
    def prefix(self) -> str:
        """The path before the API suffix (a reverse proxy's ``/ollama``), or ``""``."""
        m = _API_SUFFIX.fullmatch(self.path)
        return m.group("prefix") if m else self.path

    @property
    def root(self) -> str:
        """The server root, connectable: the URL without its API suffix."""
        return self.origin + self.prefix

    def root_as_given(self) -> str:
        """:attr:`root`, but ``localhost`` kept as written (probe tries 127.0.0.1 and ::1)."""
        host = "localhost" if self.host_as_given == "localhost" else self.host
        return f"{self.scheme}://{join_host_port(host, self.port)}{self.prefix}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def __str__(self) -> str:
        return self.url


def join_host_port(host: str, port: int | None) -> str:
    """``host:port`` with IPv6 literals bracketed; no ``:port`` when ``port`` is None."""
    h = f"[{host}]" if ":" in host else host
    return h if port is None else f"{h}:{port}"


def _bad(what: str, url: str, why: str) -> UsageError:
    return UsageError(f"{what} {url!r} is not a valid URL: {why}".lstrip(), EXAMPLE)


def _check_host(host: str, what: str, url: str) -> str:
    if not host:
        raise _bad(what, url, "no host")
    if ":" in host:  # an IPv6 literal (urlsplit has checked the brackets)
        try:
            ipaddress.IPv6Address(host.replace("%25", "%"))
        except ValueError:
            raise _bad(what, url, f"{host!r} is not an IPv6 address") from None
        return host
    if not _HOST_NAME.fullmatch(host) or len(host) > 253:
        raise _bad(what, url, f"{host!r} is not a host name or IP address")
    return host


def parse(url: str, what: str = "--endpoint", *, shorthand: bool = True) -> ServerURL:
    """Check ``url`` and read it; raise a UsageError naming ``what`` (before any I/O).

    ``shorthand`` accepts what people type at a prompt: ``host:port`` and ``[::1]:port``
    (http is assumed), ``:port`` and a bare port (127.0.0.1).
    """
    raw = (url or "").strip()
    if not raw:
        raise UsageError(f"{what}: the URL is empty".lstrip(": "), EXAMPLE)
    if any(ord(c) < 0x20 or c.isspace() or ord(c) == 0x7F for c in raw):
        raise _bad(what, url, "it contains spaces or control characters")
    if shorthand and "://" not in raw:
        if raw.isdigit():
            raw = f"{LOOPBACK}:{raw}"
        elif raw.startswith(":") and raw[1:].isdigit():
            raw = LOOPBACK + raw
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        why = "the port is not a number from 1 to 65535" if "port" in str(exc).lower() \
            else str(exc)
        raise _bad(what, url, why) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme}://" if scheme else "no scheme"
        raise _bad(what, url, f"{shown} is not http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{what}: credentials in the URL are not accepted (they would show in output)"
            .lstrip(": "),
            "Give a bearer token with --token-file instead.",
        )
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise _bad(what, url, "a server URL has no ?query or #fragment")
    if port == 0:
        raise _bad(what, url, "port 0 is not a port a server listens on (1-65535)")
    netloc_port = parts.netloc.rpartition("]")[2] if "]" in parts.netloc else parts.netloc
    if netloc_port.endswith(":"):  # http://h: is a missing port, not the default one
        raise _bad(what, url, "the port is missing after ':'")
    host = _check_host((parts.hostname or "").lower(), what, url)
    path = re.sub(r"/+$", "", parts.path)
    if "//" in path:
        raise _bad(what, url, f"the path {parts.path!r} has an empty segment")
    return ServerURL(scheme=scheme, host_as_given=host, port=port, path=path, given=url)


def normalize(url: str, what: str = "--endpoint", *, shorthand: bool = True) -> str:
    """:func:`parse` and return the connectable URL (path kept)."""
    return parse(url, what, shorthand=shorthand).url


def connectable(url: str) -> str:
    """``url`` with its host made connectable (``localhost``/``0.0.0.0`` → 127.0.0.1,
    ``::`` → ::1), for URLs already checked; an unreadable one is returned as it is."""
    try:
        return parse(url, "URL", shorthand=False).url
    except UsageError:
        return url


def server_root(url: str) -> str:
    """The server root of ``url`` (API suffix removed, host made connectable).

    For URLs already checked (config entries, URLs llmctl built); an unreadable one is
    returned without its trailing ``/``.
    """
    try:
        return parse(url, "URL", shorthand=False).root
    except UsageError:
        return url.rstrip("/")


def api_base(root: str, api_type: str, kind: str = "") -> str:
    """The URL clients use: the root for Ollama's API, ``…/v1`` for OpenAI
    (``…/engines/v1`` on Docker Model Runner)."""
    root = root.rstrip("/")
    if api_type == "ollama":
        return root
    if kind == "docker-model-runner":
        return root + "/engines/v1"
    return root + "/v1"


def container_url(url: str) -> str:
    """How another container reaches a loopback URL of this host (host.docker.internal)."""
    try:
        u = parse(url, "URL", shorthand=False)
    except UsageError:
        return url
    if not is_loopback_host(u.host) and u.host_as_given not in _CONNECT_AS:
        return url
    return f"{u.scheme}://{join_host_port('host.docker.internal', u.port)}{u.path}"


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_server(a: str, b: str) -> bool:
    """True when two URLs name the same server root (``localhost:P`` is ``127.0.0.1:P``)."""
    try:
        ua, ub = parse(a, "URL"), parse(b, "URL")
    except UsageError:
        return False
    return (ua.scheme, ua.host, ua.effective_port, ua.prefix) == (
        ub.scheme, ub.host, ub.effective_port, ub.prefix)


# --- OLLAMA_HOST, read as Ollama reads it (envconfig Host() / ConnectableHost()) -----------------


@dataclass(frozen=True)
class OllamaHost:
    """``OLLAMA_HOST`` as Ollama's envconfig ``Host()`` reads it (server-apis §1.1)."""

    raw: str | None
    scheme: str
    host: str
    port: int
    path: str
    default_port: int
    scheme_given: bool = False
    port_given: bool = False
    port_note: str | None = None  # why the given port was replaced by the default

    @property
    def url(self) -> str:
        """What Ollama itself makes of it (host as written: a server's bind address)."""
        return f"{self.scheme}://{join_host_port(self.host, self.port)}" + (
            f"/{self.path}" if self.path else "")

    @property
    def connect_host(self) -> str:
        """What a client connects to: Ollama's ConnectableHost() swaps 0.0.0.0 and ::."""
        return {"0.0.0.0": LOOPBACK, "::": "::1", "": LOOPBACK}.get(self.host, self.host)

    @property
    def client_url(self) -> str:
        """The ``ollama`` CLI's view: ConnectableHost(), no path."""
        return f"{self.scheme}://{join_host_port(self.connect_host, self.port)}"

    @property
    def base_url(self) -> str:
        """The server URL llmctl uses: :attr:`client_url` with ``localhost`` pinned to
        127.0.0.1 and the path kept."""
        host = _CONNECT_AS.get(self.connect_host.lower(), self.connect_host)
        path = "/" + self.path.strip("/") if self.path.strip("/") else ""
        return f"{self.scheme}://{join_host_port(host, self.port)}{path}"

    @property
    def warning(self) -> str | None:
        return f"OLLAMA_HOST={self.raw!r}: {self.port_note}" if self.port_note else None

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "url": self.url, "client_url": self.client_url,
                "scheme": self.scheme, "host": self.host, "port": self.port,
                "path": self.path, "default_port": self.default_port,
                "scheme_given": self.scheme_given, "port_given": self.port_given,
                "port_note": self.port_note}


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``: None when there is no port (or the form is wrong)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or not hostport[end + 1:].startswith(":"):
            return None
        return hostport[1:end], hostport[end + 2:]
    if hostport.count(":") != 1:
        return None
    host, port = hostport.split(":")
    return host, port


def parse_ollama_host(value: str | None, default: int = OLLAMA_PORT) -> OllamaHost:
    """Ollama's rules: unset → http://127.0.0.1:11434; no scheme → port 11434;
    ``http://host`` → port 80 and ``https://host`` → 443; ``ollama.com`` → https:443;
    a bad port falls back to the default; a path is kept."""
    raw = value
    s = (value or "").strip().strip("\"'").strip()
    scheme, sep, hostport = s.partition("://")
    scheme = scheme.lower()
    default_port = default
    if not sep:
        scheme, hostport = "http", s
        if s == "ollama.com":
            scheme, hostport = "https", "ollama.com:443"
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport, _, path = hostport.partition("/")
    split = _split_host_port(hostport)
    if split is None:
        host, port_text = LOOPBACK, str(default_port)
        bare = hostport.strip("[]")
        if bare:
            host = bare
    else:
        host, port_text = split
    note = None
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        note = f"port {port_text!r} is not valid: Ollama uses {default_port} instead"
        port = default_port
    return OllamaHost(raw if raw is not None and raw.strip() else None, scheme, host, port,
                      path, default_port, scheme_given=bool(sep),
                      port_given=split is not None, port_note=note)


def ollama_host_env(env: Mapping[str, str]) -> OllamaHost | None:
    """``OLLAMA_HOST`` from ``env`` when set and not empty, else None."""
    value = env.get("OLLAMA_HOST", "")
    return parse_ollama_host(value) if value.strip() else None
