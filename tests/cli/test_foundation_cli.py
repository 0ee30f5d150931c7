"""The CLI as a user sees it: exit codes, stdout vs stderr, one JSON document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmctl import __version__
from llmctl.cli.app import run
from tests.support import refused_daemon as refused_host


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"llmctl {__version__}\n"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("up", "down", "status", "profiles"):
        assert f"  {cmd} " in out


def test_unknown_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["up", "ollama", "--colour"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert "No such option" in cap.err and "Traceback" not in cap.err


@pytest.mark.parametrize(("args", "needle"), [
    (["up", "ollama", "--port", "0"], "--port 0 is not a TCP port"),
    (["up", "ollama", "--port", "70000"], "--port 70000 is not a TCP port"),
    (["up", "ollama", "--bind", "localhost"], "--bind 'localhost' is not an IP address"),
    (["up", "ollama", "--gpus", "many"], "--gpus 'many'"),
    (["up", "ollama", "--env", "NOPE"], "--env 'NOPE' is not KEY=VALUE"),
    (["up", "ollama", "--timeout", "-1"], "--timeout -1"),
])
def test_bad_up_options_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    assert run(args) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = cap.err.strip().splitlines()
    assert lines[0] == f"error: {lines[0][7:]}" and needle in lines[0]
    assert "Traceback" not in cap.err


def test_unknown_profile_exit_7(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["up", "nope", "--dry-run"]) == 7
    assert "no profile named 'nope'" in capsys.readouterr().err


def test_bad_user_profile_exit_3_with_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken.yaml").write_text(
        "name: broken\nkind: ollama\nimage: a/b:1\ncontainer_port: 1\nhost_port: 99999\n")
    monkeypatch.setenv("LLMCTL_PROFILES_DIR", str(tmp_path))
    assert run(["up", "broken", "--dry-run"]) == 3
    assert f"{tmp_path}/broken.yaml: host_port: 99999 is not a TCP port" in \
        capsys.readouterr().err
    assert run(["profiles", "validate", str(tmp_path / "broken.yaml"), "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 3


def test_engine_unavailable_exit_4_json_envelope(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["--host", refused_host(), "status", "--json"])
    assert code == 4
    cap = capsys.readouterr()
    doc = json.loads(cap.out)  # exactly one document
    assert doc["llmctl"] == 1 and doc["command"] == "status" and doc["ok"] is False
    assert doc["error"]["type"] == "EngineUnavailable"
    assert doc["error"]["exit_code"] == 4


def test_engine_unavailable_human(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--host", refused_host(), "down", "ollama"]) == 4
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("error: cannot reach the Docker daemon at tcp://127.0.0.1:")
    assert "hint: " in cap.err


def test_dry_run_without_engine_still_plans(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--host", refused_host(), "up", "ollama", "--dry-run", "--json"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)["result"]
    assert doc["dry_run"] is True
    spec = doc["spec"]
    assert spec["ports"] == [{"host_ip": "127.0.0.1", "host_port": 11435,
                              "container_port": 11434}]
    assert spec["volumes"] == [{"name": "ollama-data", "target": "/root/.ollama"}]
    assert "planning without the engine" in cap.err


def test_expose_without_tty_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # stdin is not a TTY under pytest: exposing needs --yes, and nothing is started.
    assert run(["--host", refused_host(), "up", "ollama", "--bind", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "no authentication" in err and "bypass host firewalls" in err
    assert "--yes" in err


def test_down_volumes_without_tty_needs_yes(capsys: pytest.CaptureFixture[str]) -> None:
    # The engine check comes first only when confirmation passes; here the host is dead so
    # the answer is exit 4 or 2 depending on order: it must never delete anything silently.
    code = run(["--host", refused_host(), "down", "ollama", "--volumes"])
    assert code in (2, 4)


def test_profiles_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["profiles", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = {p["name"]: p for p in doc["result"]}
    assert names["ollama"]["origin"] == "built-in"


@pytest.mark.parametrize("args", [
    ["probe", "http://[::1"],
    ["chat", "hi", "--endpoint", "http://[::1", "--model", "x"],
    ["pull", "tinyllama", "--endpoint", "http://[::1"],
    ["models", "--endpoint", "http://[::1"],
    ["rm", "tinyllama", "--endpoint", "http://[::1"],
    ["endpoint", "write", "--endpoint", "http://[::1", "--model", "x"],
    ["pull", "tinyllama", "--endpoint", "http://host:99999"],
])
def test_a_malformed_url_is_a_usage_error_everywhere(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a valid URL" in err
    assert "Traceback" not in err


def test_an_unexpected_exception_is_one_line_unless_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr("llmctl.profiles.discover", boom)
    assert run(["profiles", "list"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "error: unexpected RuntimeError: kaboom"
    assert "--debug" in err and "Traceback" not in err
    assert run(["--debug", "profiles", "list"]) == 1
    assert "Traceback" in capsys.readouterr().err
