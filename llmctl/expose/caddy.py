"""The proxy's configuration: a Caddyfile for Caddy 2 (the official image's layout: config
``/etc/caddy/Caddyfile``, data ``/data``). Pure: text in, text out.

What it says:
- a request whose ``Authorization`` header is exactly ``Bearer KEY`` goes to the server (on
  the ``llmctl`` Docker network), with that header removed (the server never sees the key);
- every other request gets ``401`` with no body (and ``WWW-Authenticate: Bearer``): the
  server sees nothing of it;
- answers are passed on as they come (``flush_interval -1``): Ollama's NDJSON and OpenAI's
  server-sent events stream token by token;
- ``tls internal``: Caddy's own CA signs a certificate for each name the clients use; its
  root is ``/data/caddy/pki/authorities/local/root.crt``. Clients that connect to an IP
  address send no server name (SNI), and Caddy, inside a container, sees its container
  address instead of the published one: ``default_sni`` names the certificate they get.
  Caddy never tries to install that root into a trust store (``skip_install_trust``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

CONFIG_PATH = "/etc/caddy/Caddyfile"
DATA_DIR = "/data"
CA_PATH = f"{DATA_DIR}/caddy/pki/authorities/local/root.crt"
KEY_RE = re.compile(r"[A-Za-z0-9_-]{32,128}")  # what secrets.token_urlsafe gives
_KEY_LINE = re.compile(r'header Authorization "Bearer ([A-Za-z0-9_-]+)"')
_UPSTREAM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*:[0-9]{1,5}")
_HOST_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


def _valid_name(name: str) -> bool:
    """A host name or an IP address (what a certificate can be for)."""
    import ipaddress

    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return bool(_HOST_RE.fullmatch(name))


def site_address(name: str, port: int) -> str:
    host = f"[{name}]" if ":" in name else name
    return f"https://{host}:{port}"


def render(*, upstream: str, key: str | None, port: int, tls: str = "off",
           names: Sequence[str] = (), default_name: str | None = None,
           key_env: str | None = None) -> str:
    """The Caddyfile: ``upstream`` is ``HOST:PORT`` on the ``llmctl`` network, ``port`` the
    port the proxy listens on inside its container; with ``tls`` ``internal``, ``names`` are
    the names (and IP addresses) clients connect to and ``default_name`` the certificate a
    client that sends no server name gets.

    ``key_env`` instead of ``key`` (an export, which never holds the key): Caddy reads the key
    from that environment variable when it starts. It fails closed: the header must also be
    ``Bearer`` and 32 or more key characters, so with the variable unset or short nothing
    gets through."""
    if key_env is not None:
        if key is not None or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key_env):
            raise ValueError("give a key or the name of the variable holding it")
        matcher = ["\t@key {",
                   f'\t\theader Authorization "Bearer {{${key_env}}}"',
                   '\t\theader_regexp Authorization "^Bearer [A-Za-z0-9_-]{32,}$"',
                   "\t}"]
    elif key is None or not KEY_RE.fullmatch(key):
        raise ValueError("the key must be 32 to 128 URL-safe characters")
    else:
        matcher = [f'\t@key header Authorization "Bearer {key}"']
    if not _UPSTREAM_RE.fullmatch(upstream):
        raise ValueError(f"not HOST:PORT: {upstream!r}")
    if tls not in ("off", "internal"):
        raise ValueError(f"tls must be off or internal, not {tls!r}")
    for name in names:
        if not _valid_name(name):
            raise ValueError(f"not a host name or address: {name!r}")
    lines = [
        "# Written by `llmctl expose`: the authenticating proxy in front of an LLM server.",
        *(["# It holds the key: 0600, inside the proxy container only. Do not edit: `llmctl",
           "# expose` writes it anew (and `--rotate-key` replaces the key)."]
          if key_env is None else
          [f"# The key comes from the environment variable {key_env} (32 characters or more;",
           "# unset or shorter, every request gets 401)."]),
        "{",
        "\tadmin off",
    ]
    if tls == "off":
        lines += ["\tauto_https off", "}", f":{port} {{"]
    else:
        if not names or default_name not in names:
            raise ValueError("tls internal needs the names, the default one among them")
        lines += ["\tauto_https disable_redirects", "\tskip_install_trust",
                  f"\tdefault_sni {default_name}", "}",
                  ", ".join(site_address(n, port) for n in names) + " {",
                  "\ttls internal"]
    lines += [
        *matcher,
        "\thandle @key {",
        f"\t\treverse_proxy {upstream} {{",
        "\t\t\theader_up -Authorization",
        "\t\t\tflush_interval -1",
        "\t\t}",
        "\t}",
        "\thandle {",
        "\t\theader WWW-Authenticate Bearer",
        "\t\trespond 401",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def key_of(config: bytes | str | None) -> str | None:
    """The key in a Caddyfile :func:`render` wrote; None when there is none."""
    if config is None:
        return None
    text = config.decode("utf-8", "replace") if isinstance(config, bytes) else config
    found = _KEY_LINE.search(text)
    return found.group(1) if found and KEY_RE.fullmatch(found.group(1)) else None
