"""Pure planning for `llmctl expose`: the request checked, the proxy's container spec, its
labels and the names its certificate is for. No I/O here (the LAN address of this machine
is asked by the caller and handed in).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from llmctl import __version__
from llmctl.errors import UsageError
from llmctl.expose import caddy
from llmctl.plan import (
    LABEL_API,
    LABEL_MANAGED,
    LABEL_PORT,
    LABEL_ROLE,
    LABEL_SPEC_HASH,
    LABEL_VERSION,
    LOOPBACK_BINDS,
    ROLE_PROXY,
    ContainerFile,
    ContainerSpec,
    PortBinding,
    VolumeMount,
    validate_bind,
)

# The official Caddy image, an explicit release (Caddy 2.11.7, October 2026); any image shaped
# like it (caddy on PATH, config /etc/caddy/Caddyfile, data /data) works: --proxy-image.
DEFAULT_IMAGE = "caddy:2.11.7"
TLS_MODES = ("off", "internal")
# The port Caddy listens on inside its container, and the host port tried first: next to
# Ollama's 11434, clear of the ports LLM servers use by default (8000, 8080, 11434, 12434).
CONTAINER_PORT = {"off": 8080, "internal": 8443}
DEFAULT_HOST_PORT = {"off": 11480, "internal": 11443}

LABEL_PROXY_FOR = "io.llmctl.proxy-for"  # the instance it protects
LABEL_UPSTREAM = "io.llmctl.upstream"  # the server's container
LABEL_TLS = "io.llmctl.tls"  # off | internal
LABEL_API_PATH = "io.llmctl.api-path"  # "", /v1, /engines/v1
LABEL_KEY_CREATED = "io.llmctl.key-created"  # when the key was made (UTC, ISO 8601)
# The host the endpoint URL names (what the certificate's default name is): not secret.
LABEL_URL_HOST = "io.llmctl.url-host"


def proxy_name(instance: str) -> str:
    return f"llmctl-proxy-{instance}"


def volume_name(instance: str) -> str:
    """Where a `--tls internal` proxy keeps its CA and certificates (kept across a rotation
    or a new `expose`, so clients that trust the CA keep trusting it)."""
    return f"llmctl-proxy-{instance}-data"


def endpoint_name(instance: str) -> str:
    """The endpoint file entry for the exposed URL."""
    return f"{instance}-exposed"


def new_key() -> str:
    return secrets.token_urlsafe(32)


def now_text() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class ExposeRequest:
    """`llmctl expose NAME` as typed values."""

    name: str  # the instance (`llmctl up PROFILE --name NAME`; default: the profile)
    listen: str | None = None  # IP:PORT, IP or PORT (default 127.0.0.1, a free port)
    tls: str = "off"
    rotate_key: bool = False
    image: str | None = None
    timeout: float = 60.0  # for the proxy to answer


@dataclass(frozen=True)
class Checked:
    """A request after the checks that need no engine: what `expose` applies."""

    instance: str
    listen_ip: str
    listen_port: int | None  # None: the one the proxy has, else the default or a free one
    tls: str
    image: str
    rotate_key: bool
    timeout: float

    @property
    def exposed(self) -> bool:
        return self.listen_ip not in LOOPBACK_BINDS


def parse_listen(text: str | None) -> tuple[str, int | None]:
    """``--listen``: ``IP:PORT``, ``[IPv6]:PORT``, ``IP`` or ``PORT``; a literal IP only (a
    host name would make Docker publish on every interface)."""
    if text is None or text == "":
        return "127.0.0.1", None
    hint = "Example: --listen 127.0.0.1:8443 (default), or --listen 0.0.0.0:8443 for the LAN."
    value = text.strip()
    host, port_text, sep = value, "", False
    if value.isdigit():
        host, port_text = "127.0.0.1", value
    elif value.startswith("["):
        inside, closed, rest = value[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise UsageError(f"--listen {text!r} is not IP:PORT", hint)
        host, port_text, sep = inside, rest[1:], bool(rest)
    elif value.count(":") == 1:
        host, port_text = value.split(":")
        sep = True
    try:
        ip = validate_bind(host)
    except UsageError:
        raise UsageError(f"--listen {text!r}: {host!r} is not an IP address", hint) from None
    if port_text == "":
        if sep:
            raise UsageError(f"--listen {text!r} has no port after ':'", hint)
        return ip, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"--listen {text!r}: {port_text!r} is not a TCP port (1 to 65535)",
                         hint)
    return ip, int(port_text)


def check(request: ExposeRequest) -> Checked:
    """Everything the command line alone can tell, before the engine is contacted."""
    from llmctl.inputs import check_seconds
    from llmctl.names import validate_instance_name
    from llmctl.profiles import validate_image

    instance = validate_instance_name(request.name, "NAME")
    if request.tls not in TLS_MODES:
        raise UsageError(f"--tls {request.tls!r} is not one of {', '.join(TLS_MODES)}",
                         "Use --tls off (plain HTTP) or --tls internal (the proxy's own CA).")
    image = request.image or DEFAULT_IMAGE
    problem = validate_image(image)
    if problem:
        raise UsageError(f"--proxy-image: {problem}", f"Example: --proxy-image {DEFAULT_IMAGE}")
    check_seconds(request.timeout)
    ip, port = parse_listen(request.listen)
    return Checked(instance, ip, port, request.tls, image, request.rotate_key, request.timeout)


def exposure_warnings(checked: Checked, port: int | str) -> list[str]:
    """What a user must hear before the proxy is published beyond loopback."""
    where = f"[{checked.listen_ip}]" if ":" in checked.listen_ip else checked.listen_ip
    warnings = [
        f"publishing the proxy on {where}:{port} makes {checked.instance} reachable from the "
        "network for anyone who has the key; ports published by Docker bypass host "
        "firewalls (UFW, firewalld)."]
    if checked.tls == "off":
        warnings.append(
            "--tls off: the key, every prompt and every answer travel in clear text on the "
            "network; anyone on the path can read the key and use it. Use --tls internal on "
            "a network you do not fully trust.")
    return warnings


@dataclass(frozen=True)
class Upstream:
    """The server a proxy is put in front of, as the proxy reaches it."""

    instance: str
    profile: str
    api: str  # ollama | openai
    api_path: str  # where the API is under the server root: "", /v1, /engines/v1
    container: str
    address: str  # HOST:PORT on the llmctl network, e.g. llmctl-ollama:11434
    state: str
    host_ip: str | None  # where the server itself is published (should be loopback)
    host_port: int | None


def tls_names(url_host: str, container: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The names the certificate is for: the host of the endpoint URL first (also the
    certificate a client without SNI gets), ``localhost``, the proxy's container name (for
    other containers on the llmctl network), then ``extra`` (this machine's host name)."""
    names: list[str] = []
    for n in (url_host.strip("[]"), "localhost", container, *extra):
        if n and n not in names:
            names.append(n)
    return names


def plan_proxy(upstream: Upstream, checked: Checked, *, host_port: int, key: str,
               key_created: str, url_host: str, names: list[str]) -> ContainerSpec:
    """The proxy's container: ``checked.image``, the Caddyfile (with ``key``) written into
    it before it starts, ``checked.listen_ip:host_port`` published to its port, on the
    llmctl network, a volume for its CA with ``--tls internal``. The spec hash covers what
    the proxy does, never the key (which lives in the file and the endpoint entry only)."""
    cport = CONTAINER_PORT[checked.tls]
    names = names if checked.tls == "internal" else []
    config = caddy.render(upstream=upstream.address, key=key, port=cport, tls=checked.tls,
                          names=names, default_name=url_host.strip("[]") if names else None)
    volumes = ((VolumeMount(volume_name(upstream.instance), caddy.DATA_DIR),)
               if checked.tls == "internal" else ())
    ports = (PortBinding(checked.listen_ip, host_port, cport),)
    hashed = {"image": checked.image, "ports": [[p.host_ip, p.host_port, p.container_port]
                                                for p in ports],
              "tls": checked.tls, "names": names, "upstream": upstream.address,
              "volumes": [v.name for v in volumes], "format": 1}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
    labels = {
        LABEL_MANAGED: "true",
        LABEL_ROLE: ROLE_PROXY,
        LABEL_PROXY_FOR: upstream.instance,
        LABEL_UPSTREAM: upstream.container,
        LABEL_API: upstream.api,
        LABEL_API_PATH: upstream.api_path,
        LABEL_PORT: str(cport),
        LABEL_TLS: checked.tls,
        LABEL_URL_HOST: url_host,
        LABEL_KEY_CREATED: key_created,
        LABEL_SPEC_HASH: digest,
        LABEL_VERSION: __version__,
    }
    return ContainerSpec(
        name=proxy_name(upstream.instance), instance=upstream.instance, profile="proxy",
        api=upstream.api, image=checked.image, command=(), env={}, ports=ports,
        volumes=volumes, gpus=False, labels=labels,
        files=(ContainerFile(caddy.CONFIG_PATH, config.encode(), 0o600),),
    )
