"""The targets layer: what llmctl runs behind one interface (llmctl.targets), the one
"who holds this port" (llmctl.ports.who_holds), the one duration check, and the CLI's
JSON mode taken from the parsed --json option.

No Docker here: where an engine is needed, only the engine's published ports are stood in
for (a plain list); the servers that answer are real HTTP listeners on loopback."""

from __future__ import annotations

import ast
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llmctl import lifecycle
from llmctl.cli.app import run
from llmctl.engine.model import ContainerInfo, PublishedPort
from llmctl.errors import LlmctlError, UsageError
from llmctl.inputs import check_seconds
from llmctl.plan import LABEL_INSTANCE, LABEL_MANAGED, LABEL_PROFILE, RUNNER_ROLE_LABEL
from llmctl.ports import Heard, who_holds
from llmctl.profiles import load_profile
from llmctl.targets import registry
from llmctl.targets.base import DownRequest, Events, UpRequest
from llmctl.targets.container import ContainerTarget
from llmctl.targets.model_runner.target import ModelRunnerTarget, use_container_url

LLMCTL = Path(__file__).resolve().parents[2] / "llmctl"


def container(name: str, port: int, **labels: str) -> tuple[ContainerInfo, PublishedPort]:
    pub = PublishedPort("127.0.0.1", port, 11434)
    return ContainerInfo(f"id-{name}", name, "running", "img:1", labels=labels,
                         ports=(pub,)), pub


@pytest.fixture
def listener() -> Iterator[int]:
    """A real process (this one) listening on a loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# --- the registry: found by name, never tested by name ------------------------------------
def test_find_gives_each_name_its_target() -> None:
    assert isinstance(registry.find("model-runner"), ModelRunnerTarget)
    ollama = registry.find("ollama")
    assert isinstance(ollama, ContainerTarget) and ollama.name == "ollama"
    assert isinstance(registry.find(None), ContainerTarget)  # `down --name NAME`


def test_each_target_words_its_own_down_command() -> None:
    assert registry.down_command("model-runner", "model-runner") == "llmctl down model-runner"
    assert registry.down_command("ollama", "t-a") == "llmctl down ollama --name t-a"


def test_up_down_status_and_lifecycle_never_name_a_target() -> None:
    for path in [LLMCTL / "lifecycle.py",
                 *(LLMCTL / "cli" / "commands" / f for f in ("up.py", "down.py", "status.py"))]:
        assert '"model-runner"' not in path.read_text(), path


def test_command_modules_never_import_each_other() -> None:
    for path in (LLMCTL / "cli" / "commands").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not [n for n in names if n.startswith("llmctl.cli.commands.")], path


def test_a_port_held_by_llmctls_runner_container_names_its_own_down_command(
        listener: int) -> None:
    """The container target words another target's container through the registry."""
    runner = container("docker-model-runner", listener, **{
        LABEL_MANAGED: "true", LABEL_PROFILE: "model-runner", LABEL_INSTANCE: "model-runner",
        RUNNER_ROLE_LABEL: "controller"})
    engine = SimpleNamespace(published_ports=lambda: [runner],
                             target=SimpleNamespace(is_local=True))
    err = lifecycle.port_conflict(engine, listener, "127.0.0.1", explicit=True,  # type: ignore[arg-type]
                                  stop_command=registry.down_command)
    assert err.details["holder_kind"] == "llmctl"
    assert "Or stop it with `llmctl down model-runner`." in (err.hint or "")
    ours = container("llmctl-t-b", listener, **{
        LABEL_MANAGED: "true", LABEL_PROFILE: "ollama", LABEL_INSTANCE: "t-b"})
    engine.published_ports = lambda: [ours]
    err = lifecycle.port_conflict(engine, listener, "127.0.0.1", explicit=True,  # type: ignore[arg-type]
                                  stop_command=registry.down_command)
    assert "Or stop it with `llmctl down ollama --name t-b`." in (err.hint or "")


# --- who holds this port -------------------------------------------------------------------
def test_who_holds_a_published_port() -> None:
    asked: list[int] = []

    def identify(port: int) -> Heard:
        asked.append(port)
        return Heard("model-runner")

    ours = container("llmctl-a", 5001, **{LABEL_MANAGED: "true", LABEL_INSTANCE: "a",
                                           LABEL_PROFILE: "ollama"})
    plugin = container("docker-model-runner", 5002, **{RUNNER_ROLE_LABEL: "controller"})
    web = container("web", 5003)
    published = [ours, plugin, web]
    held = who_holds(5001, published=published, identify=identify)
    assert (held.kind, held.profile, held.instance) == ("llmctl", "ollama", "a")
    assert who_holds(5002, published=published, identify=identify).kind == "model-runner"
    assert who_holds(5003, published=published, identify=identify).kind == "container"
    assert asked == []  # a container holds it: nothing asked over HTTP
    # Asked for containers too (doctor): an unlabelled runner is told by its answer.
    assert who_holds(5003, published=published, identify=identify,
                     identify_containers=True).kind == "model-runner"


@pytest.mark.parametrize(("heard", "process", "kind"), [
    (Heard("none"), "pid 1 (x)", "free"),
    (Heard("ollama"), "pid 1 (ollama serve)", "host-ollama"),
    (Heard("model-runner"), None, "model-runner"),
    (Heard("http"), "pid 1 (nginx)", "process"),
    (None, None, "unknown"),
])
def test_who_holds_a_port_no_container_publishes(heard: Heard | None, process: str | None,
                                                 kind: str) -> None:
    held = who_holds(6000, identify=lambda p: heard, process=lambda p: process)
    assert held.kind == kind
    assert held.container is None and held.answer is heard
    assert held.process == (None if kind == "free" else process)


# --- container target --------------------------------------------------------------------
def test_a_library_caller_must_opt_in_to_exposing_a_server() -> None:
    target = ContainerTarget("ollama")  # default Events: every question is refused
    with pytest.raises(UsageError, match=r"--bind 0\.0\.0\.0: confirmation needed"):
        target.check(UpRequest("ollama", bind="0.0.0.0"))
    asked: list[str] = []
    said: list[str] = []
    ContainerTarget("ollama", Events(warn=said.append,
                                     confirm=lambda q, no: asked.append(no))).check(
        UpRequest("ollama", bind="0.0.0.0"))
    assert asked == ["--bind 0.0.0.0"] and "exposes the server" in said[0]
    ContainerTarget("ollama").check(UpRequest("ollama", bind="0.0.0.0", dry_run=True))


def test_workload_of_a_profile_names_its_secrets_and_never_holds_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_not_for_export")
    request = UpRequest("vllm", model="Qwen/Qwen3-0.6B", env=("VLLM_LOGGING_LEVEL=DEBUG",))
    work = registry.find("vllm").workload(None, request)
    assert (work.target, work.instance, work.api, work.api_path) == \
        ("vllm", "vllm", "openai", "/v1")
    assert work.spec is not None and work.spec.image == load_profile("vllm").image
    assert work.spec.env["VLLM_LOGGING_LEVEL"] == "DEBUG"
    assert work.secret_env == ("HF_TOKEN",) and work.spec.secrets == {}
    assert "hf_not_for_export" not in repr(work) + json.dumps(work.spec.to_dict())
    assert work.readiness == load_profile("vllm").readiness
    assert work.models == ("Qwen/Qwen3-0.6B",)


def test_workload_of_the_model_runner_without_an_engine_is_its_container() -> None:
    work = registry.find("model-runner").workload(None, UpRequest("model-runner", tcp=12500))
    assert (work.api, work.api_path) == ("openai", "/engines/v1")
    assert work.spec is not None and work.spec.host_port == 12500
    assert work.readiness.contains == "Docker Model Runner is running"
    with pytest.raises(UsageError, match="--tcp 0"):
        registry.find("model-runner").workload(None, UpRequest("model-runner", tcp=0))


def test_model_runner_checks_tcp_then_port_then_default() -> None:
    target = ModelRunnerTarget()
    assert target.port(UpRequest("model-runner", port=1234, tcp=2345)) == 2345
    assert target.port(UpRequest("model-runner", port=1234)) == 1234
    assert target.port(UpRequest("model-runner")) == 12434
    with pytest.raises(UsageError, match="--gpu 'metal'"):
        target.check(UpRequest("model-runner", gpu="metal"))
    target.check_down(DownRequest("model-runner", "anything"))  # --name does not apply


def test_model_runner_dry_run_without_an_engine_plans_the_engine_container() -> None:
    from llmctl.errors import EngineUnavailable

    planned = ModelRunnerTarget().plan(None, UpRequest("model-runner", tcp=12501),
                                       unreachable=EngineUnavailable("daemon down"))
    assert planned.kind == "unknown" and planned.spec is not None
    assert planned.warnings[0].startswith("daemon down; planning the Docker Engine runner")


# --- the Model Runner's container URL, for library callers too ----------------------------
def _written(**endpoint: Any) -> Any:
    ep = SimpleNamespace(llm_type="docker-model-runner", api_type="openai",
                         endpoint="http://127.0.0.1:12434/engines/v1",
                         endpoint_container="http://host.docker.internal:12434/engines/v1")
    for k, v in endpoint.items():
        setattr(ep, k, v)
    return SimpleNamespace(endpoint=ep, managed=None)


def test_use_container_url_asks_the_runner_only_when_it_applies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def container_url(engine: object, endpoint: str) -> str:
        asked.append(endpoint)
        return "http://model-runner.docker.internal/engines/v1"

    monkeypatch.setattr("llmctl.targets.model_runner.target.container_url", container_url)
    result = _written()
    use_container_url(result, lambda: object(), explicit=None)  # type: ignore[arg-type,return-value]
    assert result.endpoint.endpoint_container == \
        "http://model-runner.docker.internal/engines/v1"
    for result, explicit in [(_written(), "http://mine:1/engines/v1"),
                             (_written(llm_type="ollama"), None),
                             (_written(api_type="ollama"), None)]:
        before = result.endpoint.endpoint_container
        use_container_url(result, lambda: object(), explicit=explicit)  # type: ignore[arg-type,return-value]
        assert result.endpoint.endpoint_container == before
    assert len(asked) == 1

    def no_engine() -> Any:
        raise LlmctlError("the daemon is not running")

    result = _written()
    use_container_url(result, no_engine, explicit=None)  # type: ignore[arg-type]
    assert result.endpoint.endpoint_container.startswith("http://host.docker.internal")


# --- one duration check ----------------------------------------------------------------------
def test_check_seconds() -> None:
    check_seconds(None)
    check_seconds(0.5, "--stall-timeout")
    with pytest.raises(UsageError, match=r"^--stall-timeout 0 must be more than 0 seconds$"):
        check_seconds(0, "--stall-timeout")
    with pytest.raises(UsageError, match=r"^--timeout must be more than 0 seconds$"):
        check_seconds(-1, say_value=False)


# --- JSON mode from the parsed option --------------------------------------------------------
def test_json_given_as_another_options_value_is_not_json_mode(
        capsys: pytest.CaptureFixture[str]) -> None:
    # `--model --json`: the model is named "--json"; the error is for a person to read.
    assert run(["endpoint", "write", "--endpoint", "http://127.0.0.1:1", "--model",
                "--json", "--no-verify", "--name", "a/b"]) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.startswith("error: ")


def test_json_after_a_double_dash_is_a_prompt_not_json_mode(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(["chat", "--timeout", "0", "--", "--json"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err == "error: --timeout must be more than 0 seconds\n"


@pytest.mark.parametrize("argv", [
    ["up", "ollama", "--bogus", "--json"],  # not parsed at all
    ["up", "ollama", "--port", "abc", "--json"],  # a bad value
    ["up", "ollama", "--json", "--port"],  # an option without its value
])
def test_a_command_line_that_does_not_parse_still_answers_json(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 2
    cap = capsys.readouterr()
    doc = json.loads(cap.out)  # exactly one document
    assert doc["ok"] is False and doc["command"] == "up"
    assert doc["error"]["exit_code"] == 2 and cap.err == ""
