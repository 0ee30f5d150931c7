"""`llmctl up|down|status` for Docker Model Runner on Docker Desktop, as a user sees them.

Docker Desktop cannot run here, so three fakes stand in for it:
- the engine's facts (the fake engine of tests/fakes/engine.py reporting `Docker Desktop
  4.x`, as `info()`/`version()` of a real Desktop do, with no containers) and the host OS
  (macOS);
- the `docker desktop` and `docker model` CLI plugins (tests/fakes/plugins), dispatched to by
  the REAL docker CLI from a test-only $DOCKER_CONFIG/cli-plugins;
- Desktop's runner process: `docker desktop enable model-runner --tcp PORT` starts the fake
  Model Runner HTTP server (tests/fakes/llmfake.py) on 127.0.0.1:PORT, as Desktop starts
  listening on the host port, and `disable` stops it.
The HTTP verification is real: llmctl talks to that process over TCP.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llmctl.cli.app import run
from llmctl.engine.connect import DaemonTarget
from llmctl.engine.model import EngineFacts
from llmctl.ports import next_free
from tests.fakes.engine import FakeEngine
from tests.support import need_docker_cli

PLUGINS = Path(__file__).resolve().parents[1] / "fakes" / "plugins"
DESKTOP = EngineFacts(kind="Docker Desktop", version="Docker Desktop 4.49.0 (12345)",
                      api_version="1.51", os_type="linux", arch="aarch64",
                      operating_system="Docker Desktop", desktop_version="4.49.0")

DESKTOP_TARGET = DaemonTarget("unix:///Users/me/.docker/run/docker.sock", "desktop-linux",
                              "currentContext in config.json")

@pytest.fixture(autouse=True)
def _docker_cli() -> None:
    need_docker_cli()  # the real CLI dispatches to the fake plugins (no daemon needed)


class FakeDocker:
    """A docker config dir with the fake plugins, and the fakes' state file."""

    def __init__(self, root: Path, plugins: bool = True) -> None:
        self.root = root
        (root / "cli-plugins").mkdir(parents=True)
        if plugins:
            for name in ("docker-model", "docker-desktop"):
                os.symlink(PLUGINS / name, root / "cli-plugins" / name)
        self.state_file = root / "fake-docker-state.json"

    def set(self, **state: Any) -> None:
        doc = self.state()
        doc.update(state)
        self.state_file.write_text(json.dumps(doc))

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return {}

    def calls(self) -> list[dict[str, Any]]:
        path = self.root / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def stop_runner(self) -> None:
        pid = self.state().get("runner_pid")
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)


def _engine_with(monkeypatch: pytest.MonkeyPatch, engine: Any) -> None:
    monkeypatch.setattr("llmctl.cli.context.get_engine", lambda: engine)
    monkeypatch.setattr("llmctl.targets.model_runner.place.host_os", lambda: "darwin")


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDocker]:
    fake = FakeDocker(tmp_path / "docker")
    fake.set(mode="desktop", desktop_version="4.49.0")
    monkeypatch.setenv("DOCKER_CONFIG", str(fake.root))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no TTY: confirmations need --yes
    _engine_with(monkeypatch, FakeEngine(DESKTOP, target=DESKTOP_TARGET))
    yield fake
    fake.stop_runner()


@pytest.fixture
def port() -> int:
    found = next_free(31000 + uuid.uuid4().int % 3000, "127.0.0.1")
    assert found is not None
    return found


def answers(port: int) -> str | None:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).text.strip()
    except httpx.HTTPError:
        return None


def test_desktop_up_enables_tcp_verifies_and_status_shows_it(
    desktop: FakeDocker, port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["up", "model-runner", "--tcp", str(port)]) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert lines[0].startswith("model-runner: enabled in Docker Desktop, ready in ")
    assert lines[1] == f"  endpoint (this machine):   http://127.0.0.1:{port}/engines/v1"
    assert lines[2] == "  endpoint (containers):     http://model-runner.docker.internal/engines/v1"
    assert "llama.cpp: Running" in cap.out and "models: 0" in cap.out
    enable = [c for c in desktop.calls() if c["plugin"] == "desktop"]
    assert [c["args"] for c in enable] == [["enable", "model-runner", "--tcp", str(port)]]
    assert answers(port) == "Docker Model Runner is running"

    assert run(["status"]) == 0
    out = capsys.readouterr().out
    assert "Docker Model Runner (Docker Desktop): running" in out
    assert f"endpoint (this machine):   http://127.0.0.1:{port}/engines/v1" in out
    assert "endpoint (containers):     http://model-runner.docker.internal/engines/v1" in out
    model_calls = [c for c in desktop.calls() if c["plugin"] == "model"]
    assert model_calls and all(c["env"].get("MODEL_RUNNER_NO_AUTO_INSTALL") == "1"
                               for c in model_calls)

    assert run(["status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["result"]["model_runner"]
    assert doc["kind"] == "Docker Desktop" and doc["running"] is True
    assert doc["base_url"] == f"http://127.0.0.1:{port}/engines/v1"
    assert doc["backends"]["llama.cpp"].startswith("Running: llama.cpp")
    assert doc["problem"] is None


def test_desktop_up_json_is_one_document(desktop: FakeDocker, port: int,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["up", "model-runner", "--tcp", str(port), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["command"] == "up"
    res = doc["result"]
    assert (res["action"], res["kind"], res["port"], res["ready"]) == (
        "enabled", "Docker Desktop", port, True)
    assert res["endpoint_container"] == "http://model-runner.docker.internal/engines/v1"


def test_second_up_reuses_desktops_runner(desktop: FakeDocker, port: int,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["up", "model-runner", "--tcp", str(port)]) == 0
    capsys.readouterr()
    assert run(["up", "model-runner", "--tcp", str(port), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["action"] == "reused"
    enables = [c for c in desktop.calls() if c["plugin"] == "desktop"]
    assert len(enables) == 1  # the port already answered as Desktop's runner


def test_desktop_too_old(desktop: FakeDocker, port: int, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    _engine_with(monkeypatch, FakeEngine(replace(DESKTOP, desktop_version="4.38.0"),
                                            target=DESKTOP_TARGET))
    assert run(["up", "model-runner", "--tcp", str(port)]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.splitlines() == [
        "error: Docker Desktop 4.38.0 is too old for Docker Model Runner (it needs 4.40 or "
        "later)",
        "hint: Update Docker Desktop (menu > Check for updates), then run this again.",
    ]
    assert desktop.calls() == []


def test_plugins_missing(tmp_path: Path, port: int, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """The real docker CLI without the plugins answers 'unknown command' / 'unknown flag'."""
    bare = FakeDocker(tmp_path / "bare", plugins=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(bare.root))
    _engine_with(monkeypatch, FakeEngine(DESKTOP, target=DESKTOP_TARGET))
    assert run(["up", "model-runner", "--tcp", str(port)]) == 1
    err = capsys.readouterr().err
    assert "error: the `docker desktop` command is not available" in err
    assert "hint: `docker desktop` ships with Docker Desktop 4.37 and later" in err
    assert run(["status"]) == 0  # not fatal in status
    out = capsys.readouterr().out
    assert "Docker Model Runner (Docker Desktop): not installed" in out
    assert "problem: the `docker model` command is not available" in out
    assert run(["status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["result"]["model_runner"]
    assert doc["running"] is False and "4.40" in doc["fix"]


def test_disabled_in_settings(desktop: FakeDocker, port: int,
                              capsys: pytest.CaptureFixture[str]) -> None:
    desktop.set(disabled_by_settings=True)
    assert run(["up", "model-runner", "--tcp", str(port), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"]["type"] == "RunnerDisabled"
    assert "Settings > AI > Enable Docker Model Runner" in doc["error"]["hint"]
    assert answers(port) is None


def test_tcp_not_enabled(desktop: FakeDocker, port: int,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """Desktop says enabled but nothing listens on the host port."""
    desktop.set(tcp_ignored=True)
    assert run(["up", "model-runner", "--tcp", str(port), "--timeout", "1"]) == 6
    err = capsys.readouterr().err
    assert f"nothing answers on 127.0.0.1:{port}" in err
    assert "host-side TCP support is not on" in err
    assert f"docker desktop enable model-runner --tcp {port}" in err


def test_port_taken_by_another_process(desktop: FakeDocker, port: int,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert run(["up", "model-runner", "--tcp", str(port)]) == 5
    err = capsys.readouterr().err
    assert f"error: port {port} on 127.0.0.1 is taken by host process pid {os.getpid()}" in err
    assert "--tcp " in err
    assert not [c for c in desktop.calls() if c["plugin"] == "desktop"]


def test_down_needs_confirmation_and_says_desktop_wide(
    desktop: FakeDocker, port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["up", "model-runner", "--tcp", str(port)]) == 0
    capsys.readouterr()
    assert run(["down", "model-runner"]) == 2
    cap = capsys.readouterr()
    assert "warning: this turns Docker Model Runner off for the whole of Docker Desktop" in \
        cap.err
    assert "confirmation needed and stdin is not a terminal" in cap.err
    assert desktop.state()["enabled"] is True and answers(port)

    assert run(["down", "model-runner", "--yes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model-runner: disabled in Docker Desktop\n")
    assert "whole of Docker Desktop" in out
    assert desktop.state()["enabled"] is False
    assert answers(port) is None
    assert [c["args"] for c in desktop.calls() if c["plugin"] == "desktop"][-1] == [
        "disable", "model-runner"]


def test_bad_gpu_is_usage_error(desktop: FakeDocker, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["up", "model-runner", "--gpu", "metal"]) == 2
    assert "--gpu 'metal' is not one of auto, none, cuda, rocm" in capsys.readouterr().err


def test_up_write_endpoint_saves_the_runner_once_it_has_a_model(
    desktop: FakeDocker, port: int, capsys: pytest.CaptureFixture[str],
    _isolated_config: Path,
) -> None:
    # No model yet: the runner is up, the endpoint is not written, and the error says both
    # and how to go on (it used to be ignored without a word).
    endpoints = _isolated_config / "endpoints.yaml"
    assert run(["up", "model-runner", "--tcp", str(port), "--write-endpoint"]) != 0
    cap = capsys.readouterr()
    assert (f"error: Model Runner is up at http://127.0.0.1:{port}/engines/v1, but the "
            "endpoint was not written: --model is required (the server has: none)\n"
            "hint: Pass --model NAME; pull one first with: llmctl pull MODEL\n") in cap.err
    assert answers(port) == "Docker Model Runner is running"
    assert not endpoints.exists()

    assert run(["pull", "ai/smollm2:360M-Q4_K_M", "--endpoint",
                f"http://127.0.0.1:{port}/engines/v1"]) == 0
    capsys.readouterr()
    assert run(["up", "model-runner", "--tcp", str(port), "--write-endpoint"]) == 0
    cap = capsys.readouterr()
    assert "wrote endpoint" in cap.err
    assert run(["endpoint", "show", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)["result"]["endpoint"]
    assert (entry["name"], entry["llm_type"], entry["api_type"]) == (
        "docker-model-runner", "docker-model-runner", "openai")
    assert entry["endpoint"] == f"http://127.0.0.1:{port}/engines/v1"
    assert entry["endpoint_container"] == "http://model-runner.docker.internal/engines/v1"
    assert entry["model"] == "ai/smollm2:360M-Q4_K_M"
    assert entry["verified"]["model_present"] is True
