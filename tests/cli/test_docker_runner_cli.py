"""The same `docker` for every subprocess (issue "Hardening" item 29): `pull`, `models` and
`rm` fall back to the `docker model` CLI plugin when Docker Model Runner does not answer over
TCP, and that child must talk to the daemon llmctl was pointed at (--context / --host), not
to whatever the environment says.

The `docker model` plugin cannot run here: the fake plugin (tests/fakes/plugins/docker-model)
stands in for it, dispatched to by the REAL docker CLI from a test-only $DOCKER_CONFIG, and
records the environment of every call. Two daemons are named: the environment's
(DOCKER_HOST=tcp://… of a first "engine") and a second context, "gpu", a `tcp://` address;
neither needs to answer, as the plugin dispatch does not contact the daemon.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from llmctl.cli.app import run
from tests.support import closed_port, need_docker_cli

PLUGINS = Path(__file__).resolve().parents[1] / "fakes" / "plugins"


class FakeDockerConfig:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "cli-plugins").mkdir(parents=True)
        os.symlink(PLUGINS / "docker-model", root / "cli-plugins" / "docker-model")

    def add_context(self, name: str, host: str) -> None:
        """A context as `docker context create NAME --docker host=HOST` stores it."""
        meta = self.root / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
        meta.mkdir(parents=True)
        (meta / "meta.json").write_text(json.dumps(
            {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host,
                                                                    "SkipTLSVerify": False}}}))

    def calls(self) -> list[dict[str, Any]]:
        path = self.root / "calls.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDockerConfig:
    from llmctl import models

    need_docker_cli()
    fake = FakeDockerConfig(tmp_path / "docker")
    fake.add_context("gpu", f"tcp://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("DOCKER_CONFIG", str(fake.root))
    # the environment names one daemon; the commands below name another one
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("MODEL_RUNNER_HOST", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    # no runner answers over TCP at the default URL: the CLI plugin is the way in
    monkeypatch.setattr(models, "MODEL_RUNNER_DEFAULT_URL", f"http://127.0.0.1:{closed_port()}")
    return fake


def _model_calls(fake: FakeDockerConfig) -> list[dict[str, Any]]:
    return [c for c in fake.calls() if c["plugin"] == "model"]


def test_context_reaches_every_docker_model_call(docker: FakeDockerConfig,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["--context", "gpu", "pull", "ai/smollm2", "--progress", "plain", "--json"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    res = json.loads(cap.out)["result"]
    assert (res["model"], res["via"]) == ("ai/smollm2:latest", "docker model")
    assert res["digest"].startswith("sha256:")
    assert "Downloaded: 2.00 MB" in cap.err

    assert run(["--context", "gpu", "models", "--backend", "model-runner", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["result"]
    assert [(m["name"], m["backend"]) for m in listed["models"]] == [
        ("ai/smollm2:latest", "model-runner")]
    assert listed["sources"][0]["via"] == "docker model"

    assert run(["--context", "gpu", "rm", "ai/smollm2"]) == 0
    assert capsys.readouterr().out.startswith("removed ai/smollm2:latest from Docker Model")

    calls = _model_calls(docker)
    assert [c["args"][0] for c in calls] == ["pull", "ls", "ls", "rm"]
    for c in calls:  # the second daemon, never the environment's DOCKER_HOST
        assert c["env"].get("DOCKER_CONTEXT") == "gpu", c
        assert "DOCKER_HOST" not in c["env"], c
        assert c["env"].get("MODEL_RUNNER_NO_AUTO_INSTALL") == "1"


def test_host_reaches_every_docker_model_call(docker: FakeDockerConfig,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    other = f"tcp://127.0.0.1:{closed_port()}"
    assert run(["--host", other, "pull", "ai/smollm2", "--progress", "none"]) == 0
    assert run(["--host", other, "models", "--backend", "model-runner"]) == 0
    assert run(["--host", other, "rm", "ai/smollm2"]) == 0
    capsys.readouterr()
    calls = _model_calls(docker)
    assert [c["args"][0] for c in calls] == ["pull", "ls", "ls", "rm"]
    assert all(c["env"].get("DOCKER_HOST") == other and "DOCKER_CONTEXT" not in c["env"]
               for c in calls), calls


def test_the_environments_daemon_is_passed_on_too(docker: FakeDockerConfig,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("DOCKER_CONTEXT", "gpu")
    assert run(["models", "--backend", "model-runner"]) == 0
    capsys.readouterr()
    (call,) = _model_calls(docker)
    assert call["env"].get("DOCKER_CONTEXT") == "gpu" and "DOCKER_HOST" not in call["env"]


def test_a_missing_context_fails_only_when_the_cli_is_needed(
        docker: FakeDockerConfig, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["--context", "nope", "pull", "ai/smollm2", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 4
    assert err.startswith('error: Docker context "nope" not found (from --context)')
    assert _model_calls(docker) == []
