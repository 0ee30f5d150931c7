"""`llmctl up` for the new backends as a user sees it, without Docker: --dry-run planning
with the daemon unreachable, exit codes, one-line errors, and no secret in any output."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from llmctl.cli.app import run

TOKEN = "hf_cliSecretValue_1122334455"


def dead_host() -> list[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return ["--host", f"tcp://127.0.0.1:{s.getsockname()[1]}"]


@pytest.fixture(autouse=True)
def _no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    return home


def dry(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    assert run([*dead_host(), "up", *args, "--dry-run", "--json"]) == 0
    cap = capsys.readouterr()
    return json.loads(cap.out)["result"]["spec"]  # type: ignore[no-any-return]


def test_vllm_dry_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    spec = dry(capsys, "vllm", "--model", "Qwen/Qwen3-0.6B")
    assert spec["image"] == "vllm/vllm-openai:v0.33.0"
    assert spec["command"] == ["--model", "Qwen/Qwen3-0.6B"]
    assert spec["ports"] == [{"host_ip": "127.0.0.1", "host_port": 8000, "container_port": 8000}]
    assert spec["ipc_mode"] == "host" and spec["gpus"] is True
    assert spec["model"] == "Qwen/Qwen3-0.6B" and spec["secrets"] == {}


def test_llamacpp_model_file_dry_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "tiny.gguf"
    f.write_bytes(b"GGUF")
    spec = dry(capsys, "llamacpp", "--model-file", str(f))
    assert spec["mounts"] == [{"source": str(f), "target": "/models/tiny.gguf",
                               "read_only": True}]
    assert spec["command"] == ["--jinja", "-m", "/models/tiny.gguf", "--alias", "tiny"]
    assert spec["model"] == "tiny" and spec["gpus"] is False


def test_volume_path_mounts_the_host_cache(capsys: pytest.CaptureFixture[str],
                                           _no_token: Path) -> None:
    cache = _no_token / ".cache" / "huggingface"
    cache.mkdir(parents=True)
    (cache / "token").write_text(TOKEN)
    spec = dry(capsys, "vllm", "--model", "a/b", "--volume", "~/.cache/huggingface")
    assert spec["volumes"] == []
    assert spec["mounts"] == [{"source": str(cache), "target": "/root/.cache/huggingface",
                               "read_only": False}]
    # The token is in the mounted cache: the server reads it there, not from the env.
    assert spec["secrets"] == {}


@pytest.mark.parametrize("how", ["env", "file", "flag"])
def test_token_never_printed(capsys: pytest.CaptureFixture[str], _no_token: Path,
                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str) -> None:
    extra: list[str] = []
    if how == "env":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    elif how == "file":
        (_no_token / ".cache" / "huggingface").mkdir(parents=True)
        (_no_token / ".cache" / "huggingface" / "token").write_text(TOKEN + "\n")
    else:
        (tmp_path / "tok").write_text(TOKEN)
        extra = ["--hf-token-file", str(tmp_path / "tok")]
    assert run([*dead_host(), "up", "tgi", "--model", "org/gated", *extra, "--dry-run",
                "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["result"]["spec"]["secrets"] == {"HF_TOKEN": "***"}
    assert TOKEN not in cap.out + cap.err
    assert run([*dead_host(), "up", "tgi", "--model", "org/gated", *extra, "--dry-run"]) == 0
    cap = capsys.readouterr()
    assert "HF_TOKEN: '***'" in cap.out and TOKEN not in cap.out + cap.err


@pytest.mark.parametrize(("args", "code", "first_line"), [
    (["vllm"], 2, "error: vllm needs a model: --model NAME (e.g. --model Qwen/Qwen3-0.6B)"),
    (["tgi"], 2, "error: tgi needs a model: --model NAME "
                 "(e.g. --model HuggingFaceTB/SmolLM2-360M-Instruct)"),
    (["llamacpp"], 2, "error: llamacpp needs a model: --model-file PATH (a model file on this "
                      "machine) or --model NAME (e.g. --model "
                      "ggml-org/SmolLM2-360M-Instruct-GGUF)"),
    (["llamacpp", "--model-file", "/nonexistent/x.gguf"], 2,
     "error: --model-file /nonexistent/x.gguf: no such file"),
    (["vllm", "--model", "--x"], 2, None),  # click: --model needs a value
    (["vllm", "--model", "a b"], 2, "error: --model 'a b' contains whitespace"),
    (["ollama", "--model", "llama3.2"], 2, "error: profile 'ollama' takes no --model"),
    (["vllm", "--model", "a/b", "--hf-token-file", "/nonexistent/tok"], 2,
     "error: --hf-token-file /nonexistent/tok: no such file, or it is empty"),
])
def test_bad_backend_options(capsys: pytest.CaptureFixture[str], args: list[str], code: int,
                             first_line: str | None) -> None:
    assert run([*dead_host(), "up", *args, "--dry-run"]) == code
    cap = capsys.readouterr()
    assert cap.out == "" and "Traceback" not in cap.err
    lines = [line for line in cap.err.splitlines() if not line.startswith("warning:")]
    if first_line is not None:
        assert lines[0] == first_line


def test_help_lists_the_new_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["up", "--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--model", "--model-file", "--hf-token-file"):
        assert opt in out


def test_profiles_list_shows_every_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["profiles", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["result"]
    builtins = sorted(p["name"] for p in doc if p["origin"] == "built-in")
    assert builtins == ["llamacpp", "localai", "ollama", "tgi", "vllm"]
    assert run(["profiles", "validate"]) == 0
    assert capsys.readouterr().out.count("ok  ") == len(doc)
