"""Find and reach the Docker daemon like the docker CLI does.

Order (docker/cli resolveContextName): --host, --context, DOCKER_HOST, DOCKER_CONTEXT,
``currentContext`` in config.json, then the default socket. A context that does not exist
is an error here (docker-py silently falls back to the default socket). First contact has a
short timeout and failures are classified with a fix each.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmctl.engine.model import DaemonTarget
from llmctl.errors import ConfigError, EngineUnavailable

if TYPE_CHECKING:
    from llmctl.engine.docker_engine import DockerEngine

DEFAULT_UNIX = "unix:///var/run/docker.sock"
DEFAULT_NPIPE = "npipe:////./pipe/docker_engine"
FIRST_CONTACT_TIMEOUT = 3.0

# Sockets worth naming when the default one is missing (reference/docker-engine.md).
CANDIDATE_SOCKETS = [
    "/var/run/docker.sock",
    "~/.docker/run/docker.sock",
    "~/.docker/desktop/docker.sock",
    "~/.colima/default/docker.sock",
    "~/.orbstack/run/docker.sock",
    "~/.rd/docker.sock",
    "~/.local/share/containers/podman/machine/podman.sock",
    "$XDG_RUNTIME_DIR/docker.sock",
    "$XDG_RUNTIME_DIR/podman/podman.sock",
]


def docker_config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def _current_context_from_config() -> str | None:
    path = docker_config_dir() / "config.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path}: cannot read the docker config: {exc}",
            "Fix or move the file; `docker context ls` reads the same file.",
        ) from None
    value = doc.get("currentContext") if isinstance(doc, dict) else None
    return value or None


def _context_target(name: str, source: str) -> DaemonTarget:
    if name == "default":
        host = os.environ.get("DOCKER_HOST") or (DEFAULT_NPIPE if sys.platform == "win32"
                                                 else DEFAULT_UNIX)
        return DaemonTarget(host, "default", source)
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = docker_config_dir() / "contexts" / "meta" / digest / "meta.json"
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EngineUnavailable(
            f'Docker context "{name}" not found (from {source})',
            "List contexts with `docker context ls`, or unset DOCKER_CONTEXT / "
            "`docker context use default`.",
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{meta}: unreadable Docker context {name!r}: {exc}") from None
    endpoint = (doc.get("Endpoints") or {}).get("docker") or {}
    host = str(endpoint.get("Host") or "")
    if not host:
        raise ConfigError(f'Docker context "{name}" has no docker endpoint ({meta})')
    tls_dir = docker_config_dir() / "contexts" / "tls" / digest / "docker"
    return DaemonTarget(
        host, name, source, str(tls_dir) if tls_dir.is_dir() else None,
        not endpoint.get("SkipTLSVerify", False),
    )


def resolve_target(context: str | None = None, host: str | None = None) -> DaemonTarget:
    """Which daemon to talk to, and why (pure apart from reading docker's config)."""
    if host:
        return DaemonTarget(host, "(--host)", "--host")
    if context:
        return _context_target(context, "--context")
    if os.environ.get("DOCKER_HOST"):
        return DaemonTarget(os.environ["DOCKER_HOST"], "(DOCKER_HOST)", "DOCKER_HOST")
    if os.environ.get("DOCKER_CONTEXT"):
        return _context_target(os.environ["DOCKER_CONTEXT"], "DOCKER_CONTEXT")
    current = _current_context_from_config()
    if current:
        return _context_target(current, "currentContext in config.json")
    return _context_target("default", "default")


def existing_sockets() -> list[str]:
    found = []
    for cand in CANDIDATE_SOCKETS:
        path = os.path.expanduser(os.path.expandvars(cand))
        if "$" in path:
            continue
        try:
            if Path(path).is_socket():
                found.append(path)
        except OSError:
            continue
    return found


def _classify(
    target: DaemonTarget, exc: BaseException, timeout: float = FIRST_CONTACT_TIMEOUT
) -> EngineUnavailable:
    """Turn whatever docker-py/requests/OS raised into one clear error with a fix."""
    text = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}"
    low = text.lower()
    where = f"{target.host} (context {target.context})"
    scheme = urlsplit(target.host).scheme
    if "permission denied" in low or "errno 13" in low:
        return EngineUnavailable(
            f"permission denied on the Docker socket {where}",
            "Add your user to the docker group (`sudo usermod -aG docker $USER`, then log in "
            "again), or use rootless Docker / Docker Desktop. Do not chmod the socket.",
        )
    if scheme in ("unix", "npipe") and (
        "no such file" in low or "errno 2" in low or "filenotfound" in low
        or "connection refused" in low or "errno 111" in low
    ):
        others = [s for s in existing_sockets() if f"unix://{s}" != target.host]
        hint = "Start Docker (Docker Desktop, or `sudo systemctl start docker`)."
        if others:
            hint += " Sockets that exist here: " + ", ".join(others) + (
                " (point at one with DOCKER_HOST=unix://PATH or `docker context use`)."
            )
        return EngineUnavailable(f"the Docker daemon is not running at {where}", hint)
    if "timed out" in low or "timeout" in low:
        return EngineUnavailable(
            f"the Docker daemon at {where} did not answer within {timeout:g} s",
            "Check that the host is up and the address is right (`docker context ls`).",
        )
    if "connection refused" in low or "errno 111" in low or "errno 61" in low:
        return EngineUnavailable(
            f"cannot reach the Docker daemon at {where}: connection refused",
            "Check the daemon is running there and the address is right "
            "(`docker context ls`, DOCKER_HOST).",
        )
    if scheme == "ssh" and "install paramiko" in low:
        return EngineUnavailable(
            f"cannot reach {where}: ssh:// daemons need the docker SDK's ssh support "
            "(paramiko), which is not installed",
            "Install llmctl with it (`pipx install '.[ssh]'`, or `pip install paramiko` into "
            "llmctl's environment), or reach the daemon over tcp:// with TLS.",
        )
    if scheme == "ssh" and "paramiko" in low:
        return EngineUnavailable(
            f"cannot reach {where} over ssh: {exc}",
            "Check `ssh` to that host works without a password prompt.",
        )
    return EngineUnavailable(
        f"cannot reach the Docker daemon at {where}: {_short(exc)}",
        "Check the daemon is running and the address is right (`docker context ls`, "
        "DOCKER_HOST).",
    )


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200]


def _tls_config(target: DaemonTarget) -> object | None:
    if not target.tls_dir or urlsplit(target.host).scheme != "tcp":
        return None
    from docker.tls import TLSConfig

    d = Path(target.tls_dir)
    cert = (str(d / "cert.pem"), str(d / "key.pem")) if (d / "cert.pem").exists() else None
    ca = str(d / "ca.pem") if (d / "ca.pem").exists() else None
    return TLSConfig(client_cert=cert, ca_cert=ca, verify=ca if target.tls_verify else False)


def sdk_client(target: DaemonTarget, timeout: float = FIRST_CONTACT_TIMEOUT) -> Any:
    """The docker SDK's client for ``target`` (it says hello: GET /version); raises
    EngineUnavailable with a fix."""
    import docker
    import requests

    try:
        return docker.DockerClient(
            base_url=target.host,
            version="auto",  # never pin: engines here span API 1.41 to 1.52
            timeout=int(max(1, timeout)),
            tls=_tls_config(target) or False,
            use_ssh_client=urlsplit(target.host).scheme == "ssh",
        )
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise _classify(target, exc, timeout) from exc


def connect(
    context: str | None = None, host: str | None = None, *,
    timeout: float = FIRST_CONTACT_TIMEOUT,
) -> DockerEngine:
    """Resolve, connect and say hello to the daemon; raise EngineUnavailable with a fix.

    A unix socket or plain TCP is spoken to with the standard library (GET /_ping, no docker
    SDK import); ssh, TLS and named pipes through the docker SDK (llmctl.engine.api)."""
    target = resolve_target(context, host)
    from llmctl.engine.api import SdkTransport, SocketTransport, TransportError
    from llmctl.engine.docker_engine import DockerEngine

    tls = bool(target.tls_dir) and urlsplit(target.host).scheme == "tcp"  # as _tls_config
    if SocketTransport.handles(target.host, tls):
        api = SocketTransport(target.host)
        try:
            hello = api.request("GET", "/_ping", timeout=timeout)
        except TransportError as exc:
            raise _classify(target, exc.__cause__ or exc, timeout) from exc
        if hello.status != 200 and hello.from_docker:  # a daemon, failing (starting up)
            raise EngineUnavailable(
                f"the Docker daemon at {target.host} (context {target.context}) answered "
                f"/_ping with HTTP {hello.status}: {hello.message}",
                "Check the daemon is running and the address is right (`docker context ls`, "
                "DOCKER_HOST).",
            )
        if hello.status != 200 or hello.body.strip() != b"OK":
            # Docker and Podman answer "OK"; a web server or a proxy's page is something else.
            answer = f"HTTP {hello.status}" if hello.status != 200 else ""
            answer += (": " if answer and hello.body.strip() else "")
            answer += repr(hello.snippet(80)) if hello.body.strip() else ""
            raise EngineUnavailable(
                f"{target.host} (context {target.context}) is not a Docker daemon: it answered "
                f"/_ping with {answer or 'an empty page'}",
                "Point DOCKER_HOST (or the context) at a Docker daemon (`docker context ls`).",
            )
        return DockerEngine(api, target, sdk=lambda: sdk_client(target, timeout))
    client = sdk_client(target, timeout)
    return DockerEngine(SdkTransport(client.api, target.host), target, client=client)
