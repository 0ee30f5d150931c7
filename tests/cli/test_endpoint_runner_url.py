"""`endpoint write` for a Docker Model Runner that llmctl did not start: other containers get
the address the runner reports. Docker Desktop cannot run here: its runner status is a
stand-in (what `docker model status --json` reports on Desktop: endpoint
http://model-runner.docker.internal/...), the HTTP server is the fake Model Runner."""

from __future__ import annotations

import json

import pytest

from llmctl.cli.app import run
from llmctl.targets.model_runner.results import RunnerStatus
from tests.fakes.llmfake import start_fake


@pytest.fixture
def desktop_runner(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with start_fake("model-runner", port=0, pulled="ai/smollm2") as h:
        status = RunnerStatus(
            kind="Docker Desktop", running=True, installed=True, endpoint=h.url,
            base_url=f"{h.url}/engines/v1",
            endpoint_container="http://model-runner.docker.internal/engines/v1")
        monkeypatch.setattr(
            "llmctl.targets.model_runner.target.ModelRunnerTarget.status",
            lambda self, engine: status)
        monkeypatch.setattr("llmctl.cli.context.get_engine", lambda: object())
        monkeypatch.setattr("llmctl.cli.managed_targets.managed_targets_or_note",
                            lambda: ([], None))
        yield h


def test_desktop_runner_gets_model_runner_docker_internal(
    desktop_runner, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    code = run(["endpoint", "write", "--endpoint", f"{desktop_runner.url}/engines/v1",
                "--model", "ai/smollm2", "--json"])
    assert code == 0, capsys.readouterr().err
    ep = json.loads(capsys.readouterr().out)["result"]["endpoint"]
    assert ep["llm_type"] == "docker-model-runner"
    assert ep["endpoint"] == f"{desktop_runner.url}/engines/v1"
    assert ep["endpoint_container"] == "http://model-runner.docker.internal/engines/v1"


def test_an_explicit_container_url_wins(
    desktop_runner, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    code = run(["endpoint", "write", "--endpoint", f"{desktop_runner.url}/engines/v1",
                "--model", "ai/smollm2", "--endpoint-container", "http://mr:1/engines/v1",
                "--json"])
    assert code == 0
    ep = json.loads(capsys.readouterr().out)["result"]["endpoint"]
    assert ep["endpoint_container"] == "http://mr:1/engines/v1"
