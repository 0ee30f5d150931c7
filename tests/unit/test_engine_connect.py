"""Resolving the daemon like the docker CLI, and classifying failures (no daemon needed)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from llmctl.engine.connect import connect, resolve_target
from llmctl.engine.documents import facts_from
from llmctl.errors import EngineUnavailable, ExitCode


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    return tmp_path


def add_context(cfg: Path, name: str, host: str) -> None:
    meta = cfg / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps(
        {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host,
                                                                 "SkipTLSVerify": False}}}))


def test_default_socket(docker_config: Path) -> None:
    t = resolve_target()
    assert (t.host, t.context) == ("unix:///var/run/docker.sock", "default")
    assert t.is_local and t.address_host == "127.0.0.1"


def test_order_matches_the_docker_cli(docker_config: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    add_context(docker_config, "remote-gpu", "tcp://gpu.example:2376")
    add_context(docker_config, "desktop-linux", "unix:///home/u/.docker/run/docker.sock")
    (docker_config / "config.json").write_text(json.dumps({"currentContext": "desktop-linux"}))
    assert resolve_target().context == "desktop-linux"
    monkeypatch.setenv("DOCKER_CONTEXT", "remote-gpu")
    assert resolve_target().host == "tcp://gpu.example:2376"
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/x.sock")
    assert resolve_target().source == "DOCKER_HOST"
    assert resolve_target(context="desktop-linux").context == "desktop-linux"
    assert resolve_target(context="desktop-linux", host="tcp://h:1").source == "--host"


def test_remote_context_uses_the_daemon_host_for_endpoints(docker_config: Path) -> None:
    add_context(docker_config, "gpu", "ssh://me@gpu-box")
    t = resolve_target(context="gpu")
    assert not t.is_local and t.address_host == "gpu-box"


def test_missing_context_fails_loudly(docker_config: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # docker-py would silently fall back to the default socket here.
    monkeypatch.setenv("DOCKER_CONTEXT", "nope")
    with pytest.raises(EngineUnavailable) as err:
        resolve_target()
    assert 'context "nope" not found' in err.value.message
    assert "DOCKER_CONTEXT" in err.value.message
    assert err.value.exit_code == ExitCode.ENGINE_UNAVAILABLE


def test_missing_socket_is_not_running_with_a_hint(docker_config: Path,
                                                   tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(EngineUnavailable) as err:
        connect(host=f"unix://{tmp_path}/absent.sock")
    assert "not running" in err.value.message
    assert "chmod" not in (err.value.hint or "")
    assert time.monotonic() - started < 5


def test_permission_denied_never_suggests_chmod(docker_config: Path) -> None:
    # What docker-py raises for a user outside the docker group (docker/docker-py#2717).
    # Root ignores socket modes, so the error is built as the SDK builds it.
    from docker.errors import DockerException

    from llmctl.engine.connect import _classify

    target = resolve_target()
    cause = PermissionError(13, "Permission denied")
    exc = DockerException(f"Error while fetching server API version: ('Connection aborted.', "
                          f"{cause!r})")
    err = _classify(target, exc)
    assert err.message.startswith("permission denied on the Docker socket")
    assert "docker group" in (err.hint or "")
    assert "chmod" not in (err.hint or "").replace("Do not chmod", "")


def test_silent_tcp_daemon_times_out_fast(docker_config: Path) -> None:
    # Accepts connections and never answers: first contact must give up in ~3 s.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    started = time.monotonic()
    try:
        with pytest.raises(EngineUnavailable) as err:
            connect(host=f"tcp://127.0.0.1:{port}", timeout=1.0)
        assert time.monotonic() - started < 5
        assert "did not answer" in err.value.message or "cannot reach" in err.value.message
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        srv.close()


def test_ssh_without_paramiko_names_the_extra(docker_config: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # The docker SDK defines its ssh adapter only when paramiko imports: without it (llmctl's
    # own dependencies), every ssh:// daemon fails, whatever the host.
    import docker.api.client

    monkeypatch.delattr(docker.api.client, "SSHHTTPAdapter", raising=False)
    with pytest.raises(EngineUnavailable) as err:
        connect(host="ssh://me@127.0.0.1:1")
    assert err.value.message == ("cannot reach ssh://me@127.0.0.1:1 (context (--host)): ssh:// "
                                 "daemons need the docker SDK's ssh support (paramiko), which "
                                 "is not installed")
    assert "'.[ssh]'" in (err.value.hint or "")
    assert err.value.exit_code == ExitCode.ENGINE_UNAVAILABLE


def test_refused_tcp_is_engine_unavailable(docker_config: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineUnavailable) as err:
        connect(host=f"tcp://127.0.0.1:{port}")
    assert f"127.0.0.1:{port}" in err.value.message


class WebServer:
    """DOCKER_HOST pointed at something else: a web server on loopback answering every
    request with ``ping`` for /_ping (Docker's own answer is ``OK``) and HTML otherwise."""

    def __init__(self, ping: bytes, ping_status: int = 200) -> None:
        import http.server

        page = b"<html><body>It works!</body></html>"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = ping if self.path.startswith("/_ping") else page
                self.send_response(ping_status if self.path.startswith("/_ping") else 200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"tcp://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_web_server_at_docker_host_is_named_for_what_it_is(docker_config: Path) -> None:
    web = WebServer(b"<html>hello</html>")
    try:
        with pytest.raises(EngineUnavailable) as err:
            connect(host=web.host)
    finally:
        web.close()
    assert err.value.message == (f"{web.host} (context (--host)) is not a Docker daemon: "
                                 "it answered /_ping with '<html>hello</html>'")
    assert "DOCKER_HOST" in (err.value.hint or "")  # how to point it elsewhere


def test_an_error_page_at_docker_host_is_one_line(docker_config: Path) -> None:
    # `python -m http.server` answers /_ping with a 404 page of many lines.
    web = WebServer(b"<!DOCTYPE HTML>\n<html>\n  <head>\n    <title>Error response</title>"
                    b"\n" + b"x" * 200, ping_status=404)
    try:
        with pytest.raises(EngineUnavailable) as err:
            connect(host=web.host)
    finally:
        web.close()
    message = err.value.message
    assert "\n" not in message and len(message) < 200
    assert message.startswith(f"{web.host} (context (--host)) is not a Docker daemon: it "
                              "answered /_ping with HTTP 404: '<!DOCTYPE HTML> <html> <head> "
                              "<title>Error response</title>")


def test_a_daemon_answering_html_is_engine_unavailable_not_a_bug(docker_config: Path) -> None:
    # /_ping says OK (a proxy in front of something else, say), every document is HTML.
    web = WebServer(b"OK")
    try:
        engine = connect(host=web.host)
        with pytest.raises(EngineUnavailable) as err:
            engine.get("llmctl-ollama")
    finally:
        web.close()
    assert err.value.message.startswith(f"{web.host} answered GET /containers/llmctl-ollama/json "
                                        "with something that is not the Docker API: '<html>")
    assert err.value.exit_code == ExitCode.ENGINE_UNAVAILABLE


# Recorded `docker info` / `docker version` fragments (trimmed to the keys llmctl reads).
DESKTOP_MAC = ({"OperatingSystem": "Docker Desktop", "OSType": "linux", "Architecture": "aarch64",
                "Runtimes": {"runc": {}}, "Name": "docker-desktop"},
               {"Platform": {"Name": "Docker Desktop 4.49.0 (208700)"}, "Version": "28.5.1",
                "ApiVersion": "1.51"})
ENGINE_NVIDIA = ({"OperatingSystem": "Ubuntu 24.04.1 LTS", "OSType": "linux",
                  "Architecture": "x86_64", "Runtimes": {"runc": {}, "nvidia": {}},
                  "Name": "gpu01", "SecurityOptions": ["name=seccomp,profile=builtin"]},
                 {"Platform": {"Name": "Docker Engine - Community"}, "Version": "29.0.1",
                  "ApiVersion": "1.52"})
PODMAN = ({"OperatingSystem": "fedora", "OSType": "linux", "Architecture": "x86_64",
           "Name": "fedora"},
          {"Platform": {"Name": "linux/amd64/fedora-40"}, "Version": "5.2.0",
           "ApiVersion": "1.41", "Components": [{"Name": "Podman Engine"}]})
ROOTLESS = ({"OperatingSystem": "Debian GNU/Linux 12", "OSType": "linux", "Name": "box",
             "SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless"]},
            {"Version": "27.3.1", "ApiVersion": "1.47"})


def test_engine_kinds_from_recorded_documents() -> None:
    mac = facts_from(*DESKTOP_MAC)
    assert mac.kind == "Docker Desktop" and mac.desktop_version == "4.49.0"
    assert mac.gpu_runtime is False
    gpu = facts_from(*ENGINE_NVIDIA)
    assert gpu.kind == "Docker Engine" and gpu.gpu_runtime and gpu.api_version == "1.52"
    assert facts_from(*PODMAN).kind == "Podman"
    rootless = facts_from(*ROOTLESS)
    assert rootless.kind == "Docker Engine" and rootless.rootless


# --- pull errors: one clear line with the fix for each case --------------------------------

from llmctl.engine.docker_engine import image_pull_error  # noqa: E402


@pytest.mark.parametrize(("message", "reason"), [
    ('Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on '
     '10.255.255.53:53: no such host', "unreachable"),
    ('Get "https://r.example/v2/": net/http: request canceled while waiting for connection '
     '(Client.Timeout exceeded while awaiting headers)', "unreachable"),
    ("manifest for ollama/ollama:9.9 not found: manifest unknown", "not-found"),
    ("unauthorized: authentication required", "denied"),
    ("something else went wrong", "failed"),
])
def test_pull_errors_are_classified_with_a_fix(message: str, reason: str) -> None:
    err = image_pull_error("ollama/ollama:0.17.1", message, "--image REF")
    assert err.details["reason"] == reason
    assert "\n" not in err.message
    if reason == "unreachable":
        assert "cannot reach its registry" in err.message
        for needle in ("--image REF", "docker pull ollama/ollama:0.17.1", "docker load"):
            assert needle in (err.hint or "")
