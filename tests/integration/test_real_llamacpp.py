"""llmctl against a real llama.cpp server running a real model, on a real Docker engine.

No fake here: the image is Debian sid's llama-server (``llama.cpp-tools``, built by
``infra.ensure_llamacpp_image`` and shaped like the upstream server image) and the model is
SmolLM2-135M-Instruct Q4_1 from its PyPI wheel (``infra.smollm2_gguf``, sha256 checked).
Loading stays cheap: 2 threads, a 1024-token context, at most 64 tokens per answer.

One server serves the tests that only read from it; the tests that start, stop or reconfigure
a server start their own (loading takes well under a second).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration import infra
from tests.integration.conftest import CliResult, run_cli
from tests.support import publish_port

pytestmark = pytest.mark.docker

# The id llmctl gives the model (--alias): the file name without .gguf.
MODEL = infra.SMOLLM2_FILE.removesuffix(".gguf")
# llama-server reads every flag from a LLAMA_ARG_* variable too; -n caps every answer, so
# even `llmctl chat` (which has no max-tokens option) stays short.
CHEAP = ["-e", "LLAMA_ARG_THREADS=2", "-e", "LLAMA_ARG_CTX_SIZE=1024",
         "-e", "LLAMA_ARG_N_PREDICT=64"]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}


@dataclass
class Server:
    instance: str
    port: int
    up: dict[str, Any]  # the `up --json` result
    events: list[dict[str, Any]] = field(default_factory=list)  # `--progress json` on stderr

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start(image: str, gguf: Path, instance: str, *extra: str,
          profile: str = "llamacpp", env: dict[str, str] | None = None) -> Server:
    port = publish_port()
    res = run_cli("up", profile, "--name", instance, "--port", str(port), "--image", image,
                  "--model-file", str(gguf), *CHEAP, *extra, "--timeout", "180",
                  "--progress", "json", "--json", env=env)
    assert res.code == 0, res.stderr
    events = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    return Server(instance, port, res.json()["result"], events)


def stop(instance: str, profile: str = "llamacpp", env: dict[str, str] | None = None) -> CliResult:
    return run_cli("down", profile, "--name", instance, "--volumes", "--yes", env=env)


def leftovers(docker_client, instance: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Containers and volumes of ``instance`` that still exist."""
    names = [c.name for c in docker_client.containers.list(
        all=True, ignore_removed=True, filters={"label": f"io.llmctl.instance={instance}"})]
    return names + [v.name for v in docker_client.volumes.list()
                    if v.name.startswith(f"{instance}-")]


@pytest.fixture(scope="module")
def smol(docker_client, llamacpp_image: str, smollm2_gguf: Path,  # type: ignore[no-untyped-def]
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real llama-server with SmolLM2 for the tests that only read from it."""
    instance = f"{infra.TEST_PREFIX}{uuid.uuid4().hex[:8]}"
    # Its own config folder: module fixtures run before the per-test isolated one is set.
    env = {"LLMCTL_CONFIG_DIR": str(tmp_path_factory.mktemp("llmctl-config"))}
    try:
        yield start(llamacpp_image, smollm2_gguf, instance, env=env)
    finally:
        stop(instance, env=env)
        for c in docker_client.containers.list(
                all=True, ignore_removed=True,
                filters={"label": f"io.llmctl.instance={instance}"}):
            c.remove(force=True)


def test_up_waits_through_loading_until_the_model_is_listed(smol: Server) -> None:
    up = smol.up
    assert up["ready"] is True and up["api"] == "openai" and up["model"] == MODEL
    assert up["base_url"] == f"{smol.url}/v1"
    # The real server answers 503 "Loading model" on /health while it loads the GGUF;
    # llmctl's wait events show that phase (reported on each change of phase).
    waits = [e["status"] for e in smol.events if e.get("phase") == "wait"]
    assert any("loading the model (/health: 503 Loading model)" in w for w in waits), waits
    # Ready means /health is 200 and /v1/models lists the model: both hold at once.
    assert httpx.get(f"{smol.url}/health", timeout=5).json() == {"status": "ok"}
    listed = [m["id"] for m in httpx.get(f"{smol.url}/v1/models", timeout=5).json()["data"]]
    assert listed == [MODEL]


def test_probe_names_llamacpp_its_version_and_the_model(
    smol: Server, docker_client, llamacpp_image: str  # type: ignore[no-untyped-def]
) -> None:
    res = run_cli("probe", smol.url, "--json")
    assert res.code == 0, res.stderr
    (found,) = res.json()["result"]["results"]
    assert (found["server"], found["server_name"], found["status"]) == (
        "llamacpp", "llama.cpp server", "ready")
    assert found["models"] == [MODEL] and found["base_url"] == f"{smol.url}/v1"
    # The version is the binary's own build number ("version: 0.7.0 (build 11669, ...)").
    build = re.search(r"build (\d+)", infra.llamacpp_version(docker_client, llamacpp_image))
    assert build, "llama-server --version printed no build number"
    assert found["version"].startswith(f"b{build.group(1)}"), found


def test_endpoint_write_saves_an_openai_endpoint_ending_in_v1(
    smol: Server, _isolated_config: Path
) -> None:
    res = run_cli("endpoint", "write", "--endpoint", smol.url, "--json")
    assert res.code == 0, res.stderr
    entry = res.json()["result"]["endpoint"]
    assert entry["api_type"] == "openai" and entry["endpoint"] == f"{smol.url}/v1"
    assert entry["model"] == MODEL and entry["verified"]["model_present"] is True
    assert entry["verified"]["server"] == "llamacpp"
    saved = (_isolated_config / "endpoints.yaml").read_text()
    assert f"endpoint: {smol.url}/v1\n" in saved and f"model: {MODEL}\n" in saved


def test_chat_returns_real_text_with_ttft_and_tokens_per_second(smol: Server) -> None:
    # As a user would: save the endpoint, then chat through it (the default endpoint).
    assert run_cli("endpoint", "write", "--endpoint", smol.url).code == 0
    res = run_cli("chat", "What is the capital of France? Answer in one sentence.")
    assert res.code == 0, res.stderr
    assert len(re.findall(r"[A-Za-z]+", res.stdout)) >= 3, res.stdout  # words, not noise
    line = res.stderr.strip().splitlines()[-1]
    assert re.search(rf"^{re.escape(MODEL)} via {re.escape(smol.url)}/v1 \(openai\): first "
                     r"token \d+\.\d+s, \d+ tokens, \d+(\.\d+)? tokens/s, total \d+\.\d+s$",
                     line), res.stderr
    doc = run_cli("chat", "--json", "Name a colour.").json()
    timings = doc["result"]["reply"]["timings"]
    assert timings["ttft_s"] > 0 and timings["tokens_per_s"] > 0
    assert doc["result"]["reply"]["usage"]["completion_tokens"] > 0


def test_client_chat_and_achat(smol: Server) -> None:
    from llmctl.client import achat, chat

    question = "What is the capital of France? Answer in one sentence."
    greedy = {"max_tokens": 32, "temperature": 0}  # greedy decoding: the same answer each time
    reply = chat(question, endpoint=f"{smol.url}/v1", api="openai", options=greedy)
    assert "Paris" in reply.text and reply.model == MODEL and reply.api_type == "openai"
    assert reply.usage.completion_tokens and reply.timings.tokens_per_s

    pieces: list[str] = []
    areply = asyncio.run(achat(question, endpoint=f"{smol.url}/v1", api="openai",
                               options=greedy, stream=True, on_token=pieces.append))
    assert areply.text == reply.text == "".join(pieces)
    assert areply.timings.ttft_s is not None and areply.timings.ttft_s > 0


def test_tools_pass_with_the_profiles_jinja(smol: Server) -> None:
    """The built-in profile passes --jinja, so a chat with tools is accepted. SmolLM2-135M
    has no tool training: it may answer in text; a tool call comes back as a ToolCall."""
    from llmctl.client import ToolCall, chat

    reply = chat("What is the weather in Paris?", [WEATHER_TOOL], endpoint=f"{smol.url}/v1",
                 api="openai", options={"max_tokens": 48, "temperature": 0})
    for call in reply.tool_calls:
        assert isinstance(call, ToolCall) and call.name == "get_weather"
        assert isinstance(call.arguments, dict)
    assert reply.tool_calls or reply.text.strip()


def test_tools_without_jinja_fail_with_tools_not_supported(
    docker_client, llamacpp_image: str, smollm2_gguf: Path, instance: str, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """A user profile that turns Jinja off: llama-server refuses `tools` (HTTP 500 "tools
    param requires --jinja flag") and the client says so as ToolsNotSupported."""
    from llmctl.client import ToolsNotSupported, chat

    profiles = tmp_path / "profiles"
    profiles.mkdir()
    builtin = (infra.ROOT / "profiles" / "llamacpp.yaml").read_text()
    assert 'command: ["--jinja"]' in builtin
    (profiles / "llamacpp-nojinja.yaml").write_text(
        builtin.replace("name: llamacpp\n", "name: llamacpp-nojinja\n")
        .replace('command: ["--jinja"]', 'command: ["--no-jinja"]'))
    env = {"LLMCTL_PROFILES_DIR": str(profiles)}
    server = start(llamacpp_image, smollm2_gguf, instance, profile="llamacpp-nojinja", env=env)
    try:
        with pytest.raises(ToolsNotSupported) as caught:
            chat("What is the weather in Paris?", [WEATHER_TOOL], endpoint=f"{server.url}/v1",
                 api="openai", options={"max_tokens": 16})
        assert "requires --jinja" in caught.value.message
        assert "llama.cpp needs --jinja for tools" in (caught.value.hint or "")
        # Without tools the same server chats.
        assert chat("Hi", endpoint=f"{server.url}/v1", api="openai",
                    options={"max_tokens": 8}).text
    finally:
        assert stop(instance, "llamacpp-nojinja", env=env).code == 0
    assert leftovers(docker_client, instance) == []


def test_status_shows_it_healthy_and_down_leaves_nothing(
    docker_client, llamacpp_image: str, smollm2_gguf: Path, instance: str  # type: ignore[no-untyped-def]
) -> None:
    server = start(llamacpp_image, smollm2_gguf, instance)
    st = run_cli("status", "--json")
    assert st.code == 0, st.stderr
    (mine,) = [s for s in st.json()["result"]["servers"] if s["instance"] == instance]
    assert (mine["profile"], mine["state"], mine["health"]) == ("llamacpp", "running", "ok")
    assert mine["image"] == llamacpp_image and mine["base_url"] == f"{server.url}/v1"
    assert leftovers(docker_client, instance)  # the container and its cache volume

    down = stop(instance)
    assert down.code == 0, down.stderr
    assert f"removed container llmctl-{instance}" in down.stdout
    assert f"removed volume {instance}-llamacpp-cache" in down.stdout
    assert leftovers(docker_client, instance) == []
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/health", timeout=2)
