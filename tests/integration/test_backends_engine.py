"""`llmctl up vllm|tgi|llamacpp|localai` and a user's own profile against a real Docker engine.

The fake image (tests/fakes/llmfake.py) plays each server with the same arguments the real
image gets, and behaves like it while loading (LLMFAKE_LOAD_SECONDS): vLLM and TGI refuse
connections, llama.cpp answers 503 "Loading model" on /health (and 200 on /v1/models),
LocalAI answers 503 on /readyz. This engine has no GPU: the GPU profiles run with
`--gpus none`, and the GPU check itself is tested as a user without a GPU would meet it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import need
from tests.support import publish_port as free_port

pytestmark = pytest.mark.docker

TOKEN = "hf_integrationSecret0987654321"


def models(url: str) -> list[str]:
    with urllib.request.urlopen(url + "/v1/models", timeout=10) as r:
        return [m["id"] for m in json.loads(r.read())["data"]]


def containers(docker_client, instance: str) -> list:  # type: ignore[no-untyped-def,type-arg]
    return docker_client.containers.list(
        all=True, filters={"label": f"io.llmctl.instance={instance}"})


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A HOME without a Hugging Face token, and no token in the environment."""
    h = tmp_path / "home"
    h.mkdir()
    return {"HOME": str(h), "HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": ""}


def gguf(tmp_path: Path, name: str = "smollm2.gguf") -> Path:
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    (folder / "unrelated.txt").write_text("not for the container")
    path = folder / name
    path.write_bytes(b"GGUF\x03\x00\x00\x00")
    return path


def kind_args(kind: str, tmp_path: Path) -> tuple[list[str], str | None]:
    """The model options a user gives for each profile, and the id /v1/models must list."""
    if kind == "vllm":
        return ["--model", "Qwen/Qwen3-0.6B", "--gpus", "none"], "Qwen/Qwen3-0.6B"
    if kind == "tgi":
        return ["--model", "HuggingFaceTB/SmolLM2-360M-Instruct", "--gpus", "none"], \
            "HuggingFaceTB/SmolLM2-360M-Instruct"
    if kind == "llamacpp":
        return ["--model-file", str(gguf(tmp_path))], "smollm2"
    return ["--env", "LLMFAKE_MODEL=phi-2"], None  # localai: the model is optional


@pytest.mark.parametrize("kind", ["vllm", "tgi", "llamacpp", "localai"])
def test_up_waits_through_loading_then_serves_the_model(
    cli, docker_client, instance: str, fake_image: str, tmp_path: Path, home, kind: str  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    args, model_id = kind_args(kind, tmp_path)
    load = 4
    started = time.monotonic()
    res = cli("up", kind, "--name", instance, "--port", str(port), "--image", fake_image,
              "--env", f"LLMFAKE_KIND={kind}", "--env", f"LLMFAKE_LOAD_SECONDS={load}",
              *args, "--timeout", "60", "--progress", "none", "--json", env=home)
    assert res.code == 0, res.stdout + res.stderr
    doc = res.json()["result"]
    # It really waited for the load (not fooled by an open port or a 200 on /v1/models).
    assert doc["ready"] is True and doc["ready_seconds"] >= load - 1.5
    assert time.monotonic() - started < 45
    assert doc["model"] == model_id
    assert doc["endpoint"] == f"http://127.0.0.1:{port}"
    assert doc["base_url"] == f"http://127.0.0.1:{port}/v1"
    listed = models(doc["endpoint"])
    assert listed == ([model_id] if model_id else ["phi-2"])

    (c,) = containers(docker_client, instance)
    c.reload()
    host = c.attrs["HostConfig"]
    cport = {"vllm": 8000, "tgi": 80, "llamacpp": 8080, "localai": 8080}[kind]
    assert host["PortBindings"][f"{cport}/tcp"][0] == {"HostIp": "127.0.0.1",
                                                       "HostPort": str(port)}
    if kind == "vllm":
        assert host["IpcMode"] == "host"
        assert c.attrs["Config"]["Cmd"] == ["--model", "Qwen/Qwen3-0.6B"]  # no `serve`
    if kind == "tgi":
        assert host["ShmSize"] == 1024 ** 3
        assert c.attrs["Config"]["Cmd"] == ["--model-id", "HuggingFaceTB/SmolLM2-360M-Instruct"]
    if kind == "llamacpp":
        binds = [m for m in c.attrs["Mounts"] if m["Type"] == "bind"]
        assert [(m["Destination"], m["RW"]) for m in binds] == [("/models/smollm2.gguf", False)]
        assert c.attrs["Config"]["Cmd"] == ["--jinja", "-m", "/models/smollm2.gguf", "--alias",
                                           "smollm2"]
    if kind == "localai":
        assert host["IpcMode"] != "host" and host.get("ShmSize") != 1024 ** 3
    env_names = {e.split("=", 1)[0] for e in c.attrs["Config"]["Env"]}
    assert "HF_TOKEN" not in env_names  # no token anywhere: none is invented
    down = cli("down", kind, "--name", instance, "--volumes", "--yes")
    assert down.code == 0, down.stderr
    assert containers(docker_client, instance) == []


def test_plain_progress_shows_elapsed_phase_and_latest_log_line(
    cli, instance: str, fake_image: str, home  # type: ignore[no-untyped-def]
) -> None:
    res = cli("up", "vllm", "--name", instance, "--port", str(free_port()), "--image",
              fake_image, "--env", "LLMFAKE_KIND=vllm", "--env", "LLMFAKE_LOAD_SECONDS=7",
              "--model", "org/m", "--gpus", "none", "--timeout", "60", "--progress", "plain",
              env=home)
    assert res.code == 0, res.stderr
    waits = [line for line in res.stderr.splitlines() if line.startswith("waiting for vllm")]
    assert waits, res.stderr
    assert "opens its port once it is loaded" in waits[0]
    assert "| log: INFO llmfake vllm: Loading model weights" in waits[0]
    assert "  model: org/m" in res.stdout
    cli("down", "vllm", "--name", instance)


@pytest.mark.parametrize("kind", ["vllm", "tgi", "llamacpp", "localai"])
def test_server_dying_while_loading_fails_with_logs_and_leaves_nothing(
    cli, docker_client, instance: str, fake_image: str, tmp_path: Path, home, kind: str  # type: ignore[no-untyped-def]
) -> None:
    args, _ = kind_args(kind, tmp_path)
    started = time.monotonic()
    res = cli("up", kind, "--name", instance, "--port", str(free_port()), "--image",
              fake_image, "--env", f"LLMFAKE_KIND={kind}", "--env", "LLMFAKE_LOAD_SECONDS=60",
              "--env", "LLMFAKE_EXIT_AFTER=2", *args, "--timeout", "60", "--progress", "none",
              env=home)
    assert res.code == 6, res.stderr
    assert time.monotonic() - started < 30  # at once, not at the timeout
    assert "before the server was ready" in res.stderr.splitlines()[0]
    assert "Last log lines:" in res.stderr
    assert "fatal: engine core initialization failed" in res.stderr
    assert "Traceback" not in res.stderr
    assert containers(docker_client, instance) == []


def test_gpu_profile_without_gpu_fails_fast_and_starts_nothing(
    cli, docker_client, instance: str, fake_image: str, home  # type: ignore[no-untyped-def]
) -> None:
    facts = docker_client.info()
    # The premise is an engine without a GPU runtime (CI's): elsewhere there is nothing to test.
    need("nvidia" not in (facts.get("Runtimes") or {}), "this engine has an NVIDIA runtime")
    res = cli("up", "vllm", "--name", instance, "--model", "org/m", "--image", fake_image,
              "--json", env=home)
    assert res.code == 1
    err = res.json()["error"]
    assert err["message"].startswith("vllm needs an NVIDIA GPU")
    for alt in ("llamacpp", "ollama", "model-runner"):
        assert alt in err["hint"]
    assert containers(docker_client, instance) == []


def test_missing_model_is_refused_before_anything_starts(
    cli, docker_client, instance: str, fake_image: str, home  # type: ignore[no-untyped-def]
) -> None:
    res = cli("up", "vllm", "--name", instance, "--image", fake_image, "--gpus", "none",
              env=home)
    assert res.code == 2
    assert res.stderr.splitlines()[0] == \
        "error: vllm needs a model: --model NAME (e.g. --model Qwen/Qwen3-0.6B)"
    assert containers(docker_client, instance) == []


def test_token_reaches_the_container_but_no_output_or_label(
    cli, docker_client, instance: str, fake_image: str, home, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    env = {**home, "HF_TOKEN": TOKEN}
    base = ("up", "tgi", "--name", instance, "--port", str(free_port()), "--image",
            fake_image, "--env", "LLMFAKE_KIND=tgi", "--model", "org/gated", "--gpus", "none")
    dry = cli(*base, "--dry-run", "--json", env=env)
    assert dry.code == 0, dry.stderr
    assert dry.json()["result"]["spec"]["secrets"] == {"HF_TOKEN": "***"}
    human_dry = cli(*base, "--dry-run", env=env)
    assert "HF_TOKEN: '***'" in human_dry.stdout
    res = cli(*base, "--json", "--progress", "plain", "--timeout", "60", env=env)
    assert res.code == 0, res.stderr
    status = cli("status", "--json", env=env)
    for out in (dry, human_dry, res, status):
        assert TOKEN not in out.stdout + out.stderr
    (c,) = containers(docker_client, instance)
    assert f"HF_TOKEN={TOKEN}" in c.attrs["Config"]["Env"]  # docker inspect shows it (docs)
    assert TOKEN not in json.dumps(c.attrs["Config"]["Labels"])
    assert TOKEN not in " ".join(c.attrs["Config"]["Cmd"] or [])
    cli("down", "tgi", "--name", instance, "--volumes", "--yes")


def test_user_profile_end_to_end(
    cli, docker_client, instance: str, fake_image: str, tmp_path: Path, home  # type: ignore[no-untyped-def]
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "my-server.yaml").write_text(f"""\
schema: 1
name: my-server
kind: openai
description: my own OpenAI-compatible server
image: {fake_image}
container_port: 8000
host_port: {free_port()}
volumes:
  - name: {instance}-cache
    target: /cache
env:
  LLMFAKE_KIND: openai
  LLMFAKE_LOAD_SECONDS: "2"
model:
  arg: --model
  required: true
readiness:
  path: /health
  models: listed
  timeout: 60
gpu: none
""")
    env = {**home, "LLMCTL_PROFILES_DIR": str(folder)}
    listed = cli("profiles", "list", "--json", env=env)
    assert listed.code == 0, listed.stderr
    mine = {p["name"]: p for p in listed.json()["result"]}["my-server"]
    assert mine["origin"] == "LLMCTL_PROFILES_DIR"
    assert mine["path"] == str(folder / "my-server.yaml")
    valid = cli("profiles", "validate", str(folder / "my-server.yaml"), env=env)
    assert valid.code == 0 and valid.stdout == "ok  my-server\n"
    shown = cli("profiles", "show", "my-server", "--json", env=env)
    assert shown.json()["result"]["model"]["arg"] == "--model"

    no_model = cli("up", "my-server", "--name", instance, env=env)
    assert no_model.code == 2 and "my-server needs a model: --model NAME" in no_model.stderr

    up = cli("up", "my-server", "--name", instance, "--model", "acme/m1", "--json",
             "--progress", "none", env=env)
    assert up.code == 0, up.stderr
    doc = up.json()["result"]
    assert doc["profile"] == "my-server" and doc["model"] == "acme/m1"
    assert models(doc["endpoint"]) == ["acme/m1"]
    st = cli("status", "--json", env=env)
    row = [s for s in st.json()["result"]["servers"] if s["instance"] == instance]
    assert len(row) == 1 and row[0]["health"] == "ok" and row[0]["profile"] == "my-server"
    down = cli("down", "my-server", "--name", instance, "--volumes", "--yes", env=env)
    assert down.code == 0, down.stderr
    assert containers(docker_client, instance) == []


@pytest.mark.parametrize(("yaml_edit", "key"), [
    (("kind: openai", "kind: mystery"), "kind"),
    (("container_port: 8000", "container_port: 0"), "container_port"),
    (("image: IMAGE\n", ""), "image"),
])
def test_bad_user_profile_names_file_and_key(
    cli, tmp_path: Path, yaml_edit: tuple[str, str], key: str  # type: ignore[no-untyped-def]
) -> None:
    text = ("name: bad\nkind: openai\nimage: IMAGE\ncontainer_port: 8000\nhost_port: 8000\n"
            .replace("IMAGE", "example/server:1.0"))
    text = text.replace(*(e.replace("IMAGE", "example/server:1.0") for e in yaml_edit))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    res = cli("profiles", "validate", str(path))
    assert res.code == 3
    assert res.stderr.startswith(f"error: {path}: {key}: ")
