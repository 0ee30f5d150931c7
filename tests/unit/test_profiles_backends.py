"""The container spec of every built-in profile, field by field, computed without I/O; and
the schema extensions (model, secrets, shm/ipc, readiness.models) with file+key errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmctl.cli.output import envelope
from llmctl.errors import ConfigError, ExitCode, LlmctlError, UsageError
from llmctl.inputs import resolve_model_file, resolve_secrets
from llmctl.plan import LABEL_SECRETS, BindMount, ModelFile, UpOptions, plan_container, spec_hash
from llmctl.profiles import builtin_dir, load_profile, load_profile_file

TOKEN = "hf_TopSecretValue1234567890"
HASH = "io.llmctl.spec-hash"


def plan(name: str, **kw):  # type: ignore[no-untyped-def]
    prof = load_profile(name)
    model_file = kw.pop("model_file", None)
    secrets = kw.pop("secrets", None)
    gpu = kw.pop("gpu_available", True)
    return plan_container(prof, UpOptions(**kw), host_port=kw.get("port") or prof.host_port,
                          gpu_available=gpu, model_file=model_file, secrets=secrets)


def test_every_builtin_profile_is_listed_and_valid() -> None:
    names = sorted(p.stem for p in builtin_dir().glob("*.yaml"))
    assert names == ["llamacpp", "localai", "ollama", "tgi", "vllm"]
    ports = {}
    for n in names:
        prof = load_profile_file(builtin_dir() / f"{n}.yaml", origin="built-in")
        assert not prof.image.endswith(":latest") and ":" in prof.image.rsplit("/", 1)[-1]
        ports[n] = prof.host_port
    assert len(set(ports.values())) == len(ports), ports  # default host ports never clash


def test_vllm_spec_field_by_field() -> None:
    spec = plan("vllm", model="Qwen/Qwen3-0.6B", secrets={"HF_TOKEN": TOKEN})
    assert spec.name == "llmctl-vllm" and spec.profile == "vllm" and spec.api == "openai"
    assert spec.image == "vllm/vllm-openai:v0.33.0"
    # Engine args only: the image's entrypoint is `vllm serve`; repeating it breaks argparse.
    assert spec.command == ("--model", "Qwen/Qwen3-0.6B")
    assert "serve" not in spec.command
    assert spec.env == {}
    assert [(p.host_ip, p.host_port, p.container_port) for p in spec.ports] == [
        ("127.0.0.1", 8000, 8000)]
    assert [(v.name, v.target) for v in spec.volumes] == [
        ("vllm-hf-cache", "/root/.cache/huggingface")]
    assert spec.mounts == ()
    assert (spec.ipc_mode, spec.shm_size) == ("host", None)
    assert spec.gpus is True and spec.model == "Qwen/Qwen3-0.6B"
    assert spec.secrets == {"HF_TOKEN": TOKEN}
    assert spec.environment == {"HF_TOKEN": TOKEN}
    assert spec.labels["io.llmctl.api"] == "openai"
    assert spec.labels["io.llmctl.container-port"] == "8000"


def test_tgi_spec_field_by_field() -> None:
    spec = plan("tgi", model="HuggingFaceTB/SmolLM2-360M-Instruct")
    assert spec.image == "ghcr.io/huggingface/text-generation-inference:3.3.6"
    assert spec.command == ("--model-id", "HuggingFaceTB/SmolLM2-360M-Instruct")
    assert spec.env == {} and spec.secrets == {}
    assert [(p.host_port, p.container_port) for p in spec.ports] == [(3000, 80)]
    assert [(v.name, v.target) for v in spec.volumes] == [("tgi-data", "/data")]
    assert (spec.shm_size, spec.ipc_mode) == ("1g", None)
    assert spec.gpus is True and spec.model == "HuggingFaceTB/SmolLM2-360M-Instruct"


def test_llamacpp_spec_with_a_model_file() -> None:
    spec = plan("llamacpp", model_file=ModelFile("/home/u/models", "smollm2.gguf"))
    assert spec.image == "ghcr.io/ggml-org/llama.cpp:server-b11521"
    # --jinja first: the profile's own arguments (tool calls need it), then the model.
    assert spec.command == ("--jinja", "-m", "/models/smollm2.gguf", "--alias", "smollm2")
    # The port pinned: builds from b11521 on default to 9931, the container port is 8080.
    assert spec.env == {"LLAMA_CACHE": "/root/.cache/llama.cpp", "LLAMA_ARG_PORT": "8080"}
    assert [(p.host_port, p.container_port) for p in spec.ports] == [(8080, 8080)]
    assert [(v.name, v.target) for v in spec.volumes] == [
        ("llamacpp-cache", "/root/.cache/llama.cpp")]
    # Only the file is shown to the container, read-only.
    assert spec.mounts == (BindMount("/home/u/models/smollm2.gguf", "/models/smollm2.gguf",
                                     read_only=True),)
    assert spec.gpus is False  # the CPU image: no GPU even where the engine has one
    assert spec.model == "smollm2"


def test_llamacpp_split_model_mounts_the_folder_and_model_names_the_alias() -> None:
    spec = plan("llamacpp", model="tiny",
                model_file=ModelFile("/m", "big-00001-of-00003.gguf"))
    assert spec.mounts == (BindMount("/m", "/models", read_only=True),)
    assert spec.command == ("--jinja", "-m", "/models/big-00001-of-00003.gguf", "--alias",
                            "tiny")
    assert spec.model == "tiny"


def test_llamacpp_spec_with_a_hugging_face_model() -> None:
    spec = plan("llamacpp", model="ggml-org/SmolLM2-360M-Instruct-GGUF")
    assert spec.command == ("--jinja", "-hf", "ggml-org/SmolLM2-360M-Instruct-GGUF", "--alias",
                            "ggml-org/SmolLM2-360M-Instruct-GGUF")
    assert spec.mounts == ()


def test_localai_spec_field_by_field() -> None:
    spec = plan("localai")
    assert spec.image == "localai/localai:v4.11.0"
    assert spec.command == () and spec.env == {}
    assert [(p.host_port, p.container_port) for p in spec.ports] == [(8081, 8080)]
    assert [(v.name, v.target) for v in spec.volumes] == [("localai-models", "/models")]
    assert spec.gpus is False and spec.model is None
    with_model = plan("localai", model="llama-3.2-1b-instruct:q4_k_m")
    assert with_model.env == {"LOCALAI_MODELS": "llama-3.2-1b-instruct:q4_k_m"}
    assert with_model.command == ()


def test_ollama_spec_hash_is_unchanged_by_the_new_fields() -> None:
    # Existing Ollama containers must still match after an upgrade (no spurious "changed"):
    # only the image moved (0.17.1 hashed to 11c3f694887f197e, the same way).
    spec = plan("ollama", gpu_available=False)
    before = spec_hash({  # what the foundation hashed, before mounts/shm/ipc existed
        "image": "ollama/ollama:0.40.2", "command": [],
        "env": {"OLLAMA_HOST": "0.0.0.0:11434"},
        "ports": [{"host_ip": "127.0.0.1", "host_port": 11435, "container_port": 11434}],
        "volumes": [{"name": "ollama-data", "target": "/root/.ollama"}], "gpus": False})
    assert spec.labels[HASH] == before == "16c67fe8285f1542"
    assert spec.mounts == () and spec.shm_size is None and spec.ipc_mode is None


@pytest.mark.parametrize("name", ["vllm", "tgi", "llamacpp"])
def test_no_secret_in_labels_hash_dry_run_or_json(name: str) -> None:
    kw = {"model_file": ModelFile("/m", "x.gguf")} if name == "llamacpp" else {"model": "a/b"}
    with_token = plan(name, secrets={"HF_TOKEN": TOKEN}, **kw)
    without = plan(name, **kw)
    # The hash ignores secrets; only the salted fingerprint label tells them apart.
    assert with_token.labels[HASH] == without.labels[HASH]
    assert {k: v for k, v in with_token.labels.items() if k != LABEL_SECRETS} == \
        {k: v for k, v in without.labels.items() if k != LABEL_SECRETS}
    assert TOKEN not in json.dumps(with_token.labels)
    doc = with_token.to_dict()
    assert doc["secrets"] == {"HF_TOKEN": "***"}
    assert TOKEN not in json.dumps(doc) and TOKEN not in repr(with_token)
    assert TOKEN not in envelope("up", result={"dry_run": True, "spec": with_token})
    assert "HF_TOKEN" not in with_token.env


def test_env_secret_wins_over_a_found_one_and_is_masked() -> None:
    spec = plan("vllm", model="a/b", env={"HF_TOKEN": "from-argv"}, secrets={"HF_TOKEN": "y"})
    assert spec.secrets == {"HF_TOKEN": "from-argv"} and "HF_TOKEN" not in spec.env
    assert spec.to_dict()["secrets"] == {"HF_TOKEN": "***"}


def test_missing_model_is_a_usage_error_naming_the_flag() -> None:
    with pytest.raises(UsageError) as err:
        plan("vllm")
    assert err.value.message == "vllm needs a model: --model NAME (e.g. --model Qwen/Qwen3-0.6B)"
    assert err.value.exit_code == ExitCode.USAGE
    with pytest.raises(UsageError, match=r"--model-file PATH .* or --model NAME"):
        plan("llamacpp")
    with pytest.raises(UsageError, match="tgi needs a model"):
        plan("tgi")


@pytest.mark.parametrize(("name", "kw", "needle"), [
    ("ollama", {"model": "llama3.2"}, "takes no --model"),
    ("vllm", {"model_file": ModelFile("/m", "x.gguf"), "model": None}, "takes no --model-file"),
    ("vllm", {"model": "--served-model-name=x"}, "is not a valid repo id part"),
    ("vllm", {"model": "two words"}, "contains whitespace"),
])
def test_bad_model_options(name: str, kw: dict, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        plan(name, **kw)


def test_gpu_required_fails_fast_with_cpu_alternatives_unless_forced() -> None:
    with pytest.raises(LlmctlError) as err:
        plan("vllm", model="a/b", gpu_available=False)
    msg = err.value.message + " " + (err.value.hint or "")
    assert "needs an NVIDIA GPU" in msg
    for alt in ("llamacpp", "ollama", "model-runner", "--gpus all"):
        assert alt in msg
    assert err.value.exit_code == ExitCode.FAILURE
    assert plan("vllm", model="a/b", gpus="all", gpu_available=False).gpus is True
    assert plan("tgi", model="a/b", gpus="none", gpu_available=False).gpus is False
    # Planning without an engine (dry run, daemon down): a GPU profile plans its GPU.
    assert plan("vllm", model="a/b", gpu_available=None).gpus is True
    assert plan("ollama", gpu_available=None).gpus is False


def test_volume_host_folder_becomes_a_read_write_bind_mount() -> None:
    spec = plan("vllm", model="a/b", volume="/home/u/.cache/huggingface")
    assert spec.volumes == ()
    assert spec.mounts == (BindMount("/home/u/.cache/huggingface", "/root/.cache/huggingface",
                                     read_only=False),)


def test_spec_hash_follows_model_and_mounts() -> None:
    a = plan("vllm", model="a/b").labels[HASH]
    assert plan("vllm", model="a/b").labels[HASH] == a
    assert plan("vllm", model="a/c").labels[HASH] != a
    f1 = plan("llamacpp", model_file=ModelFile("/x", "m.gguf")).labels[HASH]
    f2 = plan("llamacpp", model_file=ModelFile("/y", "m.gguf")).labels[HASH]
    assert f1 != f2


# --- host inputs: model files and secrets -------------------------------------------------

def test_model_file_resolution(tmp_path: Path) -> None:
    f = tmp_path / "smollm2.gguf"
    f.write_bytes(b"GGUF")
    assert resolve_model_file(str(f)) == ModelFile(str(tmp_path), "smollm2.gguf")
    assert resolve_model_file(str(tmp_path)) == ModelFile(str(tmp_path), "smollm2.gguf")
    (tmp_path / "other.gguf").write_bytes(b"GGUF")
    with pytest.raises(UsageError, match=r"exactly one \.gguf"):
        resolve_model_file(str(tmp_path))
    with pytest.raises(UsageError, match="no such file"):
        resolve_model_file(str(tmp_path / "missing.gguf"))


def test_secrets_from_env_then_file_then_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prof = load_profile("vllm")
    home = tmp_path / "home"
    (home / ".cache/huggingface").mkdir(parents=True)
    token_file = home / ".cache/huggingface/token"
    monkeypatch.setenv("HOME", str(home))
    env = {"HF_TOKEN": TOKEN}
    got = resolve_secrets(prof, environ=env)
    assert got.values == {"HF_TOKEN": TOKEN} and got.sources == {"HF_TOKEN": "$HF_TOKEN"}
    assert resolve_secrets(prof, environ={}).values == {}
    token_file.write_text("hf_fromfile\n")
    got = resolve_secrets(prof, environ={})
    assert got.values == {"HF_TOKEN": "hf_fromfile"}
    assert "hf_fromfile" not in repr(got)
    # The cache folder mounted into the container: the server reads the token there.
    got = resolve_secrets(prof, environ={}, mounted=(str(home / ".cache/huggingface"),))
    assert got.values == {} and "mounted" in got.sources["HF_TOKEN"]
    other = tmp_path / "tok"
    other.write_text("hf_explicit")
    assert resolve_secrets(prof, environ=env, token_file=str(other)).values == {
        "HF_TOKEN": "hf_explicit"}
    with pytest.raises(UsageError, match="no such file"):
        resolve_secrets(prof, environ={}, token_file=str(tmp_path / "none"))
    with pytest.raises(UsageError, match="takes no Hugging Face token"):
        resolve_secrets(load_profile("ollama"), environ={}, token_file=str(other))


# --- schema errors: file and key -----------------------------------------------------------

BASE = """\
name: mine
kind: vllm
image: vllm/vllm-openai:v0.33.0
container_port: 8000
host_port: 8000
"""


@pytest.mark.parametrize(("extra", "key", "what"), [
    ("model: {required: true}\n", "model.arg", "set at least one of arg, env or file_arg"),
    ("model: {arg: model}\n", "model.arg", "is not a command-line flag"),
    ("model: {env: 'BAD NAME'}\n", "model.env", "not a valid environment variable"),
    ("model: {arg: --model, colour: red}\n", "model.colour", "unknown key"),
    ("model: {file_arg: -m, file_target: models}\n", "model.file_target", "absolute path"),
    ("model: {arg: --model, required: 'yes'}\n", "model.required", "must be true or false"),
    ("secrets: [{env: HF_TOKEN}]\n", "secrets[0].from_env", "name where the secret"),
    ("secrets: [HF_TOKEN]\n", "secrets[0]", "must be a mapping"),
    ("secrets: [{from_env: X}]\n", "secrets[0].env", "is required"),
    ("secrets: [{env: T, from_env: ['1X']}]\n", "secrets[0].from_env[0]", "not a valid"),
    ("shm_size: lots\n", "shm_size", "not a size"),
    ("ipc: everything\n", "ipc", "is not one of host, private, shareable"),
    ("readiness: {models: maybe}\n", "readiness.models", "is not one of none, answers, listed"),
    ("readiness: {models_path: v1/models}\n", "readiness.models_path", "must start with /"),
])
def test_schema_extension_errors_name_file_and_key(
    tmp_path: Path, extra: str, key: str, what: str
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(BASE + extra)
    with pytest.raises(ConfigError) as err:
        load_profile_file(path)
    assert err.value.message.startswith(f"{path}: {key}: "), err.value.message
    assert what in err.value.message


def test_full_user_profile_parses(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(BASE + "model: {arg: --model, env: MODEL_ID, required: true}\n"
                    "secrets:\n  - {env: HF_TOKEN, from_env: HF_TOKEN, from_file: ~/t}\n"
                    "shm_size: 2G\nipc: private\n"
                    "readiness: {path: /health, models: listed}\n")
    prof = load_profile_file(path)
    assert prof.model is not None and prof.model.env == "MODEL_ID" and prof.model.required
    assert prof.secrets[0].from_env == ("HF_TOKEN",) and prof.secrets[0].from_file == ("~/t",)
    assert (prof.shm_size, prof.ipc) == ("2g", "private")
    spec = plan_container(prof, UpOptions(model="o/m"), host_port=1, gpu_available=True)
    assert spec.command == ("--model", "o/m") and spec.env == {"MODEL_ID": "o/m"}


# --- readiness per kind, against the in-process fakes ----------------------------------------

@pytest.mark.parametrize(("kind", "fake_opts", "model", "phase_needle"), [
    ("vllm", {"model": "org/m"}, "org/m", "opens its port once it is loaded"),
    ("tgi", {"model": "org/m"}, "org/m", "opens its port once it is loaded"),
    ("llamacpp", {"model": "/models/m.gguf", "alias": "m"}, "m", "503 Loading model"),
    ("localai", {"model": "phi"}, None, "startup preload"),
])
def test_wait_ready_sees_loading_then_ready(
    kind: str, fake_opts: dict, model: str | None, phase_needle: str  # type: ignore[type-arg]
) -> None:
    from llmctl.readiness import WaitStatus, wait_ready
    from tests.fakes.llmfake import start_fake

    prof = load_profile(kind)
    seen: list[WaitStatus] = []
    with start_fake(kind, port=0, load_seconds=1.2, **fake_opts) as h:
        took = wait_ready(h.url, prof.readiness, timeout=15, kind=kind, model=model,
                          logs=lambda: ["first", "INFO loading weights"],
                          on_status=seen.append)
    assert 1.0 <= took < 10
    loading = [s for s in seen if s.phase == "loading"]
    assert loading and phase_needle in loading[0].detail
    assert loading[0].log_line == "INFO loading weights"
    assert seen[-1].elapsed <= took


def test_llamacpp_models_answering_while_loading_is_not_ready() -> None:
    from llmctl.readiness import check_once
    from tests.fakes.llmfake import start_fake

    prof = load_profile("llamacpp")
    with start_fake("llamacpp", port=0, load_seconds=30, alias="m") as h:
        import httpx

        assert httpx.get(h.url + "/v1/models").status_code == 200  # §6: answers while loading
        check = check_once(h.url, prof.readiness, kind="llamacpp", model="m")
    assert not check.ok and check.phase == "loading"


def test_ready_needs_the_requested_model_listed() -> None:
    from llmctl.readiness import check_once
    from tests.fakes.llmfake import start_fake

    prof = load_profile("vllm")
    with start_fake("vllm", port=0, model="org/other") as h:
        wrong = check_once(h.url, prof.readiness, kind="vllm", model="org/m")
        right = check_once(h.url, prof.readiness, kind="vllm", model="org/other")
    assert not wrong.ok and "does not list 'org/m'" in wrong.detail
    assert "org/other" in wrong.detail
    assert right.ok and right.phase == "ready"


def test_vllm_dead_engine_is_unhealthy_not_loading() -> None:
    from llmctl.readiness import check_once
    from tests.fakes.llmfake import start_fake

    with start_fake("vllm", port=0, unhealthy=True) as h:
        check = check_once(h.url, load_profile("vllm").readiness, kind="vllm", model="x")
    assert not check.ok and check.phase == "unhealthy" and "HTTP 503" in check.detail


# --- `up` refuses before touching the engine ----------------------------------------------

@pytest.mark.parametrize(("name", "kw", "error", "needle"), [
    ("vllm", {}, UsageError, "needs a model"),
    ("vllm", {"model": "a/b"}, LlmctlError, "needs an NVIDIA GPU"),  # engine has none
    ("llamacpp", {"model_file": "/nonexistent/m.gguf"}, UsageError, "no such file"),
])
def test_up_checks_before_pulling_or_creating(
    name: str, kw: dict, error: type, needle: str  # type: ignore[type-arg]
) -> None:
    from llmctl import lifecycle
    from tests.fakes.engine import FakeEngine

    eng = FakeEngine()  # reports no GPU runtime
    with pytest.raises(error, match=needle):
        lifecycle.up(eng, load_profile(name), UpOptions(port=1, **kw))  # type: ignore[arg-type]
    assert eng.pulled == [] and eng.created == [] and eng.containers == {}
