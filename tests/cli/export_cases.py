"""The exports the CLI tests make: one case per built-in profile and target, and a user
profile (tests/fixtures/export-profiles/mine.yaml); shared by the golden-file tests and the
validator tests."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from llmctl import __version__
from llmctl.cli.app import run
from tests.support import refused_daemon

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "export"
USER_PROFILES = ROOT / "tests" / "fixtures" / "export-profiles"
UPDATE = os.environ.get("LLMCTL_UPDATE_GOLDEN") == "1"

# Every built-in profile and target, and the user's profile: `up`'s arguments.
SERVERS: dict[str, list[str]] = {
    "ollama": ["ollama"],
    "vllm": ["vllm", "--model", "Qwen/Qwen3-0.6B"],
    "tgi": ["tgi", "--model", "HuggingFaceTB/SmolLM2-360M-Instruct"],
    "llamacpp": ["llamacpp", "--model", "ggml-org/SmolLM2-360M-Instruct-GGUF"],
    "localai": ["localai"],
    "model-runner": ["model-runner"],
    "mine": ["mine", "--model", "org/model", "--env", "SERVER_API_KEY"],
}
COMPOSE = {**SERVERS,
           "model-runner-models": ["model-runner", "--models", "--model",
                                   "ai/smollm2:360M-Q4_K_M"],
           "ollama-exposed": ["ollama", "--bind", "0.0.0.0", "--port", "11500",
                              "--env", "OLLAMA_KEEP_ALIVE=10m"]}
KUBE = {**SERVERS,
        "vllm-cluster": ["vllm", "--model", "Qwen/Qwen3-0.6B", "--namespace", "llm",
                         "--gpu", "nvidia:2", "--storage", "200Gi", "--storage-class",
                         "fast-ssd", "--hf-token-secret", "hf/token"],
        "ollama-amd-replicas": ["ollama", "--gpu", "amd:1", "--storage", "none",
                                "--replicas", "3", "--image", "ollama/ollama:0.40.2-rocm"]}
HELM = {"ollama": ["ollama", "--chart", "ollama"],
        "ollama-amd": ["ollama", "--chart", "ollama", "--gpu", "amd:2", "--storage-class",
                       "fast-ssd"],
        "model-runner": ["model-runner", "--chart", "model-runner", "--model",
                         "ai/smollm2:360M-Q4_K_M", "--gpu", "nvidia:1"],
        "vllm-stack": ["vllm", "--chart", "vllm-stack", "--model", "Qwen/Qwen3-0.6B",
                       "--env", "VLLM_LOGGING_LEVEL=DEBUG", "--hf-token-secret",
                       "hf/token"]}


@pytest.fixture
def user_profiles(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's profile, and an environment where nothing of this machine leaks: no
    token, no Model Runner image override, a daemon that refuses connections (so every
    NAME is exported from its profile)."""
    monkeypatch.setenv("LLMCTL_PROFILES_DIR", str(USER_PROFILES))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "SERVER_API_KEY",
                "LLMCTL_MODEL_RUNNER_IMAGE", "DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    return USER_PROFILES


def llmctl(*args: str) -> tuple[int, str, str]:
    """``llmctl ARGS`` in this process, against a daemon that refuses connections."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["--host", refused_daemon(), *args])
    return code, out.getvalue(), err.getvalue()


def export(form: str, args: list[str], dest: Path) -> list[Path]:
    """Run the export into ``dest`` (a file, or a folder for kube): the files written."""
    code, _, err = llmctl("export", form, *args, "-o", str(dest))
    assert code == 0, err
    return sorted(dest.iterdir()) if dest.is_dir() else [dest]


def as_golden(files: list[Path]) -> str:
    """The files as one text (a header per file for a folder), llmctl's version
    normalised so a release does not rewrite every golden file."""
    if len(files) == 1:
        text = files[0].read_text()
    else:
        text = "".join(f"==> {f.name} <==\n{f.read_text()}" for f in files)
    return text.replace(f"io.llmctl.version: {__version__}", "io.llmctl.version: VERSION")


def check_golden(form: str, case: str, text: str) -> None:
    path = GOLDEN / form / f"{case}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with LLMCTL_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs (LLMCTL_UPDATE_GOLDEN=1 rewrites it)"
