"""`llmctl doctor` as a user sees it: exit codes, stdout vs stderr, one JSON document.

These run the real command in-process (``llmctl.cli.app.run``); the checks chosen need no
Docker engine (proxy, a daemon address that refuses) so they behave the same everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmctl import doctor
from llmctl.cli.app import run
from tests.fakes.llmfake import start_fake
from tests.support import refused_daemon as refused_host

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
              "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


def test_list_names_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["doctor", "--list"]) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert lines[0].split() == ["CHECK", "DESCRIPTION"]
    assert [ln.split()[0] for ln in lines[1:]] == list(doctor.CHECKS)
    assert cap.err == ""


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["doctor", "--list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "doctor" and doc["ok"] is True
    assert [c["name"] for c in doc["result"]["checks"]] == list(doctor.CHECKS)
    assert all(c["description"] for c in doc["result"]["checks"])


def test_unknown_check_is_a_usage_error_listing_valid_names(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["doctor", "--check", "proxy", "--check", "nope"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = cap.err.splitlines()
    assert lines[0] == "error: unknown check 'nope'"
    assert lines[1] == ("hint: Valid checks: " + ", ".join(doctor.CHECKS)
                        + " (`llmctl doctor --list`).")
    assert "Traceback" not in cap.err


def test_unknown_check_json_is_one_error_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["doctor", "--check", "nope", "--json"]) == 2
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["ok"] is False and doc["command"] == "doctor"
    assert doc["error"]["exit_code"] == 2 and doc["error"]["message"] == "unknown check 'nope'"
    assert "daemon" in doc["error"]["hint"]


@pytest.mark.parametrize("value", ["0", "-1"])
def test_timeout_must_be_positive(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert run(["doctor", "--timeout", value]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith(f"error: --timeout must be a positive number of seconds, not {value}")


def test_one_passing_check_prints_a_table_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["doctor", "--check", "proxy"]) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "FOUND", "FIX"]
    assert lines[1].split(None, 2) == ["proxy", "ok", "no HTTP(S)_PROXY set"]
    assert lines[2] == ""
    assert lines[3].startswith("0 failed, 0 warnings, 1 ok, 0 skipped in ")
    assert len(lines) == 4 and cap.err == ""


def test_a_warning_still_exits_0_and_shows_the_fix(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://bob:hunter2@proxy.corp:3128")
    assert run(["doctor", "--check", "proxy"]) == 0
    out = capsys.readouterr().out
    row = out.splitlines()[1]
    assert row.split()[:2] == ["proxy", "WARN"]
    assert row.endswith("`export NO_PROXY=localhost,127.0.0.1,::1 "
                        "no_proxy=localhost,127.0.0.1,::1`.")
    assert "hunter2" not in out
    assert "0 failed, 1 warnings, 0 ok, 0 skipped" in out


def test_unreachable_daemon_fails_with_exit_1(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    host = refused_host()
    monkeypatch.setenv("DOCKER_HOST", host)
    assert run(["doctor", "--check", "daemon", "--check", "engine"]) == 1
    cap = capsys.readouterr()
    rows = {ln.split()[0]: ln for ln in cap.out.splitlines()[1:3]}
    assert rows["daemon"].split()[1] == "FAIL"
    assert f"nothing listens at {host} (connection refused; from DOCKER_HOST)" in rows["daemon"]
    assert "`unset DOCKER_HOST`" in rows["daemon"]
    assert rows["engine"].split()[1] == "skip"
    assert "1 failed, 0 warnings, 0 ok, 1 skipped" in cap.out
    assert f"docker context (DOCKER_HOST) ({host})" in cap.out


def test_unreachable_daemon_json(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    host = refused_host()
    monkeypatch.setenv("DOCKER_HOST", host)
    assert run(["doctor", "--check", "daemon", "--check", "proxy", "--json"]) == 1
    cap = capsys.readouterr()
    doc = json.loads(cap.out)  # exactly one document on stdout
    result = doc["result"]
    assert doc["llmctl"] == 1 and doc["command"] == "doctor"
    assert result["ok"] is False
    assert result["summary"] == {"ok": 1, "warn": 0, "fail": 1, "skip": 0}
    assert result["docker"] == {"context": "(DOCKER_HOST)", "endpoint": host}
    checks = {c["name"]: c for c in result["checks"]}
    assert list(checks) == ["daemon", "proxy"]
    assert checks["daemon"]["status"] == "fail" and checks["daemon"]["fix"]
    assert checks["daemon"]["data"]["source"] == "DOCKER_HOST"
    assert cap.err == ""


def test_host_option_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    """`llmctl --host ADDR doctor`: the global --host picks the daemon, like every command."""
    host = refused_host()
    assert run(["--host", host, "doctor", "--check", "daemon", "--json"]) == 1
    checks = json.loads(capsys.readouterr().out)["result"]["checks"]
    assert checks[0]["data"] == {"context": "(--host)", "source": "--host", "endpoint": host}


def test_old_ollama_at_the_endpoint_is_a_warning_naming_the_cves(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        _isolated_config: Path) -> None:
    """The endpoint file names an Ollama 0.1.30 (the fake stands in for an old release); the
    daemon refuses, so the warning comes from the endpoint alone. Warnings exit 0."""
    monkeypatch.setenv("DOCKER_HOST", refused_host())
    old = start_fake("ollama", port=0, version="0.1.30")
    try:
        (_isolated_config / "endpoints.yaml").write_text(
            f"default: old\nendpoints:\n  old:\n    llm_type: ollama\n    api_type: ollama\n"
            f"    endpoint: {old.url}\n    model: qwen2.5:0.5b\n")
        assert run(["doctor", "--check", "ollama-version"]) == 0
        human = capsys.readouterr()
        assert run(["doctor", "--check", "ollama-version", "--json"]) == 0
        cap = capsys.readouterr()
    finally:
        old.stop()
    row = human.out.splitlines()[1]
    assert row.split()[:2] == ["ollama-version", "WARN"]
    assert f"the configured endpoint old ({old.url}) runs Ollama 0.1.30" in human.out
    assert "CVE-2024-37032" in human.out and "CVE-2026-7482" in human.out
    assert human.err == "" and cap.err == ""
    doc = json.loads(cap.out)  # exactly one document on stdout
    check = doc["result"]["checks"][0]
    assert check["name"] == "ollama-version" and check["status"] == "warn"
    assert doc["result"]["ok"] is True  # a warning, not a failure
    row_data = next(s for s in check["data"]["servers"] if s["url"] == old.url)
    assert row_data["version"] == "0.1.30"
    assert row_data["missing_fixes"] == ["CVE-2024-37032", "CVE-2026-7482"]
