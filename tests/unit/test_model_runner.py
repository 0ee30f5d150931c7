"""Docker Model Runner core: detection, the runner container plan, CLI parsing, HTTP checks
and the up/down/status decisions, with a fake engine, a fake CLI runner and an httpx
MockTransport standing in for the runner's HTTP API (reference/server-apis.md §2)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import httpx
import pytest

from llmctl.backends.runner_status import RunnerHttpError, probe, verify
from llmctl.engine.docker_cli import (
    CliCommandFailed,
    CliResult,
    DockerCli,
    PluginMissing,
    daemon_env,
    is_plugin_missing,
    parse_status_json,
    parse_version_text,
)
from llmctl.engine.model import ContainerInfo, DaemonTarget, EngineFacts, PublishedPort
from llmctl.errors import (
    ConflictError,
    DesktopTooOld,
    ExitCode,
    RunnerDisabled,
    ServerError,
    TcpNotEnabled,
    UsageError,
)
from llmctl.targets.model_runner.container import (
    CONTAINER_NAME,
    IMAGE_ENV,
    VOLUME_NAME,
    plan_runner_container,
)
from llmctl.targets.model_runner.place import check_desktop, detect_place
from llmctl.targets.model_runner.runner import ModelRunner
from tests.fakes.engine import FakeEngine
from tests.support import need_docker_cli
from tests.support import publish_port as free_port

ENGINE_FACTS = EngineFacts(kind="Docker Engine", version="20.10.24", api_version="1.41",
                           os_type="linux", arch="x86_64", operating_system="Debian")
DESKTOP_FACTS = EngineFacts(kind="Docker Desktop", version="Docker Desktop 4.49.0 (12345)",
                            api_version="1.51", os_type="linux", arch="aarch64",
                            operating_system="Docker Desktop", desktop_version="4.49.0")
LOCAL = DaemonTarget("unix:///var/run/docker.sock", "default", "default")


# --- fakes (the engine: tests/fakes/engine.py) ----------------------------------------------
class FakeCli:
    """Stands for the docker CLI process: answers by argv, records every call."""

    def __init__(self, answers: dict[tuple[str, ...], CliResult | Callable[[], CliResult]]):
        self.answers = answers
        self.calls: list[tuple[tuple[str, ...], dict[str, str]]] = []

    def __call__(self, argv: Sequence[str], env: dict[str, str], timeout: float) -> CliResult:
        args = tuple(argv[1:])
        self.calls.append((args, env))
        for prefix, answer in self.answers.items():
            if args[: len(prefix)] == prefix:
                return answer() if callable(answer) else answer
        return CliResult(tuple(argv), 1, "", f'unknown command "{args}"')


def ok(stdout: str = "") -> CliResult:
    return CliResult(("docker",), 0, stdout, "")


def fail(code: int, stderr: str) -> CliResult:
    return CliResult(("docker",), code, "", stderr)


def status_json(running: bool, **extra: Any) -> CliResult:
    doc = {"running": running, "backends": {"llama.cpp": "Running: llama.cpp x"} if running
           else {}, "kind": "Docker Desktop",
           "endpoint": "http://model-runner.docker.internal/v1/", **extra}
    return ok(json.dumps(doc))


def runner_api(
    root: tuple[int, str] = (200, "Docker Model Runner is running"),
    models: Any = None, status: int = 200,
) -> httpx.MockTransport:
    """Stands for the runner's HTTP API (routes of §2.1, plain-text errors)."""
    models = {"object": "list", "data": [{"id": "ai/smollm2:latest", "object": "model",
                                          "owned_by": "docker"}]} if models is None else models

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/":
            return httpx.Response(root[0], text=root[1] + "\n",
                                  headers={"content-type": "text/plain; charset=utf-8"})
        if status != 200:
            return httpx.Response(status, text="service unavailable\n",
                                  headers={"content-type": "text/plain; charset=utf-8"})
        if path == "/engines/v1/models":
            return httpx.Response(200, json=models)
        if path == "/engines/status":
            return httpx.Response(200, json={"llama.cpp": "Running: llama.cpp x",
                                             "vllm": "Not Installed"})
        if path == "/version":
            return httpx.Response(200, json={"version": "v1.0.9"})
        return httpx.Response(404, text="404 page not found\n")

    return httpx.MockTransport(handle)


def refused() -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    return httpx.MockTransport(handle)


@pytest.fixture
def listener() -> Iterator[int]:
    """A host process (this test) listening on a port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# --- detection -------------------------------------------------------------------------------
@pytest.mark.parametrize(("facts", "os_name", "mode"), [
    (DESKTOP_FACTS, "darwin", "desktop"),
    (DESKTOP_FACTS, "win32", "desktop"),
    (DESKTOP_FACTS, "wsl", "desktop"),
    (DESKTOP_FACTS, "linux", "engine"),  # Docker Desktop for Linux is treated as Moby
    (ENGINE_FACTS, "linux", "engine"),
    (replace(ENGINE_FACTS, kind="Colima"), "darwin", "engine"),
])
def test_detect_place_follows_the_model_cli(facts: EngineFacts, os_name: str,
                                            mode: str) -> None:
    place = detect_place(facts, os_name)
    assert place.mode == mode
    if facts.kind == "Docker Desktop" and os_name == "linux":
        assert place.note and "Desktop for Linux" in place.note


@pytest.mark.parametrize(("version", "too_old"), [
    ("4.39.9", True), ("4.40.0", False), ("4.49.0", False), ("5.0", False), ("3.9", True)])
def test_desktop_version_gate_is_4_40(version: str, too_old: bool) -> None:
    facts = replace(DESKTOP_FACTS, desktop_version=version)
    place = detect_place(facts, "darwin")
    if too_old:
        with pytest.raises(DesktopTooOld) as exc:
            check_desktop(place, facts, "darwin")
        assert version in exc.value.message and "4.40" in exc.value.message
        assert exc.value.hint and "Update Docker Desktop" in exc.value.hint
    else:
        assert check_desktop(place, facts, "darwin") == []


def test_unknown_desktop_version_and_intel_mac_are_notes_not_errors() -> None:
    facts = replace(DESKTOP_FACTS, desktop_version=None, arch="x86_64")
    notes = check_desktop(detect_place(facts, "darwin"), facts, "darwin")
    assert any("could not read" in n for n in notes)
    assert any("Apple Silicon" in n for n in notes)


# --- the runner container plan ---------------------------------------------------------------
def test_runner_container_has_the_plugins_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    spec = plan_runner_container(23456, "none")
    assert spec.name == "docker-model-runner"
    assert spec.image == "docker/model-runner:v1.2.6"  # pinned, never latest
    assert [(p.host_ip, p.host_port, p.container_port) for p in spec.ports] == [
        ("127.0.0.1", 23456, 12434)]
    assert [(v.name, v.target) for v in spec.volumes] == [("docker-model-runner-models",
                                                           "/models")]
    assert spec.labels["com.docker.desktop.service"] == "model-runner"
    assert spec.labels["com.docker.model-runner.role"] == "controller"
    assert spec.labels["io.llmctl.managed"] == "true"
    assert spec.restart == "always" and not spec.gpus
    assert spec.env["MODEL_RUNNER_PORT"] == "12434"


def test_cuda_variant_and_image_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    cuda = plan_runner_container(12434, "cuda")
    assert cuda.image == "docker/model-runner:v1.2.6-cuda" and cuda.gpus
    monkeypatch.setenv(IMAGE_ENV, "example/fake-runner:1")
    assert plan_runner_container(12434, "none").image == "example/fake-runner:1"
    with pytest.raises(UsageError, match="rocm"):
        plan_runner_container(12434, "rocm")
    with pytest.raises(UsageError, match="--tcp 0"):
        plan_runner_container(0, "none")


# --- docker CLI parsing ----------------------------------------------------------------------
def test_status_json_current_and_archived_forms() -> None:
    new = parse_status_json(json.dumps({
        "running": True, "backends": {"llama.cpp": "Running: llama.cpp b1"},
        "kind": "Docker Engine", "endpoint": "http://172.17.0.1:12434/v1/",
        "endpointHost": "http://127.0.0.1:12434/v1/"}))
    assert new.running and new.kind == "Docker Engine"
    assert new.endpoint_host == "http://127.0.0.1:12434/v1/"
    old = parse_status_json('{"running": false, "backends": {}, '
                            '"endpoint": "http://model-runner.docker.internal/engines/v1/"}')
    assert not old.running and old.kind is None and old.endpoint_host is None
    with pytest.raises(CliCommandFailed, match="did not print JSON"):
        parse_status_json("Docker Model Runner is running\n")
    with pytest.raises(CliCommandFailed, match="boolean 'running'"):
        parse_status_json('{"running": "yes"}')


def test_version_text() -> None:
    text = ("Client:\n Version: v0.1.44\n OS/Arch: darwin/arm64\n\nServer:\n"
            " Version: (not reachable)\n Engine: Docker Desktop\n")
    assert parse_version_text(text) == {"client": "v0.1.44", "server": "(not reachable)",
                                        "engine": "Docker Desktop"}


@pytest.mark.parametrize("stderr", [
    "docker: 'model' is not a docker command.\nSee 'docker --help'",  # older docker CLI
    "docker: unknown command: docker model\n\nRun 'docker --help' for more information",
])
def test_plugin_missing_messages(stderr: str) -> None:
    assert is_plugin_missing(CliResult(("docker",), 1, "", stderr), "model")
    assert not is_plugin_missing(CliResult(("docker",), 0, "", stderr), "model")
    assert not is_plugin_missing(CliResult(("docker",), 1, "", stderr), "desktop")


def test_real_docker_cli_without_plugin_is_plugin_missing(tmp_path: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The REAL docker CLI with an empty config dir (no cli-plugins): `docker model status
    --json` fails with `unknown flag: --json` (exit 125) before it says unknown command;
    llmctl must still call that "plugin missing"."""
    need_docker_cli()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    cli = DockerCli(None)
    raw = cli.run("model", "status", "--json")
    assert raw.returncode == 125 and "unknown flag" in raw.output
    with pytest.raises(PluginMissing) as exc:
        cli.model_status()
    assert exc.value.hint and "docker-model-plugin" in exc.value.hint
    with pytest.raises(PluginMissing, match="docker desktop"):
        cli.enable_model_runner(tcp_port=12434)


def test_every_model_call_disables_auto_install_and_follows_the_daemon() -> None:
    fake = FakeCli({("model", "status"): status_json(False)})
    target = DaemonTarget("tcp://10.0.0.5:2376", "(--host)", "--host")
    DockerCli(target, docker="sh", runner=fake).model_status()
    args, env = fake.calls[0]
    assert args == ("model", "status", "--json")
    assert env["MODEL_RUNNER_NO_AUTO_INSTALL"] == "1"
    assert env["DOCKER_HOST"] == "tcp://10.0.0.5:2376"
    ctx = DaemonTarget("ssh://gpu", "gpubox", "--context")
    assert daemon_env(ctx) == {"DOCKER_CONTEXT": "gpubox", "DOCKER_HOST": ""}
    # whatever chose the daemon (env, config, default), the child is told which one
    assert daemon_env(LOCAL) == {"DOCKER_HOST": "unix:///var/run/docker.sock",
                                 "DOCKER_CONTEXT": ""}
    from_env = DaemonTarget("ssh://gpu", "gpubox", "DOCKER_CONTEXT")
    assert daemon_env(from_env) == {"DOCKER_CONTEXT": "gpubox", "DOCKER_HOST": ""}
    assert daemon_env(None) == {}


# --- runner HTTP checks ----------------------------------------------------------------------
def test_verify_reads_root_models_backends_and_version() -> None:
    got = verify("http://127.0.0.1:12434", transport=runner_api())
    assert got.running and got.models == ["ai/smollm2:latest"]
    assert got.backends["vllm"] == "Not Installed" and got.version == "v1.0.9"


@pytest.mark.parametrize(("api", "reason", "needle"), [
    (runner_api(root=(503, "Docker Model Runner is not running")), "unavailable",
     "503: Docker Model Runner is not running"),
    (runner_api(root=(200, "Ollama is running")), "not-runner", "not a Docker Model Runner"),
    (runner_api(models=[{"id": "x"}]), "bad-models", "not an OpenAI model list"),
    (runner_api(status=503), "unavailable", "service unavailable"),
    (refused(), "refused", "connection refused"),
])
def test_verify_says_what_is_wrong(api: httpx.MockTransport, reason: str, needle: str) -> None:
    with pytest.raises(RunnerHttpError) as exc:
        verify("http://127.0.0.1:12434", transport=api)
    assert exc.value.reason == reason
    assert needle in exc.value.message


def test_probe_never_raises_and_keeps_running_when_only_models_fail() -> None:
    assert probe("http://127.0.0.1:1", transport=refused()).reason == "refused"
    half = probe("http://127.0.0.1:1", transport=runner_api(status=503))
    assert half.running and half.reason == "unavailable"


# --- Desktop up/down -------------------------------------------------------------------------
def desktop_runner(cli: FakeCli, transport: httpx.MockTransport,
                   engine: FakeEngine | None = None) -> ModelRunner:
    engine = engine or FakeEngine(DESKTOP_FACTS)
    fake_engine: Any = engine
    return ModelRunner(fake_engine, DockerCli(LOCAL, docker="sh", desktop=True, runner=cli),
                       os_name="darwin", transport=transport)


def test_desktop_up_enables_tcp_and_verifies() -> None:
    port = free_port()
    cli = FakeCli({("desktop", "enable"): ok()})
    result = desktop_runner(cli, runner_api()).up(port, timeout=2)
    assert cli.calls[0][0] == ("desktop", "enable", "model-runner", "--tcp", str(port))
    assert result.action == "enabled" and result.ready
    assert result.base_url == f"http://127.0.0.1:{port}/engines/v1"
    assert result.endpoint_container == "http://model-runner.docker.internal/engines/v1"
    assert result.models == ["ai/smollm2:latest"]


def test_desktop_refusing_enable_is_disabled_in_settings() -> None:
    cli = FakeCli({("desktop", "enable"): fail(1, "Error: Docker Model Runner is disabled by "
                                                  "your administrator")})
    with pytest.raises(RunnerDisabled) as exc:
        desktop_runner(cli, runner_api()).up(free_port(), timeout=1)
    assert exc.value.hint and "Settings > AI" in exc.value.hint


def test_desktop_enabled_but_port_silent_is_tcp_not_enabled() -> None:
    cli = FakeCli({("desktop", "enable"): ok(), ("model", "status"): status_json(True)})
    with pytest.raises(TcpNotEnabled) as exc:
        desktop_runner(cli, refused()).up(free_port(), timeout=0.5)
    assert exc.value.exit_code == ExitCode.NOT_READY
    assert exc.value.hint and "--tcp" in exc.value.hint


def test_desktop_enabled_but_not_running_is_disabled() -> None:
    cli = FakeCli({("desktop", "enable"): ok(), ("model", "status"): status_json(False)})
    with pytest.raises(RunnerDisabled, match="not running in Docker Desktop"):
        desktop_runner(cli, refused()).up(free_port(), timeout=0.5)


def test_desktop_runner_answering_503_is_reported_with_its_text() -> None:
    cli = FakeCli({("desktop", "enable"): ok(), ("model", "status"): status_json(True)})
    api = runner_api(root=(503, "Docker Model Runner is starting"))
    with pytest.raises(ServerError) as exc:
        desktop_runner(cli, api).up(free_port(), timeout=0.5)
    assert "503: Docker Model Runner is starting" in exc.value.message
    assert exc.value.hint and "docker model status" in exc.value.hint


def test_desktop_too_old_never_calls_the_cli() -> None:
    cli = FakeCli({})
    engine = FakeEngine(replace(DESKTOP_FACTS, desktop_version="4.38.0"))
    with pytest.raises(DesktopTooOld):
        desktop_runner(cli, runner_api(), engine).up(free_port())
    assert cli.calls == []


def test_desktop_down_asks_first_and_says_it_is_desktop_wide() -> None:
    cli = FakeCli({("desktop", "disable"): ok()})
    runner = desktop_runner(cli, runner_api())

    def refuse(warning: str) -> None:
        assert "whole of Docker Desktop" in warning
        raise UsageError("not confirmed")

    with pytest.raises(UsageError):
        runner.down(confirm=refuse)
    assert cli.calls == []  # nothing was switched off
    result = runner.down(confirm=lambda w: None)
    assert cli.calls[0][0] == ("desktop", "disable", "model-runner")
    assert result.action == "disabled" and "whole of Docker Desktop" in result.notes[0]


def test_desktop_status_with_missing_plugin_is_reported_not_raised() -> None:
    cli = FakeCli({("model",): fail(1, "docker: unknown command: docker model")})
    st = desktop_runner(cli, refused()).status()
    assert not st.running and not st.installed
    assert st.problem and "docker model" in st.problem
    assert st.fix and "4.40" in st.fix


def test_desktop_status_without_tcp_names_the_fix() -> None:
    cli = FakeCli({("model", "status"): status_json(True)})
    st = desktop_runner(cli, refused()).status()
    assert st.running and st.endpoint is None
    assert st.endpoint_container == "http://model-runner.docker.internal/engines/v1"
    assert st.problem and "host-side TCP is not enabled" in st.problem
    assert st.fix == "llmctl up model-runner --tcp 12434"


# --- Engine: ports and down ------------------------------------------------------------------
def engine_runner(engine: FakeEngine, transport: httpx.MockTransport) -> ModelRunner:
    cli = FakeCli({("model",): fail(1, "docker: unknown command: docker model")})
    fake_engine: Any = engine
    return ModelRunner(fake_engine, DockerCli(LOCAL, docker="sh", runner=cli),
                       os_name="linux", transport=transport)


def test_port_held_by_a_host_process_is_named_with_a_free_port(listener: int) -> None:
    with pytest.raises(ConflictError) as exc:
        engine_runner(FakeEngine(), refused()).up(listener, timeout=1)
    err = exc.value
    assert err.exit_code == ExitCode.CONFLICT
    assert f"port {listener}" in err.message and "host process pid" in err.message
    assert err.details["suggested_port"] and f"--tcp {err.details['suggested_port']}" in \
        (err.hint or "")


def test_port_held_by_another_runner_names_desktop_and_its_fix(listener: int) -> None:
    with pytest.raises(ConflictError) as exc:
        engine_runner(FakeEngine(), runner_api()).up(listener, timeout=1)
    assert exc.value.details["holder_kind"] == "desktop-runner"
    assert "docker desktop disable model-runner" in (exc.value.hint or "")


def test_port_held_by_a_container_names_it(listener: int) -> None:
    web = ContainerInfo("c1", "webapp", "running", "nginx:1",
                        ports=(PublishedPort("127.0.0.1", listener, 80),))
    with pytest.raises(ConflictError) as exc:
        engine_runner(FakeEngine(containers=[web]), refused()).up(listener, timeout=1)
    assert "container webapp (nginx:1)" in exc.value.message
    assert "docker stop webapp" in (exc.value.hint or "")


def test_existing_runner_on_another_port_is_a_conflict_unless_yes() -> None:
    runner = ContainerInfo("r1", CONTAINER_NAME, "running", "docker/model-runner:latest",
                           labels={"com.docker.model-runner.role": "controller"},
                           ports=(PublishedPort("127.0.0.1", 12434, 12434),),
                           volumes=(VOLUME_NAME,))
    with pytest.raises(ConflictError) as exc:
        engine_runner(FakeEngine(containers=[runner]), runner_api()).up(free_port())
    assert "already runs on port 12434" in exc.value.message
    assert "--yes" in (exc.value.hint or "")


def test_engine_down_keeps_the_volume_unless_asked() -> None:
    def runner() -> ContainerInfo:
        return ContainerInfo("r1", CONTAINER_NAME, "running", "img",
                             labels={"com.docker.model-runner.role": "controller"},
                             volumes=(VOLUME_NAME,))

    other = ContainerInfo("o1", "docker-model-runner-look-alike", "running", "img")
    engine = FakeEngine(containers=[runner(), other], volumes={VOLUME_NAME: {}})
    result = engine_runner(engine, refused()).down()
    assert result.removed == [CONTAINER_NAME] and result.volumes_kept == [VOLUME_NAME]
    assert engine.removed == [CONTAINER_NAME]  # only the labelled controller
    engine.add(runner())
    result = engine_runner(engine, refused()).down(volumes=True)
    assert result.volumes_removed == [VOLUME_NAME] and VOLUME_NAME not in engine.volumes


def test_engine_status_reports_an_unreachable_runner_without_raising() -> None:
    runner = ContainerInfo("r1", CONTAINER_NAME, "running", "img",
                           labels={"com.docker.model-runner.role": "controller"},
                           ports=(PublishedPort("127.0.0.1", 23999, 23999),
                                  PublishedPort("172.17.0.1", 23999, 23999)))
    st = engine_runner(FakeEngine(containers=[runner]), refused()).status()
    assert st.installed and not st.running
    assert st.endpoint == "http://127.0.0.1:23999"
    assert st.endpoint_container == "http://172.17.0.1:23999/engines/v1"
    assert st.problem and "connection refused" in st.problem


def test_runner_plan_adds_the_bridge_gateway_binding_like_the_plugin() -> None:
    spec = plan_runner_container(12434, "none", gateway="172.17.0.1")
    assert [(p.host_ip, p.host_port, p.container_port) for p in spec.ports] == [
        ("127.0.0.1", 12434, 12434), ("172.17.0.1", 12434, 12434)]
    assert spec.bind == "127.0.0.1" and not spec.exposed  # loopback stays first
    assert [p.host_ip for p in plan_runner_container(12434, "none").ports] == ["127.0.0.1"]


# --- up --dry-run: read only (the engine fails the test on any call that would change it) ---
def test_engine_dry_run_says_what_would_be_pulled_and_created() -> None:
    port = free_port()
    plan = engine_runner(FakeEngine(read_only=True), refused()).plan_up(port)
    assert plan.container == "create" and plan.kind == "Docker Engine"
    assert plan.spec is not None and plan.spec.image == "docker/model-runner:v1.2.6"
    assert plan.would_pull == ["docker/model-runner:v1.2.6"]
    assert plan.would_create == ["network llmctl", f"volume {VOLUME_NAME}",
                                 f"container {CONTAINER_NAME}"]
    assert plan.would_run == []
    present = FakeEngine(images=("docker/model-runner:v1.2.6",), network=True,
                         volumes={VOLUME_NAME: {}}, read_only=True)
    plan = engine_runner(present, refused()).plan_up(port)
    assert plan.would_pull == [] and plan.would_create == [f"container {CONTAINER_NAME}"]


def test_engine_dry_run_with_the_plugin_would_run_install_runner() -> None:
    cli = FakeCli({("model", "status"): status_json(False)})
    runner = ModelRunner(FakeEngine(read_only=True), DockerCli(LOCAL, docker="sh", runner=cli),  # type: ignore[arg-type]
                         os_name="linux", transport=refused())
    plan = runner.plan_up(12999, gpu="none")
    assert plan.container == "install" and plan.spec is None
    assert plan.would_run == ["docker model install-runner --port 12999 --gpu none"]
    assert [c[0][:2] for c in cli.calls] == [("model", "status")]  # nothing installed


def test_engine_dry_run_on_an_existing_runner() -> None:
    runner = ContainerInfo("r1", CONTAINER_NAME, "exited", "docker/model-runner:latest",
                           labels={"com.docker.model-runner.role": "controller"},
                           ports=(PublishedPort("127.0.0.1", 12434, 12434),))
    engine = FakeEngine(containers=[runner], read_only=True)
    assert engine_runner(engine, refused()).plan_up(12434).container == "start"
    moved = engine_runner(engine, refused()).plan_up(12999)
    assert moved.container == "refuse" and "already runs on port 12434" in (moved.reason or "")
    again = engine_runner(engine, refused()).plan_up(12999, recreate=True)
    assert again.container == "recreate" and again.would_remove == [f"container {CONTAINER_NAME}"]


def test_desktop_dry_run_never_calls_enable() -> None:
    port = free_port()
    cli = FakeCli({})
    plan = desktop_runner(cli, refused(), FakeEngine(DESKTOP_FACTS, read_only=True)).plan_up(port)
    assert plan.container == "enable" and plan.kind == "Docker Desktop"
    assert plan.would_run == [f"docker desktop enable model-runner --tcp {port}"]
    assert cli.calls == []
