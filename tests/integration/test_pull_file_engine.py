"""`llmctl pull ./SmolLM2-135M-Instruct.Q4_1.gguf` into an Ollama running as a container on the
real Docker engine, with the real model file (98 MB, from its PyPI wheel, tests/integration/
infra.py ``smollm2_gguf``).

Stand-in: the fake Ollama image (tests/fakes), started through `llmctl up ollama --image`,
serves Ollama's create-from-file API (blobs and create, checked against Ollama 0.24.0 in
reference/real-servers.md) and reads the real GGUF's metadata; it cannot run the model, so
the chat answer is the fake's. Loading and answering with the real file is proven against a
real llama.cpp server (llama.cpp takes files with `llmctl up llamacpp --model-file`, it has
no import API). Everything else is real: the engine, the container, its port, HTTP, the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration import infra

pytestmark = pytest.mark.docker

NAME = "smollm2-135m-instruct.q4_1:latest"


@pytest.fixture(autouse=True)
def _digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCTL_CACHE_DIR", str(tmp_path / "cache"))


def test_import_the_real_smollm2_file_then_chat_with_it(
        cli: Any, ollama_up: Any, smollm2_gguf: Path) -> None:
    _instance, endpoint = ollama_up
    res = cli("pull", str(smollm2_gguf), "--endpoint", endpoint, "--progress", "plain",
              "--json")
    assert res.code == 0, res.stderr
    doc = res.json()["result"]
    assert (doc["model"], doc["name_from"], doc["backend"], doc["endpoint"]) == (
        NAME, "file name", "ollama", endpoint)
    assert (doc["file_size"], doc["sha256"]) == (infra.SMOLLM2_SIZE, infra.SMOLLM2_SHA256)
    assert doc["uploaded"] is True and doc["hashed"] is True
    assert doc["details"] == {"family": "llama", "parameters": "134.52M",
                              "quantization": "Q4_1"}
    # Ollama 0.24.0 lists this file as 98,363,007 bytes: the GGUF plus a few hundred bytes of
    # template and config layers (the fake's template text is not byte-for-byte Ollama's)
    assert infra.SMOLLM2_SIZE < doc["size"] < infra.SMOLLM2_SIZE + 4096
    err = res.stderr
    assert "computing sha256 (98.4 MB)" in err
    assert f"{infra.SMOLLM2_SHA256[:12]}: uploading (98.4 MB)" in err
    assert f"{infra.SMOLLM2_SHA256[:12]}: done (98.4 MB in " in err
    for step in ("parsing GGUF", f"using existing layer sha256:{infra.SMOLLM2_SHA256}",
                 "using autodetected template chatml", "writing manifest", "success"):
        assert step in err.splitlines()

    listed = cli("models", "--endpoint", endpoint, "--json")
    assert listed.code == 0, listed.stderr
    models = listed.json()["result"]["models"]
    assert [(m["name"], m["digest"], m["size"], m["quantization"]) for m in models] == [
        (NAME, doc["digest"], doc["size"], "Q4_1")]

    chat = cli("chat", "--endpoint", endpoint, "--model", NAME, "Say hello.", "--json")
    assert chat.code == 0, chat.stderr
    reply = chat.json()["result"]["reply"]
    assert reply["text"] and reply["model"] == NAME

    # the same file under another name: nothing hashed (cached digest), nothing uploaded
    again = cli("pull", str(smollm2_gguf), "--endpoint", endpoint, "--name", "smollm2:135m-q4",
                "--progress", "plain")
    assert again.code == 0, again.stderr
    assert again.stdout.startswith("imported SmolLM2-135M-Instruct.Q4_1.gguf as "
                                   f"smollm2:135m-q4 into Ollama at {endpoint}: ")
    assert "(the server had the file's blob already)" in again.stdout
    assert "from the cache" in again.stderr and ": uploading (" not in again.stderr

    gone = cli("rm", NAME, "--endpoint", endpoint)
    assert gone.code == 0, gone.stderr
    left = cli("models", "--endpoint", endpoint, "--json").json()["result"]["models"]
    assert [m["name"] for m in left] == ["smollm2:135m-q4"]
