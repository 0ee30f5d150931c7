"""`llmctl probe`, `endpoint`, `chat` and `llmctl.client` against fake servers in the real engine.

A fake Ollama started by `llmctl up` (managed: labelled, on the `llmctl` network) and fake
vLLM and llama.cpp containers started directly (not managed: only `io.llmctl.test=1`, so the
sweep removes leftovers). Every command runs as a real process with its config in tmp_path.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmctl.ports import next_free
from tests.integration import infra

pytestmark = pytest.mark.docker

REPLY = "Hello! I am a fake model. How can I help you today?"  # the fake's default answer


def _free_port() -> int:
    port = next_free(24000 + uuid.uuid4().int % 3000, "127.0.0.1")
    assert port is not None
    return port


def _wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 in {timeout} s")


def _pull(url: str, model: str) -> list[dict[str, Any]]:
    """POST /api/pull like any Ollama client; returns the NDJSON progress lines."""
    with httpx.stream("POST", url + "/api/pull", json={"model": model}, timeout=60) as r:
        assert r.status_code == 200
        return [json.loads(line) for line in r.iter_lines() if line.strip()]


def _managed_running(docker_client) -> int:  # type: ignore[no-untyped-def]
    return len(
        docker_client.containers.list(
            filters={"label": "io.llmctl.managed=true", "status": "running"}
        )
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "cfg"
    return {"LLMCTL_CONFIG_DIR": str(cfg), "LLMCTL_ENDPOINTS_FILE": str(cfg / "endpoints.yaml")}


@pytest.fixture
def openai_fakes(docker_client, fake_image: str) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Fake vLLM and llama.cpp containers (not managed by llmctl); yields {kind: root URL}."""
    specs = {
        "vllm": (8000, ["--model", "Qwen/Qwen3-0.6B"]),
        "llamacpp": (8080, ["-m", "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"]),
    }
    started = []
    urls: dict[str, str] = {}
    try:
        for kind, (cport, command) in specs.items():
            port = _free_port()
            started.append(
                docker_client.containers.run(
                    fake_image,
                    command,
                    name=f"{infra.TEST_PREFIX}{kind}-{uuid.uuid4().hex[:8]}",
                    detach=True,
                    environment={"LLMFAKE_KIND": kind},
                    ports={f"{cport}/tcp": ("127.0.0.1", port)},
                    labels={"io.llmctl.test": "1"},
                )
            )
            urls[kind] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            _wait_for(url + "/health")
        yield urls
    finally:
        for c in started:
            c.remove(force=True)


def test_probe_tells_the_servers_apart(cli, ollama_up, openai_fakes, env) -> None:  # type: ignore[no-untyped-def]
    _, ollama = ollama_up
    vllm, llamacpp = openai_fakes["vllm"], openai_fakes["llamacpp"]
    res = cli("probe", vllm, llamacpp + "/v1", ollama, "--json", env=env)
    assert res.code == 0, res.stderr
    by_root = {r["root"]: r for r in res.json()["result"]["results"]}
    v, lc, o = by_root[vllm], by_root[llamacpp], by_root[ollama]

    assert (v["server"], v["api_type"], v["base_url"]) == ("vllm", "openai", vllm + "/v1")
    assert "GET /v1/models owned_by=vllm" in v["evidence"]
    assert v["models"] == ["Qwen/Qwen3-0.6B"] and v["status"] == "ready"

    assert (lc["server"], lc["base_url"]) == ("llamacpp", llamacpp + "/v1")
    assert "GET /v1/models owned_by=llamacpp" in lc["evidence"]
    assert 'GET /health → 200 {"status": "ok"}' in lc["evidence"]
    assert lc["models"] == ["/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"]

    assert (o["server"], o["api_type"], o["base_url"]) == ("ollama", "ollama", ollama)
    assert "GET / says 'Ollama is running'" in o["evidence"]
    # URLs were given: nothing is looked up, so nothing is labelled as managed
    assert [r["managed"] for r in (v, lc, o)] == [None, None, None]

    human = cli("probe", vllm, llamacpp, env=env)
    assert human.code == 0, human.stderr
    assert f"{vllm}: vLLM (openai API) — " in human.stdout
    assert f"{llamacpp}: llama.cpp server (openai API) — " in human.stdout
    assert human.stderr.startswith("2 LLM server(s) found in ")

    # An unmanaged OpenAI-compatible server keeps the host.docker.internal guess.
    w = cli("endpoint", "write", "--endpoint", vllm + "/v1", "--name", "gpu", "--json", env=env)
    assert w.code == 0, w.stderr
    ep = w.json()["result"]["endpoint"]
    assert (ep["llm_type"], ep["endpoint"]) == ("openai-compatible", vllm + "/v1")
    assert ep["endpoint_container"] == vllm.replace("127.0.0.1", "host.docker.internal") + "/v1"
    assert w.json()["result"]["managed"] is None


def test_managed_ollama_probe_endpoint_env_chat(  # type: ignore[no-untyped-def]
    cli, docker_client, ollama_up, env, tmp_path, monkeypatch
) -> None:
    instance, url = ollama_up
    port = int(url.rsplit(":", 1)[1])
    inside = f"http://llmctl-{instance}:11434"
    lines = _pull(url, "tinyllama")
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}

    # probe with no URL: the managed container is looked up and probed, models listed.
    res = cli("probe", "--json", env=env)
    assert res.code == 0, res.stderr
    mine = [
        r for r in res.json()["result"]["results"]
        if (r["managed"] or {}).get("instance") == instance
    ]
    assert len(mine) == 1, res.stdout
    (r,) = mine
    assert (r["root"], r["server"], r["status"]) == (url, "ollama", "ready")
    assert r["models"] == ["tinyllama:latest"]
    assert r["managed"]["endpoint_container"] == inside
    assert "note:" not in res.stderr  # the engine answered
    human = cli("probe", env=env)
    assert f"  managed by llmctl: instance {instance} (ollama); other containers use {inside}\n" \
        in human.stdout

    # endpoint write: verifies, warns about tools, writes the llmctl-network URL, 0600.
    # With no --endpoint it picks the one managed server; other managed containers on this
    # engine (other test runs) make that ambiguous, so then the URL is given.
    # Another run may start one between the count and the write: the refusal that names
    # several servers is a correct outcome too, and then the URL is given.
    args = ["endpoint", "write", "--model", "tinyllama"]
    if _managed_running(docker_client) != 1:
        args += ["--endpoint", f"http://localhost:{port}"]
    w = cli(*args, env=env)
    if w.code == 2 and "--endpoint" not in args:
        assert "several" in w.stderr, w.stderr
        w = cli(*args, "--endpoint", f"http://localhost:{port}", env=env)
    assert w.code == 0, w.stderr
    assert "warning: model 'tinyllama' does not support tools" in w.stderr
    assert f"verified and wrote endpoint '{instance}' (default)" in w.stderr
    path = Path(env["LLMCTL_ENDPOINTS_FILE"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    import yaml

    doc = yaml.safe_load(path.read_text())
    entry = doc["endpoints"][instance]
    assert doc["default"] == instance
    assert entry["llm_type"] == "docker-container" and entry["api_type"] == "ollama"
    assert entry["endpoint"] == f"http://127.0.0.1:{port}"
    assert entry["endpoint_container"] == inside
    assert entry["model"] == "tinyllama"
    assert entry["verified"]["server"] == "ollama" and entry["verified"]["tools"] is False

    # The llmctl-network URL really answers from another container on that network.
    from_inside = docker_client.containers.run(
        infra.BASE_IMAGE,
        ["python3", "-c", f"import urllib.request as u; print(u.urlopen('{inside}/').read())"],
        network="llmctl", remove=True, labels={"io.llmctl.test": "1"},
    )
    assert b"Ollama is running" in from_inside

    # endpoint env, evaluated by a real shell.
    e = cli("endpoint", "env", env=env)
    assert e.code == 0, e.stderr
    exports = dict(
        word.removeprefix("export ").split("=", 1) for word in shlex.split(e.stdout) if "=" in word
    )
    assert exports == {
        "LLM_API_TYPE": "ollama",
        "LLM_ENDPOINT": url,
        "LLM_MODEL": "tinyllama",
        "OPENAI_BASE_URL": url + "/v1",
        "OPENAI_API_KEY": "unused",
        "OLLAMA_HOST": url,
    }
    shell = subprocess.run(
        ["bash", "-c", f'eval "$({shlex.quote(sys.executable)} -m llmctl endpoint env)"; '
                       'echo "$LLM_API_TYPE $LLM_ENDPOINT $LLM_MODEL"'],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )
    assert shell.stdout == f"ollama {url} tinyllama\n", shell.stderr

    # chat through the configured endpoint, as a process.
    c = cli("chat", "hi", "--json", env=env)
    assert c.code == 0, c.stderr
    result = c.json()["result"]
    assert (result["endpoint"], result["api_type"]) == (url, "ollama")
    reply = result["reply"]
    assert reply["text"] == REPLY and reply["finish_reason"] == "stop"
    assert reply["usage"]["completion_tokens"] > 0 and reply["timings"]["tokens_per_s"] > 0

    # ...and with the library, in this process.
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from llmctl.client import ModelNotFound, achat, chat, load_endpoint

    ep = load_endpoint()
    assert (ep.name, ep.endpoint, ep.model) == (instance, url, "tinyllama")
    tokens: list[str] = []
    lib = chat("hi", stream=True, on_token=tokens.append, timeout=30)
    assert lib.text == REPLY == "".join(tokens) and lib.api_type == "ollama"
    assert lib.timings.ttft_s is not None
    import asyncio

    areply = asyncio.run(achat([{"role": "user", "content": "hi"}], endpoint=instance))
    assert areply.text == REPLY

    # A model that is not pulled: ModelNotFound with the pull command, exit 7 from chat.
    with pytest.raises(ModelNotFound) as info:
        chat("hi", model="qwen2.5:0.5b", timeout=30)
    assert info.value.hint == "Pull it first: llmctl pull qwen2.5:0.5b"
    assert info.value.exit_code == 7
    missing = cli("chat", "hi", "--model", "qwen2.5:0.5b", env=env)
    assert missing.code == 7
    assert missing.stdout == ""
    assert "error: model 'qwen2.5:0.5b' not found" in missing.stderr
    assert "hint: Pull it first: llmctl pull qwen2.5:0.5b" in missing.stderr


def test_probe_without_engine_still_probes(cli, ollama_up, env) -> None:  # type: ignore[no-untyped-def]
    _, url = ollama_up
    env = {**env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    t0 = time.monotonic()
    res = cli("probe", "--json", env=env)
    assert time.monotonic() - t0 < 10
    assert res.json()["ok"] is True  # one JSON document, no traceback
    assert res.stderr.startswith("note: llmctl-managed servers not probed (")
    assert "Traceback" not in res.stderr
    # The managed server is not known without the engine; a URL still probes it.
    assert all(r["managed"] is None for r in res.json()["result"]["results"])
    direct = cli("probe", url, "--json", env=env)
    assert direct.code == 0 and direct.stderr == ""
