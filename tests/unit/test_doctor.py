"""`llmctl doctor` checks, scenario by scenario, with an in-memory engine.

``FakeEngine`` (tests/fakes/engine.py) stands in for a connected Docker daemon
(llmctl.engine.docker_engine.Engine): ``client.info()``/``client.version()`` return recorded
documents from tests/fixtures/engines/*.json, and containers, volumes and images are plain
data. The docker CLI is a function standing in for the real binary (``docker --version`` and
``docker model status --json`` with their documented outputs and exit codes). HTTP servers are
the fakes of tests/fakes/llmfake.py on loopback ports, or a tiny server for /api/ps. Well-known
ports (11434, 11435, 12434) are replaced by free ports so the machine's own servers never
leak into a test. Every scenario asserts statuses and the exact fixes.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llmctl import doctor
from llmctl.doctor import DoctorEnv, parse_ollama_host, run_checks
from llmctl.engine.docker_cli import CliResult
from llmctl.engine.model import ContainerInfo, PublishedPort
from llmctl.errors import EngineUnavailable, UsageError
from tests.fakes.engine import FakeEngine, recorded_engine
from tests.fakes.llmfake import FakeHandle, start_fake
from tests.support import closed_port as free_port


def managed(name: str, port: int, *, state: str = "running", host_ip: str = "127.0.0.1",
            image: str = "ollama/ollama:0.17.1", exit_code: int | None = None) -> ContainerInfo:
    """A container as `llmctl up ollama --name NAME --port PORT` leaves it."""
    return ContainerInfo(
        id=name, name=f"llmctl-{name}", state=state, image=image,
        labels={"io.llmctl.managed": "true", "io.llmctl.instance": name,
                "io.llmctl.profile": "ollama", "io.llmctl.api": "ollama",
                "io.llmctl.container-port": "11434"},
        ports=(PublishedPort(host_ip, port, 11434),), volumes=(f"{name}-ollama-data",),
        exit_code=exit_code)


def foreign(name: str, image: str, host_ip: str, port: int, cport: int) -> ContainerInfo:
    """A container someone started with plain `docker run -p ...` (no llmctl labels)."""
    return ContainerInfo(id=name, name=name, state="running", image=image,
                         ports=(PublishedPort(host_ip, port, cport),))


def fake_docker_cli(*, model_status: dict[str, Any] | None = None, plugin: bool = True,
                    calls: list[list[str]] | None = None):  # type: ignore[no-untyped-def]
    """Stands in for the docker CLI binary: `docker --version`, and `docker model status
    --json` (exit 0 with the JSON document, running or not), or the newer CLI's answer when
    the model plugin is missing (`docker: unknown command: docker model`, exit 1)."""

    def run(argv: list[str], env: dict[str, str], timeout: float) -> CliResult:
        args = list(argv[1:])
        if calls is not None:
            calls.append(args)
        if args == ["--version"]:
            return CliResult(tuple(argv), 0, "Docker version 28.5.1, build e180ab8\n", "")
        if args[:1] == ["model"]:
            if not plugin:
                return CliResult(tuple(argv), 1, "", "docker: unknown command: docker model\n\n"
                                                     "Run 'docker --help' for more information\n")
            if args[1:] == ["status", "--json"] and model_status is not None:
                return CliResult(tuple(argv), 0, json.dumps(model_status), "")
        return CliResult(tuple(argv), 1, "", f"unexpected: {args}")

    return run


@pytest.fixture
def ports() -> SimpleNamespace:
    """Free loopback ports standing in for 11434 / 11435 / 12434 on this machine."""
    return SimpleNamespace(ollama=free_port(), alt=free_port(), runner=free_port())


def make_env(fixture: str, ports: SimpleNamespace, *, containers: list[ContainerInfo] | None = None,
             environ: dict[str, str] | None = None, cli: Any = None, docker_on_path: bool = True,
             nvidia: bool = False, free_gb: float = 80.0, engine: FakeEngine | None = None,
             connect_error: Exception | None = None, holder: str | None = None,
             which_ollama: bool = False, **engine_kw: Any) -> DoctorEnv:
    fx = recorded_engine(fixture)
    engine = engine or FakeEngine(recorded=fx, containers=containers or (), **engine_kw)

    def connect(context: str | None, host: str | None, *, timeout: float) -> FakeEngine:
        if connect_error is not None:
            raise connect_error
        return engine

    def which(name: str) -> str | None:
        if name == "docker":
            return sys.executable if docker_on_path else None  # an executable that exists
        return "/usr/local/bin/ollama" if name == "ollama" and which_ollama else None

    return DoctorEnv(
        connect=connect, cli_runner=cli or fake_docker_cli(plugin=False), environ=environ or {},
        which=which, host_os=fx["host"]["os"], host_arch=fx["host"]["arch"],
        disk_usage=lambda path: SimpleNamespace(free=int(free_gb * 1024**3),
                                                total=250 * 1024**3),
        nvidia_on_host=lambda: nvidia, process_holding=lambda port: holder,
        ollama_port=ports.ollama, alt_ollama_port=ports.alt, runner_port=ports.runner,
        http_timeout=0.5,
    )


def results(env: DoctorEnv, *names: str) -> dict[str, doctor.CheckResult]:
    report = run_checks(list(names) or None, env, timeout=10)
    return {c.name: c for c in report.checks}


@pytest.fixture
def fake_ollama() -> Iterator[FakeHandle]:
    h = start_fake("ollama", port=0, pulled="qwen2.5:0.5b,tinyllama")
    yield h
    h.stop()


class JsonServer:
    """A loopback HTTP server answering fixed documents: stands in for an Ollama whose
    /api/ps reports where its loaded models live (size_vram against size)."""

    def __init__(self, routes: dict[str, Any]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.routes.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.routes = routes
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- engines: Desktop (new, old, Windows), Engine (with/without NVIDIA), Podman, Colima ------


def test_desktop_mac_new_with_model_runner_on_tcp(ports: SimpleNamespace) -> None:
    """Docker Desktop 4.49 on an Apple Silicon Mac, Model Runner on with host TCP: the fake
    Model Runner answers on the runner port, `docker model status --json` says running."""
    runner = start_fake("model-runner", port=ports.runner, pulled="ai/smollm2")
    try:
        env = make_env("desktop-mac-4.49", ports, cli=fake_docker_cli(model_status={
            "running": True, "backends": {"llama.cpp": "Running: llama.cpp latest-metal"},
            "kind": "Docker Desktop", "endpoint": "http://model-runner.docker.internal/v1/",
            "endpointHost": f"http://127.0.0.1:{ports.runner}/v1/"}))
        r = results(env, "engine", "platform", "model-runner", "disk", "daemon")
    finally:
        runner.stop()
    assert r["daemon"].status == "ok" and "context desktop-linux" in r["daemon"].detail
    assert "API 1.51" in r["daemon"].detail
    assert r["engine"].status == "ok" and r["engine"].fix is None
    assert r["engine"].detail.startswith("Docker Desktop for Mac 4.49.0")
    assert r["platform"].status == "ok" and "Apple Silicon" in r["platform"].detail
    assert "Metal" in r["platform"].detail and r["platform"].fix is None
    assert r["model-runner"].status == "ok", r["model-runner"].detail
    assert r["model-runner"].detail.startswith(
        f"Docker Desktop: answering at http://127.0.0.1:{ports.runner} (1 model;")
    assert r["model-runner"].data["endpoint_container"] == \
        "http://model-runner.docker.internal/engines/v1"
    assert r["disk"].status == "skip" and "inside the Docker Desktop for Mac VM" in r["disk"].detail
    assert r["disk"].fix == ("`docker system df` shows what Docker uses; to grow the disk: "
                             "Docker Desktop: Settings > Resources > Advanced > Disk usage limit.")


def test_desktop_mac_runner_on_but_host_tcp_off(ports: SimpleNamespace) -> None:
    """Desktop 4.49: `docker model status --json` says running but nothing listens on the
    TCP port (Model Runner enabled without 'host-side TCP support')."""
    env = make_env("desktop-mac-4.49", ports, cli=fake_docker_cli(model_status={
        "running": True, "backends": {}, "kind": "Docker Desktop",
        "endpointHost": f"http://127.0.0.1:{ports.runner}/v1/"}))
    r = results(env, "model-runner")["model-runner"]
    assert r.status == "warn" and "host-side TCP is not enabled" in r.detail
    assert r.fix == "llmctl up model-runner --tcp 12434"


def test_desktop_mac_runner_turned_off(ports: SimpleNamespace) -> None:
    """Desktop 4.49 with Model Runner disabled: status --json exits 0 with running false."""
    env = make_env("desktop-mac-4.49", ports,
                   cli=fake_docker_cli(model_status={"running": False, "backends": {}}))
    r = results(env, "model-runner")["model-runner"]
    assert r.status == "skip" and "not running in Docker Desktop" in r.detail
    assert r.fix == ("llmctl up model-runner --tcp 12434 (or Settings > AI > Enable Docker "
                     "Model Runner)")


def test_desktop_new_but_model_plugin_missing(ports: SimpleNamespace) -> None:
    """Desktop 4.49 whose CLI lacks the model plugin (docker: unknown command: docker model)."""
    env = make_env("desktop-mac-4.49", ports, cli=fake_docker_cli(plugin=False))
    r = results(env, "model-runner")["model-runner"]
    assert r.status == "warn" and "the `docker model` command is not available" in r.detail
    assert r.fix == ("`docker model` ships with Docker Desktop 4.40 and later: update Docker "
                     "Desktop, then turn it on in Settings > AI > Enable Docker Model Runner.")


def test_desktop_too_old_for_model_runner(ports: SimpleNamespace) -> None:
    """Docker Desktop 4.30: older than the 4.40 that brought Model Runner."""
    calls: list[list[str]] = []
    env = make_env("desktop-mac-4.30", ports, cli=fake_docker_cli(calls=calls))
    r = results(env, "engine", "model-runner")
    assert r["engine"].status == "warn"
    assert "needs Docker Desktop 4.40 or newer" in r["engine"].detail
    assert r["engine"].fix == ("Update Docker Desktop to 4.40 or newer (you have 4.30.0): "
                               "Docker menu > Check for updates.")
    assert r["model-runner"].status == "skip" and "4.40 or newer needed" in r["model-runner"].detail
    assert not any(c[:1] == ["model"] for c in calls)  # no point asking the plugin


def runner_container(state: str, port: int = 12434) -> ContainerInfo:
    """The container `docker model install-runner` makes on Docker Engine."""
    return ContainerInfo(
        id="mr", name="docker-model-runner", state=state, image="docker/model-runner:latest",
        labels={"com.docker.desktop.service": "model-runner",
                "com.docker.model-runner.role": "controller"},
        ports=(PublishedPort("127.0.0.1", port, 12434),),
        volumes=("docker-model-runner-models",))


def test_engine_runner_container_stopped(ports: SimpleNamespace) -> None:
    """Docker Engine with the runner container installed by the plugin, but exited."""
    env = make_env("engine-linux", ports, containers=[runner_container("exited")])
    r = results(env, "model-runner")["model-runner"]
    assert r.status == "warn"
    assert r.detail.startswith("Docker Engine (container docker-model-runner): the runner "
                               "container is exited")
    assert r.fix == "llmctl up model-runner --tcp 12434"


def test_desktop_for_linux_runs_the_runner_as_a_container(ports: SimpleNamespace) -> None:
    """Docker Desktop 4.49 on a Linux host: the `docker model` CLI treats it as an engine, so
    the fix is a runner container, never `docker desktop enable`."""
    fx = recorded_engine("desktop-mac-4.49")
    fx["host"] = {"os": "linux", "arch": "x86_64"}
    fx["target"] = {"host": "unix:///home/dev/.docker/desktop/docker.sock",
                    "context": "desktop-linux", "source": "currentContext in config.json"}
    env = make_env("desktop-mac-4.49", ports, engine=FakeEngine(recorded=fx))
    env.host_os, env.host_arch = "linux", "x86_64"
    r = results(env, "engine", "model-runner")
    assert r["engine"].detail.startswith("Docker Desktop for Linux 4.49.0 (Model Runner treats "
                                         "it as Docker Engine)")
    assert r["model-runner"].status == "skip" and "not set up" in r["model-runner"].detail
    assert r["model-runner"].fix == f"To use it: `llmctl up model-runner --tcp {ports.runner}`."


def test_model_runner_host_is_probed_directly(ports: SimpleNamespace) -> None:
    """MODEL_RUNNER_HOST names a manually run runner (the fake): doctor asks it directly."""
    runner = start_fake("model-runner", port=0)
    try:
        env = make_env("engine-linux", ports, environ={"MODEL_RUNNER_HOST": runner.url},
                       cli=fake_docker_cli(model_status={"running": True, "backends": {},
                                                         "kind": "Docker Engine (Manual Install)"}))
        r = results(env, "model-runner")["model-runner"]
    finally:
        runner.stop()
    assert r.status == "ok" and r.detail.startswith(f"answering at {runner.url}")
    assert "(Docker Engine (Manual Install))" in r.detail and r.fix is None


def test_desktop_windows(ports: SimpleNamespace) -> None:
    """Docker Desktop 4.49 on Windows (WSL2): no nvidia runtime listed, GPUs pass through."""
    env = make_env("desktop-windows", ports)
    r = results(env, "engine", "platform", "disk")
    assert r["engine"].status == "ok"
    assert r["engine"].detail.startswith("Docker Desktop for Windows 4.49.0")
    assert r["platform"].status == "ok" and "through WSL2" in r["platform"].detail
    assert r["platform"].fix is None
    assert r["disk"].status == "skip" and "Docker Desktop" in (r["disk"].fix or "")


def test_engine_linux_without_gpu(ports: SimpleNamespace) -> None:
    """Docker Engine 20.10 on Debian (recorded here), no GPU on the host, no model plugin."""
    env = make_env("engine-linux", ports, free_gb=80)
    r = results(env)
    assert r["engine"].status == "ok" and r["engine"].detail == "Docker Engine 20.10.24+dfsg1"
    assert r["platform"].status == "ok" and "no GPU runtime" in r["platform"].detail
    assert r["model-runner"].status == "skip" and "not set up" in r["model-runner"].detail
    assert r["model-runner"].fix == f"To use it: `llmctl up model-runner --tcp {ports.runner}`."
    assert r["disk"].status == "ok" and r["disk"].detail.startswith("80.0 GB free")
    assert r["docker-cli"].status == "ok" and "Docker version 28.5.1" in r["docker-cli"].detail
    assert r["containers"].status == "ok"
    assert "no llmctl-managed containers" in r["containers"].detail
    assert r["exposure"].status == "ok" and r["proxy"].status == "ok"
    assert r["endpoint"].status == "skip"
    assert r["ollama-gpu"].status == "skip"
    assert all(c.status != "fail" for c in r.values()), {n: c.detail for n, c in r.items()}


def test_engine_linux_gpu_on_host_but_no_nvidia_runtime(ports: SimpleNamespace) -> None:
    """Engine without the NVIDIA Container Toolkit on a machine that has an NVIDIA GPU."""
    env = make_env("engine-linux", ports, nvidia=True)
    r = results(env, "platform")["platform"]
    assert r.status == "warn" and "no NVIDIA runtime or CDI device" in r.detail
    assert r.fix == ("Install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime "
                     "configure --runtime=docker && sudo systemctl restart docker`.")


def test_engine_linux_low_disk(ports: SimpleNamespace) -> None:
    """Engine on Linux with 4 GB free where DockerRootDir lives."""
    env = make_env("engine-linux", ports, free_gb=4)
    r = results(env, "disk")["disk"]
    assert r.status == "warn" and "4.0 GB free" in r.detail and "/var/lib/docker" in r.detail
    assert r.fix == ("See what uses it: `docker system df`; free unused images and build cache: "
                     "`docker image prune -a` and `docker builder prune`.")


def test_engine_nvidia_runtime_and_ollama_on_cpu(ports: SimpleNamespace) -> None:
    """Engine 28.5 with the nvidia runtime and CDI devices; a managed Ollama (a JSON server
    standing in for its API) whose loaded model has size_vram 0: it runs on the CPU."""
    srv = JsonServer({"/": "Ollama is running", "/api/ps": {"models": [
        {"name": "llama3.2:latest", "size": 3_000_000_000, "size_vram": 0}]}})
    try:
        env = make_env("engine-linux-nvidia", ports, containers=[managed("gpu1", srv.port)])
        r = results(env, "platform", "ollama-gpu")
    finally:
        srv.stop()
    assert r["platform"].status == "ok" and "NVIDIA runtime available" in r["platform"].detail
    assert "nvidia" in r["platform"].data["runtimes"]
    assert r["ollama-gpu"].status == "warn", r["ollama-gpu"].detail
    assert "gpu1: llama3.2:latest runs on the CPU" in r["ollama-gpu"].detail
    assert r["ollama-gpu"].fix == ("Recreate it with the GPU: `llmctl up ollama --name gpu1 "
                                   "--gpus all --recreate`.")


@pytest.mark.parametrize(("vram", "status", "text", "fix"), [
    (3_000_000_000, "ok", "100% on the GPU", None),
    (1_500_000_000, "warn", "only 50% in GPU memory",
     "Use a smaller model or quantization (or a GPU with more memory)."),
])
def test_ollama_gpu_share(ports: SimpleNamespace, vram: int, status: str, text: str,
                          fix: str | None) -> None:
    """Managed Ollama on an NVIDIA engine: /api/ps size_vram equal to size, or half of it."""
    srv = JsonServer({"/": "Ollama is running", "/api/ps": {"models": [
        {"name": "llama3.2:latest", "size": 3_000_000_000, "size_vram": vram}]}})
    try:
        env = make_env("engine-linux-nvidia", ports, containers=[managed("gpu1", srv.port)])
        r = results(env, "ollama-gpu")["ollama-gpu"]
    finally:
        srv.stop()
    assert r.status == status and text in r.detail and r.fix == fix


def test_ollama_gpu_nothing_loaded_is_skip(ports: SimpleNamespace, fake_ollama: FakeHandle) -> None:
    """A managed Ollama (the llmfake) with no model loaded: /api/ps is empty, nothing to tell."""
    env = make_env("engine-linux-nvidia", ports, containers=[managed("o1", fake_ollama.port)])
    r = results(env, "ollama-gpu")["ollama-gpu"]
    assert r.status == "skip" and "no model loaded right now" in r.detail


def test_podman(ports: SimpleNamespace) -> None:
    """Podman 5.6 machine on a Mac through its Docker-compatible socket (DOCKER_HOST)."""
    env = make_env("podman", ports)
    r = results(env, "engine", "model-runner", "disk")
    assert r["engine"].status == "ok" and r["engine"].detail.startswith("Podman 5.6.1")
    assert "Docker Model Runner is not available" in r["engine"].detail
    assert r["model-runner"].status == "skip" and "not Podman" in r["model-runner"].detail
    assert r["disk"].status == "skip" and "/var/lib/containers/storage" in r["disk"].detail


def test_colima(ports: SimpleNamespace) -> None:
    """Colima on an Apple Silicon Mac: the engine runs in a Lima VM."""
    env = make_env("colima", ports)
    r = results(env, "engine", "disk", "platform")
    assert r["engine"].status == "ok"
    assert r["engine"].detail == "Colima 27.4.0 (containers run in a Linux VM)"
    assert r["disk"].status == "skip"
    assert r["disk"].fix == ("`docker system df` shows what Docker uses; to grow the disk: "
                             "Colima: `colima start --disk SIZE`.")
    assert r["platform"].status == "ok" and "Apple Silicon" in r["platform"].detail


def test_remote_daemon_disk_and_ports(ports: SimpleNamespace) -> None:
    """A remote GPU host through an ssh context: its ports and disk are not on this machine."""
    fx = recorded_engine("engine-linux-nvidia")
    fx["target"] = {"host": "ssh://ops@gpu-box", "context": "gpu-box",
                    "source": "currentContext in config.json"}
    env = make_env("engine-linux-nvidia", ports, engine=FakeEngine(recorded=fx))
    r = results(env, "engine", "disk", "ports")
    assert r["engine"].status == "ok" and "remote: published ports are on gpu-box" in \
        r["engine"].detail
    assert r["disk"].status == "skip" and "remote host gpu-box" in r["disk"].detail
    assert r["disk"].fix is not None and r["disk"].fix.startswith("On that host: `df -h")
    assert "its published ports are on gpu-box" in r["ports"].detail


# --- daemon failures, crashes, hangs, names ----------------------------------------------------


def test_unreachable_daemon_fails_once_and_skips_what_needs_it(ports: SimpleNamespace) -> None:
    """The daemon does not answer: connect raises EngineUnavailable with the fix."""
    env = make_env("engine-linux", ports, connect_error=EngineUnavailable(
        "the Docker daemon is not running at unix:///var/run/docker.sock (context default)",
        "Start Docker (Docker Desktop, or `sudo systemctl start docker`)."))
    report = run_checks(None, env, timeout=10)
    r = {c.name: c for c in report.checks}
    assert not report.ok
    assert r["daemon"].status == "fail"
    assert r["daemon"].fix == "Start Docker (Docker Desktop, or `sudo systemctl start docker`)."
    for name in ("engine", "containers", "exposure", "disk", "ollama-gpu"):
        assert r[name].status == "skip" and r[name].detail == doctor.NO_ENGINE, name
    assert [c.name for c in report.checks if c.status == "fail"] == ["daemon"]
    assert r["proxy"].status == "ok" and r["ports"].status == "ok"


def test_refused_tcp_daemon_says_so_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_HOST=tcp://127.0.0.1:<closed port>: the real connect, refused at once."""
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    t0 = time.monotonic()
    r = results(DoctorEnv(), "daemon")["daemon"]
    assert time.monotonic() - t0 < 3
    assert r.status == "fail" and "connection refused; from DOCKER_HOST" in r.detail
    assert r.fix is not None and "`unset DOCKER_HOST`" in r.fix


def test_silent_daemon_is_cut_off_by_the_first_contact_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_HOST at a socket that accepts connections and never answers (a hung daemon or
    a wrong port behind a firewall that accepts): the real connect gives up in time."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        host = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("DOCKER_HOST", host)
        t0 = time.monotonic()
        report = run_checks(["daemon", "containers"], DoctorEnv(daemon_timeout=1.0))
        took = time.monotonic() - t0
    r = {c.name: c for c in report.checks}
    assert took < 2.5
    assert r["daemon"].status == "fail"
    assert r["daemon"].detail == (f"the Docker daemon at {host} (from DOCKER_HOST) did not "
                                  "answer within 1 s")
    assert r["daemon"].fix is not None and "docker context ls" in r["daemon"].fix
    assert r["containers"].status == "skip"


def test_missing_context_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """DOCKER_CONTEXT names a context that does not exist (the CLI fails, docker-py would
    silently use the default socket)."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("DOCKER_CONTEXT", "nope")
    r = results(DoctorEnv(), "daemon", "engine")
    assert r["daemon"].status == "fail"
    assert r["daemon"].detail == 'Docker context "nope" not found (from DOCKER_CONTEXT)'
    assert r["daemon"].fix is not None and "docker context ls" in r["daemon"].fix
    assert r["engine"].status == "skip"


def test_a_crashing_check_becomes_a_fail(monkeypatch: pytest.MonkeyPatch,
                                         ports: SimpleNamespace) -> None:
    def boom(env: DoctorEnv) -> doctor.CheckResult:
        raise KeyError("surprise")

    monkeypatch.setitem(doctor.CHECKS, "boom", doctor.Check("boom", "raises", boom))
    r = results(make_env("engine-linux", ports), "boom", "proxy")
    assert r["boom"].status == "fail" and "KeyError: 'surprise'" in r["boom"].detail
    assert r["boom"].fix is not None and "--check boom" in r["boom"].fix
    assert r["proxy"].status == "ok"


def test_a_hanging_check_is_cut_off_at_the_deadline(monkeypatch: pytest.MonkeyPatch,
                                                    ports: SimpleNamespace) -> None:
    release = threading.Event()

    def hang(env: DoctorEnv) -> doctor.CheckResult:
        release.wait(30)
        return doctor.ok("too late")

    monkeypatch.setitem(doctor.CHECKS, "hang", doctor.Check("hang", "hangs", hang))
    t0 = time.monotonic()
    report = run_checks(["hang", "proxy"], make_env("engine-linux", ports), timeout=0.5)
    took = time.monotonic() - t0
    release.set()
    r = {c.name: c for c in report.checks}
    assert took < 1.5
    assert r["hang"].status == "fail"
    assert r["hang"].detail.startswith("did not finish within 0.5 s")
    assert r["hang"].fix == ("Run it alone with more time: "
                             "`llmctl doctor --check hang --timeout 30`.")
    assert r["proxy"].status == "ok" and [c.name for c in report.checks] == ["proxy", "hang"]


def test_container_removed_while_listing_is_retried(ports: SimpleNamespace,
                                                    fake_ollama: FakeHandle) -> None:
    """docker-py lists, then inspects each container: one removed in between gives NotFound
    (404). Another process removing its container must not make doctor fail."""
    import docker

    engine = FakeEngine(containers=[managed("o1", fake_ollama.port)])
    real = engine.list_managed
    raised: list[int] = []

    def racy(**labels: str) -> list[ContainerInfo]:
        if not raised:
            raised.append(1)
            raise docker.errors.NotFound("No such container: 1f2e3d")
        return real(**labels)

    engine.list_managed = racy  # type: ignore[method-assign]
    r = results(make_env("engine-linux", ports, engine=engine), "containers")["containers"]
    assert raised == [1]
    assert r.status == "ok" and "o1 (ollama, container llmctl-o1) answers" in r.detail


def test_unknown_check_name_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        run_checks(["daemon", "nope"])
    assert info.value.message == "unknown check 'nope'"
    assert info.value.hint is not None
    for name in doctor.CHECKS:
        assert name in info.value.hint


def test_registry_names_and_descriptions() -> None:
    assert list(doctor.CHECKS) == [
        "docker-cli", "daemon", "engine", "platform", "ollama-gpu", "model-runner", "ports",
        "ollama-host", "containers", "ollama-version", "endpoint", "files", "exposure", "proxy",
        "disk"]
    assert all(c.description and "\n" not in c.description for c in doctor.CHECKS.values())


def test_docker_cli_missing(ports: SimpleNamespace) -> None:
    env = make_env("engine-linux", ports, docker_on_path=False)
    r = results(env, "docker-cli")
    assert r["docker-cli"].status == "warn" and "not on PATH" in r["docker-cli"].detail
    assert r["docker-cli"].fix == ("Install the docker CLI: Docker Desktop, or the docker-ce-cli "
                                   "(Docker's repository) / docker.io (Debian, Ubuntu) package.")


# --- OLLAMA_HOST ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "url", "client"), [
    (None, "http://127.0.0.1:11434", "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://0.0.0.0:11434", "http://127.0.0.1:11434"),
    ("0.0.0.0:11434", "http://0.0.0.0:11434", "http://127.0.0.1:11434"),
    ("http://localhost", "http://localhost:80", "http://localhost:80"),
    ("https://llm.example.org", "https://llm.example.org:443", "https://llm.example.org:443"),
    ("myhost:1234", "http://myhost:1234", "http://myhost:1234"),
    ("ollama.com", "https://ollama.com:443", "https://ollama.com:443"),
    ("[::1]:11435", "http://[::1]:11435", "http://[::1]:11435"),
    ("::", "http://[::]:11434", "http://[::1]:11434"),
    ("'127.0.0.1:11435'", "http://127.0.0.1:11435", "http://127.0.0.1:11435"),
    ("127.0.0.1:99999", "http://127.0.0.1:11434", "http://127.0.0.1:11434"),
    ("http://10.0.0.5:8080/ollama", "http://10.0.0.5:8080/ollama", "http://10.0.0.5:8080"),
])
def test_parse_ollama_host_like_ollama(value: str | None, url: str, client: str) -> None:
    parsed = parse_ollama_host(value)
    assert (parsed.url, parsed.client_url) == (url, client)


def test_ollama_host_bad_port_falls_back_with_a_note() -> None:
    assert parse_ollama_host("127.0.0.1:99999").port_note == \
        "port '99999' is not valid: Ollama uses 11434 instead"


def test_ollama_host_scheme_without_port_is_port_80(ports: SimpleNamespace) -> None:
    """OLLAMA_HOST=http://localhost: a client goes to port 80, not 11434."""
    env = make_env("engine-linux", ports, environ={"OLLAMA_HOST": "http://localhost"})
    r = results(env, "ollama-host")["ollama-host"]
    assert r.status == "warn"
    assert "OLLAMA_HOST=http://localhost means http://localhost:80" in r.detail
    assert f"Give the port: `export OLLAMA_HOST=http://127.0.0.1:{ports.ollama}`." in (r.fix or "")


def test_ollama_host_bind_address_is_not_a_client_target(ports: SimpleNamespace) -> None:
    env = make_env("engine-linux", ports, environ={"OLLAMA_HOST": "0.0.0.0"})
    r = results(env, "ollama-host")["ollama-host"]
    assert r.status == "warn" and "is a bind address" in r.detail
    assert r.fix is not None
    assert r.fix.startswith(f"For clients: `export OLLAMA_HOST=127.0.0.1:{ports.ollama}`; "
                            "keep 0.0.0.0 only in the server's own environment")


def test_ollama_host_pointing_at_a_running_ollama_is_ok(ports: SimpleNamespace,
                                                        fake_ollama: FakeHandle) -> None:
    env = make_env("engine-linux", ports,
                   environ={"OLLAMA_HOST": f"127.0.0.1:{fake_ollama.port}"})
    r = results(env, "ollama-host")["ollama-host"]
    assert r.status == "ok" and r.fix is None
    assert r.detail == (f"OLLAMA_HOST=127.0.0.1:{fake_ollama.port} → "
                        f"http://127.0.0.1:{fake_ollama.port} (Ollama answers)")


def test_ollama_host_pointing_at_nothing_suggests_the_managed_one(
        ports: SimpleNamespace, fake_ollama: FakeHandle) -> None:
    """OLLAMA_HOST names a dead port while llmctl's Ollama (the fake) runs elsewhere."""
    env = make_env("engine-linux", ports, environ={"OLLAMA_HOST": f"127.0.0.1:{free_port()}"},
                   containers=[managed("o1", fake_ollama.port)])
    r = results(env, "ollama-host")["ollama-host"]
    assert r.status == "warn" and "no Ollama at" in r.detail
    assert r.fix == (f"Point it at llmctl's Ollama: `export OLLAMA_HOST=127.0.0.1:"
                     f"{fake_ollama.port}`.")


# --- ports and the ollama CLI mix-up -----------------------------------------------------------


def test_ollama_cli_talks_to_the_host_server_not_the_container(ports: SimpleNamespace) -> None:
    """The classic mix-up: a host Ollama on the default port (a fake) and llmctl's Ollama in a
    container on another port (a second fake); OLLAMA_HOST unset."""
    host_ollama = start_fake("ollama", port=ports.ollama)
    container_ollama = start_fake("ollama", port=0)
    try:
        env = make_env("engine-linux", ports, containers=[managed("o1", container_ollama.port)],
                       holder="pid 4242 (/usr/local/bin/ollama serve)")
        r = results(env, "ports")["ports"]
    finally:
        host_ollama.stop()
        container_ollama.stop()
    assert r.status == "warn"
    assert f"{ports.ollama}: an Ollama server on the host (pid 4242" in r.detail
    assert f"{container_ollama.port}: llmctl instance o1 (container llmctl-o1)" in r.detail
    assert "mix-up: the host `ollama` CLI (OLLAMA_HOST unset" in r.detail
    assert r.fix == (f"Point the CLI at the container: `export OLLAMA_HOST=127.0.0.1:"
                     f"{container_ollama.port}` (or `docker exec -it llmctl-o1 ollama list`).")
    kinds = {p["port"]: p["kind"] for p in r.data["ports"]}
    assert kinds[ports.ollama] == "host-ollama" and kinds[container_ollama.port] == "llmctl"
    assert kinds[ports.runner] == "free"


def test_ollama_cli_pointed_at_the_container_is_ok(ports: SimpleNamespace,
                                                   fake_ollama: FakeHandle) -> None:
    env = make_env("engine-linux", ports, containers=[managed("o1", fake_ollama.port)],
                   environ={"OLLAMA_HOST": f"127.0.0.1:{fake_ollama.port}"})
    r = results(env, "ports")["ports"]
    assert r.status == "ok" and r.fix is None
    assert "talks to llmctl's o1" in r.detail


def test_ollama_cli_installed_but_reaching_nothing(ports: SimpleNamespace,
                                                   fake_ollama: FakeHandle) -> None:
    """`ollama` is on PATH, nothing on the default port, llmctl's Ollama on another port."""
    env = make_env("engine-linux", ports, containers=[managed("o1", fake_ollama.port)],
                   which_ollama=True)
    r = results(env, "ports")["ports"]
    assert r.status == "warn" and "reaches no Ollama server" in r.detail
    assert r.fix is not None and f"OLLAMA_HOST=127.0.0.1:{fake_ollama.port}" in r.fix


def test_port_of_a_stopped_instance_taken_by_a_host_process(ports: SimpleNamespace) -> None:
    """A stopped llmctl instance whose port a host program (a plain web server) now holds."""
    squatter = JsonServer({"/": "<html>hello</html>"})
    try:
        env = make_env("engine-linux", ports,
                       containers=[managed("o1", squatter.port, state="exited", exit_code=0)],
                       holder="pid 777 (python3 -m http.server)")
        r = results(env, "ports")["ports"]
    finally:
        squatter.stop()
    assert r.status == "warn"
    assert f"{squatter.port}: host process pid 777 (python3 -m http.server)" in r.detail
    assert f"port {squatter.port} of the stopped instance o1 is taken by host process" in r.detail
    assert r.fix is not None
    assert r.fix.startswith("Stop that program, or move the instance: `llmctl up ollama "
                            "--name o1 --port ")
    assert r.fix.endswith(" --recreate`.")


def test_model_runner_port_held_by_something_else(ports: SimpleNamespace) -> None:
    """Port 12434 answers HTTP, but not as Docker Model Runner (another web app)."""
    other = JsonServer({"/": "<html>not a runner</html>"})
    env = make_env("engine-linux", ports)
    env.runner_port = other.port
    try:
        r = results(env, "model-runner")["model-runner"]
    finally:
        other.stop()
    assert r.status == "warn" and "answers, but not as a Model Runner" in r.detail
    assert r.fix == (f"Free the port, or use another one: `llmctl up model-runner --tcp "
                     f"{other.port + 1}`.")


# --- managed containers ---------------------------------------------------------------------------


def test_containers_healthy_stopped_broken(ports: SimpleNamespace, fake_ollama: FakeHandle) -> None:
    """Three llmctl instances: one answering (the fake), one exited, one running whose port
    answers nothing."""
    dead_port = free_port()
    env = make_env("engine-linux", ports, containers=[
        managed("good", fake_ollama.port),
        managed("stopped", free_port(), state="exited", exit_code=0),
        managed("broken", dead_port)])
    r = results(env, "containers")["containers"]
    assert r.status == "fail"
    assert f"good (ollama, container llmctl-good) answers at http://127.0.0.1:{fake_ollama.port}" \
        in r.detail
    assert "stopped (ollama, container llmctl-stopped) is exited, exit code 0" in r.detail
    assert f"broken (ollama, container llmctl-broken) runs but does not answer at " \
           f"http://127.0.0.1:{dead_port}" in r.detail
    # the fix is for the worst finding (the broken one)
    assert r.fix == ("See why: `docker logs --tail 50 llmctl-broken`; then "
                     "`llmctl up ollama --name broken --recreate`.")
    states = {s["instance"]: s["health"] for s in r.data["servers"]}
    assert states == {"broken": "down", "good": "ok", "stopped": "stopped"}


def test_stopped_container_alone_is_a_warning_with_the_start_command(
        ports: SimpleNamespace) -> None:
    env = make_env("engine-linux", ports,
                   containers=[managed("o1", free_port(), state="exited", exit_code=137)])
    r = results(env, "containers")["containers"]
    assert r.status == "warn" and "is exited, exit code 137" in r.detail
    assert r.fix == "Start it: `llmctl up ollama --name o1`."


def test_missing_volume_and_image(ports: SimpleNamespace, fake_ollama: FakeHandle) -> None:
    """A running instance whose volume was deleted and whose image was untagged."""
    env = make_env("engine-linux", ports, containers=[managed("o1", fake_ollama.port)],
                   volumes=set(), images=set())
    r = results(env, "containers")["containers"]
    assert r.status == "fail"
    assert "its volume o1-ollama-data is missing" in r.detail
    assert "its image ollama/ollama:0.17.1 is no longer present" in r.detail
    assert r.fix == ("`llmctl up ollama --name o1 --recreate` creates it (models must be "
                     "pulled again).")


# --- Ollama versions and the known CVE fixes ---------------------------------------------------

CVES = "CVE-2024-37032 (0.1.34) and CVE-2026-7482 (0.17.1)"
DEFAULT_OLLAMA = "ollama/ollama:0.40.2"  # profiles/ollama.yaml


@pytest.mark.parametrize(("text", "release", "missing"), [
    ("0.1.33", "0.1.33", ["CVE-2024-37032", "CVE-2026-7482"]),
    ("0.1.34", "0.1.34", ["CVE-2026-7482"]),
    ("0.17.0", "0.17.0", ["CVE-2026-7482"]),
    ("0.17.1", "0.17.1", []),  # the first release with both fixes
    ("0.17.1-rc2", "0.17.1rc2", ["CVE-2026-7482"]),  # a pre-release is before its release
    ("0.17.2-rc0", "0.17.2rc0", []),
    ("0.40.2", "0.40.2", []),
    ("0.9.10", "0.9.10", ["CVE-2026-7482"]),  # numeric order, not text order
    ("v0.17.1", "0.17.1", []),
    ("0.12.6-rocm", "0.12.6", ["CVE-2026-7482"]),  # a suffix PEP 440 does not know
    ("0.0.0", None, None),  # a build from source names no release
    ("banana", None, None),
    ("", None, None),
    (None, None, None),
])
def test_ollama_versions_against_the_cve_fixes(text: str | None, release: str | None,
                                               missing: list[str] | None) -> None:
    from packaging.version import Version

    from llmctl.doctor.checks.ollama_version import missing_fixes, parse_ollama_version

    version = parse_ollama_version(text)
    assert version == (Version(release) if release else None)
    if version is not None:
        assert [cve for cve, _ in missing_fixes(version)] == missing


def test_ollama_version_old_managed_container(ports: SimpleNamespace) -> None:
    """llmctl's Ollama (a fake reporting 0.1.30, as an old image would) lacks both fixes;
    the fix recreates it on the built-in profile's image."""
    old = start_fake("ollama", port=0, version="0.1.30")
    try:
        env = make_env("engine-linux", ports,
                       containers=[managed("o1", old.port, image="ollama/ollama:0.1.30")])
        r = results(env, "ollama-version")["ollama-version"]
    finally:
        old.stop()
    assert r.status == "warn"
    assert r.detail == ("llmctl's o1 (ollama/ollama:0.1.30) runs Ollama 0.1.30: it lacks the "
                        "fixes for CVE-2024-37032 (fixed in 0.1.34) and CVE-2026-7482 (fixed "
                        "in 0.17.1)")
    assert r.fix == (f"Recreate it on {DEFAULT_OLLAMA}: `llmctl up ollama --name o1 --recreate` "
                     "(its volume and models are kept).")
    assert r.data["servers"] == [{"where": "llmctl's o1 (ollama/ollama:0.1.30)",
                                  "url": f"http://127.0.0.1:{old.port}", "version": "0.1.30",
                                  "missing_fixes": ["CVE-2024-37032", "CVE-2026-7482"]}]
    assert r.data["fixed_in"] == "0.17.1"


def test_ollama_version_new_managed_container_is_ok(ports: SimpleNamespace) -> None:
    new = start_fake("ollama", port=0, version="0.40.2")
    try:
        env = make_env("engine-linux", ports, containers=[managed("o1", new.port,
                                                                   image=DEFAULT_OLLAMA)])
        r = results(env, "ollama-version")["ollama-version"]
    finally:
        new.stop()
    assert r.status == "ok" and r.fix is None
    assert r.detail == f"llmctl's o1 ({DEFAULT_OLLAMA}): Ollama 0.40.2, with the fixes for {CVES}"
    assert r.data["servers"][0]["missing_fixes"] == []


def test_ollama_version_host_ollama_on_the_default_port(ports: SimpleNamespace) -> None:
    """A host Ollama 0.17.0 on 11434 (a fake on the stand-in port): one CVE open, the fix is
    upgrading the host install; llmctl's own Ollama (0.40.2) is fine and listed once."""
    host = start_fake("ollama", port=ports.ollama, version="0.17.0")
    mine = start_fake("ollama", port=ports.alt, version="0.40.2")
    try:
        env = make_env("engine-linux", ports, containers=[managed("o1", ports.alt,
                                                                   image=DEFAULT_OLLAMA)],
                       holder="pid 4242 (/usr/local/bin/ollama serve)")
        r = results(env, "ollama-version")["ollama-version"]
    finally:
        host.stop()
        mine.stop()
    assert r.status == "warn"
    assert (f"an Ollama server on the host (pid 4242 (/usr/local/bin/ollama serve)) on port "
            f"{ports.ollama} runs Ollama 0.17.0: it lacks the fix for CVE-2026-7482 (fixed in "
            "0.17.1)") in r.detail
    assert f"llmctl's o1 ({DEFAULT_OLLAMA}): Ollama 0.40.2, with the fixes" in r.detail
    assert r.fix == ("Upgrade the Ollama installed on this machine to 0.17.1 or later "
                     "(ollama.com/download), or stop it and use llmctl's: `llmctl up ollama`.")
    urls = [row["url"] for row in r.data["servers"]]
    assert urls == [f"http://127.0.0.1:{ports.alt}", f"http://127.0.0.1:{ports.ollama}"]


def test_ollama_version_foreign_container_on_the_default_port(ports: SimpleNamespace) -> None:
    """`docker run -p 11434:11434 ollama/ollama:0.1.32` (a fake answers for it)."""
    old = start_fake("ollama", port=ports.ollama, version="0.1.32")
    try:
        env = make_env("engine-linux", ports, containers=[
            foreign("ollama", "ollama/ollama:0.1.32", "127.0.0.1", ports.ollama, 11434)])
        r = results(env, "ollama-version")["ollama-version"]
    finally:
        old.stop()
    assert r.status == "warn"
    assert r.detail.startswith(f"container ollama (ollama/ollama:0.1.32) on port {ports.ollama} "
                               "runs Ollama 0.1.32: it lacks the fixes for CVE-2024-37032")
    assert r.fix == ("Run ollama again from a fixed image (ollama/ollama:0.17.1 or later, e.g. "
                     f"`docker pull {DEFAULT_OLLAMA}`), or use llmctl's: `llmctl up ollama`.")


def test_ollama_version_prerelease_of_the_fix(ports: SimpleNamespace) -> None:
    rc = start_fake("ollama", port=0, version="0.17.1-rc2")
    try:
        env = make_env("engine-linux", ports, containers=[managed("o1", rc.port)])
        r = results(env, "ollama-version")["ollama-version"]
    finally:
        rc.stop()
    assert r.status == "warn"
    assert r.detail == ("llmctl's o1 (ollama/ollama:0.17.1) runs Ollama 0.17.1-rc2, a "
                        "pre-release of 0.17.1: it lacks the fix for CVE-2026-7482 (fixed in "
                        "0.17.1)")


def test_ollama_version_garbage_is_unknown_not_vulnerable(ports: SimpleNamespace) -> None:
    odd = start_fake("ollama", port=0, version="banana")
    try:
        env = make_env("engine-linux", ports, containers=[managed("o1", odd.port)])
        r = results(env, "ollama-version")["ollama-version"]
    finally:
        odd.stop()
    assert r.status == "warn"
    assert r.detail == ("llmctl's o1 (ollama/ollama:0.17.1) reports version 'banana', which "
                        f"names no release: cannot tell whether it has the fixes for {CVES}")
    assert r.data["servers"][0]["version"] == "banana"
    assert r.data["servers"][0]["missing_fixes"] is None


def test_ollama_version_without_the_version_route(ports: SimpleNamespace) -> None:
    """An Ollama old enough to answer `GET /` but not `GET /api/version` (404)."""
    ancient = JsonServer({"/": "Ollama is running"})
    try:
        env = make_env("engine-linux", ports, containers=[managed("o1", ancient.port)])
        r = results(env, "ollama-version")["ollama-version"]
    finally:
        ancient.stop()
    assert r.status == "warn"
    assert "llmctl's o1 (ollama/ollama:0.17.1) answers as Ollama but not GET /api/version" \
        in r.detail
    assert r.fix is not None and "`llmctl up ollama --name o1 --recreate`" in r.fix


def test_ollama_version_configured_endpoint(ports: SimpleNamespace,
                                            _isolated_config: Path) -> None:
    """The endpoint file points at an Ollama llmctl does not manage (a fake, 0.5.7), with an
    OpenAI base URL: its server root is asked."""
    old = start_fake("ollama", port=0, version="0.5.7")
    try:
        write_endpoints(_isolated_config, f"{old.url}/v1", "qwen2.5:0.5b")
        r = results(make_env("engine-linux", ports), "ollama-version")["ollama-version"]
    finally:
        old.stop()
    assert r.status == "warn"
    assert r.detail == (f"the configured endpoint ollama ({old.url}) runs Ollama 0.5.7: it "
                        "lacks the fix for CVE-2026-7482 (fixed in 0.17.1)")
    assert r.fix == (f"Upgrade the Ollama at {old.url} to 0.17.1 or later (if it is llmctl's: "
                     "`llmctl up ollama --name NAME --recreate`).")


def test_ollama_version_nothing_to_check_is_skip(ports: SimpleNamespace) -> None:
    r = results(make_env("engine-linux", ports), "ollama-version")["ollama-version"]
    assert r.status == "skip" and r.fix is None
    assert r.detail.startswith("no Ollama to check: none of llmctl's runs, nothing answers as "
                               f"Ollama on 127.0.0.1:{ports.ollama} or :{ports.alt}")


def test_ollama_version_with_the_daemon_down_still_asks_the_ports(ports: SimpleNamespace) -> None:
    """No engine: managed servers are unknown, a host Ollama on 11434 is still checked."""
    host = start_fake("ollama", port=ports.ollama, version="0.1.34")
    try:
        env = make_env("engine-linux", ports, connect_error=EngineUnavailable("down", None))
        r = results(env, "ollama-version")["ollama-version"]
    finally:
        host.stop()
    assert r.status == "warn" and "runs Ollama 0.1.34: it lacks the fix for CVE-2026-7482" \
        in r.detail


# --- exposure -------------------------------------------------------------------------------------


def test_exposure_managed_and_foreign(ports: SimpleNamespace) -> None:
    """An llmctl instance published on 0.0.0.0 (`--bind 0.0.0.0 --yes`), an `ollama/ollama`
    someone ran with `-p 11434:11434` (0.0.0.0 and ::), and a web server (not an LLM): the
    two LLM servers are failures (no authentication), fixed by `llmctl expose`."""
    c1 = managed("pub", 21435, host_ip="0.0.0.0")
    c2 = ContainerInfo(id="x", name="ollama", state="running", image="ollama/ollama:latest",
                       ports=(PublishedPort("0.0.0.0", 11434, 11434),
                              PublishedPort("::", 11434, 11434)))
    c3 = foreign("web", "nginx:1.27", "0.0.0.0", 8088, 80)
    env = make_env("engine-linux", ports, containers=[c1, c2, c3])
    r = results(env, "exposure")["exposure"]
    assert r.status == "fail"
    assert ("llmctl-pub (llmctl, ollama/ollama:0.17.1) publishes 0.0.0.0:21435 with no "
            "authentication") in r.detail
    assert ("ollama (not llmctl, ollama/ollama:latest) publishes 0.0.0.0/[::]:11434 with no "
            "authentication") in r.detail
    assert "nginx" not in r.detail
    assert r.fix == (
        "Publish it on loopback (`llmctl up ollama --name pub --port 21435 --recreate`), then "
        "put the authenticating proxy in front: `llmctl expose pub --listen 0.0.0.0:PORT "
        "--tls internal`. Re-create it on loopback (`docker rm -f ollama`, then run it again "
        "with `-p 127.0.0.1:11434:11434`) and put an authenticating proxy in front (`llmctl "
        "expose` does this for the servers llmctl runs).")
    assert [e["container"] for e in r.data["exposed"]] == ["llmctl-pub", "ollama"]


def proxy_for(name: str, host_ip: str, port: int, *, tls: str = "internal",
              upstream: str | None = None) -> ContainerInfo:
    """The proxy `llmctl expose NAME --listen HOST_IP:PORT --tls TLS` leaves running."""
    return ContainerInfo(
        id=f"p-{name}", name=f"llmctl-proxy-{name}", state="running", image="caddy:2.11.7",
        labels={"io.llmctl.managed": "true", "io.llmctl.role": "proxy",
                "io.llmctl.proxy-for": name, "io.llmctl.tls": tls,
                "io.llmctl.upstream": upstream or f"llmctl-{name}"},
        ports=(PublishedPort(host_ip, port, 8443),))


def test_exposure_through_the_proxy_is_ok(ports: SimpleNamespace) -> None:
    """A server on loopback with llmctl's proxy on the LAN: ok, and said (TLS off too)."""
    env = make_env("engine-linux", ports, containers=[
        managed("gpu", 21437), proxy_for("gpu", "0.0.0.0", 11443),
        managed("lab", 21438), proxy_for("lab", "192.168.1.10", 11480, tls="off")])
    r = results(env, "exposure")["exposure"]
    assert r.status == "ok" and r.fix is None and r.data["exposed"] == []
    assert "gpu is exposed on 0.0.0.0:11443 through llmctl's authenticating proxy " \
           "llmctl-proxy-gpu" in r.detail
    assert "lab is exposed on 192.168.1.10:11480 through llmctl's authenticating proxy " \
           "llmctl-proxy-lab (TLS off: the key travels in clear)" in r.detail
    assert [p["instance"] for p in r.data["protected"]] == ["gpu", "lab"]


def test_exposure_on_a_lan_address_fails_and_a_proxy_without_server_warns(
        ports: SimpleNamespace) -> None:
    """Beyond loopback is any address but loopback (a LAN address too); a proxy whose server
    was removed by hand is a warning with `llmctl unexpose` as the fix."""
    env = make_env("engine-linux", ports, containers=[
        managed("lan", 21439, host_ip="192.168.1.10"),
        proxy_for("gone", "127.0.0.1", 11443)])
    r = results(env, "exposure")["exposure"]
    assert r.status == "fail" and "publishes 192.168.1.10:21439" in r.detail
    assert "llmctl's proxy llmctl-proxy-gone is in front of llmctl-gone, which no longer " \
           "exists" in r.detail
    findings = {f["status"]: f for f in r.data["findings"]}
    assert findings["warn"]["fix"] == "Remove it: `llmctl unexpose gone`."
    assert "llmctl expose lan --listen 192.168.1.10:PORT" in (r.fix or "")


def test_loopback_only_is_ok(ports: SimpleNamespace) -> None:
    env = make_env("engine-linux", ports, containers=[
        managed("lo", 21436), foreign("vllm", "vllm/vllm-openai:v0.11.0", "127.0.0.1", 8000,
                                      8000)])
    r = results(env, "exposure")["exposure"]
    assert r.status == "ok" and r.fix is None and r.data["exposed"] == []


# --- proxies --------------------------------------------------------------------------------------


def test_proxy_without_no_proxy(ports: SimpleNamespace) -> None:
    env = make_env("engine-linux", ports,
                   environ={"HTTPS_PROXY": "http://alice:s3cret@proxy.corp:3128"})
    r = results(env, "proxy")["proxy"]
    assert r.status == "warn" and "NO_PROXY is unset" in r.detail
    assert "HTTPS_PROXY=http://***@proxy.corp:3128" in r.detail
    assert "s3cret" not in json.dumps(r.to_dict())
    assert r.fix == ("`export NO_PROXY=localhost,127.0.0.1,::1 "
                     "no_proxy=localhost,127.0.0.1,::1`.")


def test_proxy_with_partial_no_proxy_keeps_what_is_there(ports: SimpleNamespace) -> None:
    env = make_env("engine-linux", ports, environ={"http_proxy": "http://proxy:3128",
                                                   "no_proxy": ".corp,localhost"})
    r = results(env, "proxy")["proxy"]
    assert r.status == "warn" and "does not cover 127.0.0.1" in r.detail
    assert r.fix == ("`export NO_PROXY=.corp,localhost,127.0.0.1,::1 "
                     "no_proxy=.corp,localhost,127.0.0.1,::1`.")


@pytest.mark.parametrize("no_proxy", ["localhost,127.0.0.1", "*", "127.0.0.0/8,.localhost"])
def test_proxy_with_no_proxy_covering_loopback(ports: SimpleNamespace, no_proxy: str) -> None:
    env = make_env("engine-linux", ports,
                   environ={"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": no_proxy})
    r = results(env, "proxy")["proxy"]
    assert r.status == "ok" and r.fix is None


# --- the configured endpoint ----------------------------------------------------------------------


def write_endpoints(cfg: Path, url: str, model: str) -> Path:
    path = cfg / "endpoints.yaml"
    path.write_text(f"default: ollama\nendpoints:\n  ollama:\n    llm_type: ollama\n"
                    f"    api_type: ollama\n    endpoint: {url}\n    model: {model}\n")
    return path


def test_endpoint_not_configured_is_skip(ports: SimpleNamespace) -> None:
    r = results(make_env("engine-linux", ports), "endpoint")["endpoint"]
    assert r.status == "skip" and "no endpoint configured" in r.detail
    assert r.fix == "Write one once a server runs: `llmctl endpoint write`."


def test_endpoint_file_not_valid(ports: SimpleNamespace, _isolated_config: Path) -> None:
    (_isolated_config / "endpoints.yaml").write_text("endpoints: [oops\n")
    r = results(make_env("engine-linux", ports), "endpoint")["endpoint"]
    assert r.status == "fail" and "endpoints.yaml" in r.detail and "not valid YAML" in r.detail
    assert r.fix is not None and "llmctl endpoint write" in r.fix


@pytest.mark.parametrize(("model", "status", "text", "fix"), [
    ("qwen2.5:0.5b", "ok", "Ollama answers, model present, supports tools", None),
    ("tinyllama", "warn", "does not support tools",
     "Use a model with tools, e.g. `llmctl pull qwen2.5:0.5b` then "
     "`llmctl endpoint write --model qwen2.5:0.5b`."),
    ("llama3.2", "fail", "does not have the model (it has: ",
     "Pull it: `llmctl pull llama3.2` (or choose one it has: "
     "`llmctl endpoint write --model NAME`)."),
])
def test_endpoint_server_model_and_tools(ports: SimpleNamespace, _isolated_config: Path,
                                         fake_ollama: FakeHandle, model: str, status: str,
                                         text: str, fix: str | None) -> None:
    """The configured endpoint is the fake Ollama with qwen2.5:0.5b (tools) and tinyllama
    (no tools) pulled."""
    write_endpoints(_isolated_config, fake_ollama.url, model)
    r = results(make_env("engine-linux", ports), "endpoint")["endpoint"]
    assert r.status == status and text in r.detail, r.detail
    assert r.fix == fix


def test_endpoint_server_down(ports: SimpleNamespace, _isolated_config: Path) -> None:
    write_endpoints(_isolated_config, f"http://127.0.0.1:{free_port()}", "qwen2.5:0.5b")
    r = results(make_env("engine-linux", ports), "endpoint")["endpoint"]
    assert r.status == "fail" and "nothing answers" in r.detail
    assert r.fix == ("Start the server (`llmctl status` shows what runs), or point the endpoint "
                     "at one that runs: `llmctl endpoint write --endpoint URL --model "
                     "qwen2.5:0.5b`.")


# --- the report -----------------------------------------------------------------------------------


def test_report_to_dict_is_json_and_counts(ports: SimpleNamespace) -> None:
    report = run_checks(["proxy", "docker-cli", "daemon"], make_env("engine-linux", ports))
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["ok"] is True
    assert doc["summary"] == {"ok": 3, "warn": 0, "fail": 0, "skip": 0}
    assert doc["docker"] == {"context": "default", "endpoint": "unix:///var/run/docker.sock"}
    assert [c["name"] for c in doc["checks"]] == ["docker-cli", "daemon", "proxy"]
    assert all(isinstance(c["seconds"], float) for c in doc["checks"])
