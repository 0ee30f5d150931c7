"""`llmctl pull|models|rm` against fake servers running as containers on a real Docker engine.

Ollama: the fake Ollama started through `llmctl up` (conftest ``ollama_up``). Model Runner: the
fake server image run with ``--kind model-runner`` on a free loopback port (labelled
``io.llmctl.test=1`` so the sweep removes leftovers). Every command runs as a real process
(``python -m llmctl``), as a user would run it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration import infra

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(url: str, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if text in httpx.get(url, timeout=2).text:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {text!r} in {timeout} s")


@pytest.fixture
def runner_url(docker_client: Any, fake_image: str) -> Iterator[str]:
    """A fake Docker Model Runner in a container, published on 127.0.0.1:<free port>."""
    from llmctl.ports import next_free

    port = next_free(23000 + uuid.uuid4().int % 2000, "127.0.0.1")
    assert port is not None
    container = docker_client.containers.run(
        fake_image, ["--kind", "model-runner", "--port", "12434"],
        name=f"{infra.TEST_PREFIX}mr-{uuid.uuid4().hex[:8]}", detach=True,
        labels={"io.llmctl.test": "1"}, ports={"12434/tcp": ("127.0.0.1", port)},
        environment={"LLMFAKE_KIND": "model-runner"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(url + "/", "Docker Model Runner is running")
        yield url
    finally:
        container.remove(force=True)


def _sigint_exits_130(args: list[str], env: dict[str, str] | None = None) -> tuple[int, float,
                                                                                    str]:
    """Start `python -m llmctl ARGS`, wait for the pull to be under way, send SIGINT."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmctl", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "pulling" in line and "using" not in line:
            break
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=15)
    took = time.monotonic() - sent
    return code, took, proc.stderr.read()


# --- Ollama (fake, in a container started by `llmctl up`) -------------------------------------


def test_pull_list_rm_in_the_managed_ollama(cli, ollama_up) -> None:  # type: ignore[no-untyped-def]
    _name, endpoint = ollama_up
    res = cli("pull", "tinyllama", "--endpoint", endpoint, "--progress", "plain", "--json")
    assert res.code == 0, res.stderr
    doc = res.json()["result"]
    assert (doc["model"], doc["backend"], doc["endpoint"]) == (
        "tinyllama:latest", "ollama", endpoint)
    assert len(doc["digest"]) == 64 and doc["size"] > 0
    assert "pulling manifest" in res.stderr and "success" in res.stderr

    res = cli("models", "--endpoint", endpoint, "--json")
    assert res.code == 0, res.stderr
    assert [m["name"] for m in res.json()["result"]["models"]] == ["tinyllama:latest"]

    res = cli("rm", "tinyllama:latest", "--endpoint", endpoint)
    assert res.code == 0, res.stderr
    assert res.stdout.startswith("removed tinyllama:latest from Ollama at")

    res = cli("models", "--endpoint", endpoint, "--json")
    assert res.json()["result"]["models"] == []
    res = cli("rm", "tinyllama:latest", "--endpoint", endpoint)
    assert res.code == 7 and "not found" in res.stderr


def test_managed_container_is_found_without_endpoint(cli, ollama_up) -> None:  # type: ignore[no-untyped-def]
    name, endpoint = ollama_up
    res = cli("models", "--backend", "ollama", "--json",
              env={"OLLAMA_HOST": "127.0.0.1:9"})  # would refuse: the container must be used
    assert res.code == 0, res.stderr
    sources = res.json()["result"]["sources"]
    mine = [s for s in sources if s["endpoint"] == endpoint]
    assert mine and mine[0]["ok"] and mine[0]["source"].startswith("managed container ")
    assert name in mine[0]["source"]


def test_unknown_model_gives_the_servers_error(cli, ollama_up) -> None:  # type: ignore[no-untyped-def]
    _name, endpoint = ollama_up
    res = cli("pull", "no-such-model:7b", "--endpoint", endpoint, "--progress", "none")
    assert res.code == 7
    assert "pull model manifest: file does not exist" in res.stderr
    assert res.stdout == "" and "Traceback" not in res.stderr


def test_stalled_stream_hits_the_stall_timeout(cli, ollama_up) -> None:  # type: ignore[no-untyped-def]
    _name, endpoint = ollama_up
    start = time.monotonic()
    res = cli("pull", "llmfake/stall", "--endpoint", endpoint, "--stall-timeout", "2",
              "--progress", "plain", timeout=60)
    took = time.monotonic() - start
    assert res.code == 1
    assert "stalled at" in res.stderr and "no progress for 2 s" in res.stderr
    assert "resumes" in res.stderr
    assert 2 <= took < 15


def test_sigint_during_ollama_pull_exits_130(ollama_up) -> None:  # type: ignore[no-untyped-def]
    _name, endpoint = ollama_up
    code, took, err = _sigint_exits_130(["pull", "llmfake/stall", "--endpoint", endpoint,
                                         "--progress", "plain"])
    assert code == 130
    assert took < 2
    assert "error: interrupted" in err and "Traceback" not in err


# --- Docker Model Runner (fake, in a container) ------------------------------------------------


def test_runner_pull_list_rm(cli, runner_url: str) -> None:  # type: ignore[no-untyped-def]
    env = {"MODEL_RUNNER_HOST": runner_url}
    res = cli("pull", "ai/smollm2:360M-Q4_K_M", "--progress", "plain", "--json", env=env)
    assert res.code == 0, res.stderr
    doc = res.json()["result"]
    assert (doc["model"], doc["backend"], doc["endpoint"], doc["via"]) == (
        "ai/smollm2:360M-Q4_K_M", "model-runner", runner_url, "http")
    assert doc["digest"].startswith("sha256:")
    assert f"using Docker Model Runner at {runner_url} (MODEL_RUNNER_HOST)" in res.stderr

    res = cli("models", "--backend", "model-runner", "--json", env=env)
    assert res.code == 0, res.stderr
    assert [m["name"] for m in res.json()["result"]["models"]] == ["ai/smollm2:360M-Q4_K_M"]

    res = cli("rm", "ai/smollm2:360M-Q4_K_M", env=env)
    assert res.code == 0, res.stderr
    res = cli("models", "--backend", "model-runner", "--json", env=env)
    assert res.json()["result"]["models"] == []


def test_runner_unknown_model(cli, runner_url: str) -> None:  # type: ignore[no-untyped-def]
    res = cli("pull", "ai/no-such-model", "--progress", "none",
              env={"MODEL_RUNNER_HOST": runner_url})
    assert res.code == 7
    assert "Model not found" in res.stderr


def test_runner_stall(cli, runner_url: str) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    res = cli("pull", "llmfake/stall", "--backend", "model-runner", "--stall-timeout", "2",
              "--progress", "none", env={"MODEL_RUNNER_HOST": runner_url}, timeout=60)
    assert res.code == 1
    assert "stalled at" in res.stderr and "no progress for 2 s" in res.stderr
    assert time.monotonic() - start < 15


def test_sigint_during_runner_pull_exits_130(runner_url: str) -> None:
    code, took, err = _sigint_exits_130(
        ["pull", "llmfake/stall", "--backend", "model-runner", "--progress", "plain"],
        env={"MODEL_RUNNER_HOST": runner_url})
    assert code == 130
    assert took < 2
    assert "error: interrupted" in err


# --- several managed Ollama containers -----------------------------------------------------------


def test_two_managed_ollama_containers_pull_and_rm_ask_which(  # type: ignore[no-untyped-def]
        cli, docker_client, fake_image: str) -> None:
    """Two `llmctl up ollama` instances: `pull` and `rm` without --endpoint refuse and list
    both with the --endpoint that picks each (no silent pick); --endpoint then works."""
    from llmctl.ports import next_free

    names = [f"{infra.TEST_PREFIX}{uuid.uuid4().hex[:8]}" for _ in range(2)]
    urls: dict[str, str] = {}
    try:
        for name in names:
            port = next_free(21000 + uuid.uuid4().int % 2000, "127.0.0.1")
            assert port is not None
            res = cli("up", "ollama", "--name", name, "--port", str(port), "--image", fake_image,
                      "--timeout", "60", "--progress", "none", "--json")
            assert res.code == 0, res.stderr
            urls[name] = res.json()["result"]["endpoint"]
        env = {"OLLAMA_HOST": "127.0.0.1:9"}  # would refuse: only the containers count
        for command in (["pull", "tinyllama", "--progress", "none"], ["rm", "tinyllama"]):
            res = cli(*command, env=env)
            assert res.code == 2, res.stderr
            assert res.stdout == ""
            error, hint = res.stderr.splitlines()[-2:]
            assert error.startswith("error: ") and "Ollama containers that llmctl manages are "\
                "running: " in error and error.endswith("; which one is meant?")
            for name, url in urls.items():
                assert f"llmctl-{name} at {url}" in error
                assert f"--endpoint {url}" in hint
        first = urls[names[0]]
        res = cli("pull", "tinyllama", "--endpoint", first, "--progress", "none", env=env)
        assert res.code == 0, res.stderr
        assert res.stdout.rstrip().endswith(f"into Ollama at {first}")
    finally:
        for name in names:
            for c in docker_client.containers.list(
                    all=True, filters={"label": f"io.llmctl.instance={name}"}):
                c.remove(force=True)
            for v in docker_client.volumes.list():
                if v.name.startswith(name):
                    v.remove(force=True)
