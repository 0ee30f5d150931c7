"""`llmctl doctor` against the real Docker engine, as a user runs it (a real process).

The fake image (tests/fakes/llmfake.py) stands in for ollama/ollama. Other tests may have
their own containers on the same engine, so the assertions look at this test's instance
(``data.findings`` and ``data.servers`` in --json) rather than at the whole table.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support import publish_port as free_port

pytestmark = pytest.mark.docker


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def checks_of(doc: dict) -> dict:  # type: ignore[type-arg]
    return {c["name"]: c for c in doc["result"]["checks"]}


def findings_about(check: dict, needle: str) -> list[dict]:  # type: ignore[type-arg]
    return [f for f in check["data"].get("findings", []) if needle in f["text"]]


def up(cli, instance: str, image: str, port: int) -> None:  # type: ignore[no-untyped-def]
    res = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", image,
              "--timeout", "60", "--progress", "none")
    assert res.code == 0, res.stderr


def test_healthy_run(cli, instance: str, fake_image: str) -> None:  # type: ignore[no-untyped-def]
    """A running llmctl Ollama on 127.0.0.1: every check about it is ok, exit 0."""
    port = free_port()
    up(cli, instance, fake_image, port)
    res = cli("doctor", "--json")
    doc = json.loads(res.stdout)
    checks = checks_of(doc)
    assert res.code == (0 if doc["result"]["ok"] else 1), res.stdout
    assert checks["daemon"]["status"] == "ok"
    assert checks["daemon"]["data"]["api_version"]
    assert checks["engine"]["status"] == "ok"
    mine = [s for s in checks["containers"]["data"]["servers"] if s["instance"] == instance]
    assert mine == [{"instance": instance, "container": f"llmctl-{instance}", "state": "running",
                     "health": "ok", "detail": mine[0]["detail"],
                     "endpoint": f"http://127.0.0.1:{port}"}]
    (f,) = findings_about(checks["containers"], f"{instance} (ollama")
    assert f["status"] == "ok" and f["fix"] is None
    assert all(e["container"] != f"llmctl-{instance}"
               for e in checks["exposure"]["data"]["exposed"])
    rows = {p["port"]: p for p in checks["ports"]["data"]["ports"]}
    assert rows[port]["kind"] == "llmctl" and rows[port]["instance"] == instance
    # The checks that do not depend on other tests' containers pass: exit 0.
    quiet = cli("doctor", "--check", "daemon", "--check", "engine", "--check", "docker-cli",
                "--check", "proxy", "--check", "ollama-host", env={"OLLAMA_HOST": ""})
    assert quiet.code == 0, quiet.stdout
    assert quiet.stdout.splitlines()[0].split() == ["CHECK", "STATUS", "FOUND", "FIX"]
    assert "0 failed" in quiet.stdout and quiet.stderr == ""


def test_stopped_managed_container(cli, docker_client, instance: str,  # type: ignore[no-untyped-def]
                                   fake_image: str) -> None:
    """`docker stop` on an llmctl container: a warning whose fix is the `llmctl up` to run."""
    up(cli, instance, fake_image, free_port())
    docker_client.containers.get(f"llmctl-{instance}").stop(timeout=2)
    res = cli("doctor", "--check", "containers", "--json")
    check = checks_of(json.loads(res.stdout))["containers"]
    (f,) = findings_about(check, f"{instance} (ollama, container llmctl-{instance}) is exited")
    assert f["status"] == "warn"
    assert f["fix"] == f"Start it: `llmctl up ollama --name {instance}`."
    assert check["status"] in ("warn", "fail")
    # The fix works: after it, the instance is healthy again.
    again = cli("up", "ollama", "--name", instance, "--image", fake_image, "--timeout", "60",
                "--progress", "none")
    assert again.code == 0, again.stderr
    after = checks_of(json.loads(cli("doctor", "--check", "containers", "--json").stdout))
    (f2,) = findings_about(after["containers"], f"{instance} (ollama")
    assert f2["status"] == "ok"


def test_port_held_by_a_host_process(cli, docker_client, instance: str,  # type: ignore[no-untyped-def]
                                     fake_image: str) -> None:
    """A stopped instance's port is taken by a host web server: named, with a free port."""
    port = free_port()
    up(cli, instance, fake_image, port)
    docker_client.containers.get(f"llmctl-{instance}").stop(timeout=2)
    squatter = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        res = cli("doctor", "--check", "ports", "--json")
    finally:
        squatter.terminate()
        squatter.wait(10)
    check = checks_of(json.loads(res.stdout))["ports"]
    row = next(p for p in check["data"]["ports"] if p["port"] == port)
    assert row["kind"] == "process"
    assert row["holder"].startswith(f"host process pid {squatter.pid} (")
    assert "http.server" in row["holder"]
    (f,) = findings_about(check, f"port {port} of the stopped instance {instance} is taken by")
    assert f["status"] == "warn" and check["status"] == "warn"
    assert f["fix"].startswith(f"Stop that program, or move the instance: `llmctl up ollama "
                               f"--name {instance} --port ")
    suggested = int(f["fix"].split("--port ")[1].split()[0])
    assert suggested != port and suggested > port


def test_unreachable_daemon(cli) -> None:  # type: ignore[no-untyped-def]
    """DOCKER_HOST names a TCP port where nothing listens: the daemon check fails with the
    fix, the checks that need the daemon are skipped, exit 1, and fast."""
    host = f"tcp://127.0.0.1:{closed_port()}"
    t0 = time.monotonic()
    res = cli("doctor", env={"DOCKER_HOST": host})
    took = time.monotonic() - t0
    assert res.code == 1, res.stdout + res.stderr
    assert took < 3, took
    rows = {ln.split()[0]: ln for ln in res.stdout.splitlines()[1:] if ln.strip()}
    assert rows["daemon"].split()[1] == "FAIL"
    assert f"nothing listens at {host} (connection refused; from DOCKER_HOST)" in rows["daemon"]
    assert "`unset DOCKER_HOST`" in rows["daemon"]
    for name in ("engine", "containers", "exposure", "disk"):
        assert rows[name].split()[1] == "skip", rows[name]
    assert "Traceback" not in res.stderr
    as_json = cli("doctor", "--json", env={"DOCKER_HOST": host})
    assert as_json.code == 1
    doc = json.loads(as_json.stdout)
    assert doc["result"]["ok"] is False
    assert [c["name"] for c in doc["result"]["checks"] if c["status"] == "fail"] == ["daemon"]
