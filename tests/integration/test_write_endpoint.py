"""`up --write-endpoint` and `pull --write-endpoint` against the real engine and the fake
Ollama image (standing for ollama/ollama)."""

from __future__ import annotations

import stat
import uuid

import pytest
import yaml

from llmctl.ports import next_free

pytestmark = pytest.mark.docker


def test_pull_then_up_write_the_endpoint(cli, instance: str, fake_image: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"LLMCTL_ENDPOINTS_FILE": str(tmp_path / "endpoints.yaml")}
    port = next_free(26000 + uuid.uuid4().int % 2000, "127.0.0.1")
    assert port is not None

    # A fresh Ollama has no model: up succeeds but says why nothing was written.
    up = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image,
             "--write-endpoint", env=env)
    assert up.code == 2, up.stderr
    assert f"{instance} is up at http://127.0.0.1:{port}, but the endpoint was not written: " \
           "--model is required" in up.stderr
    assert "llmctl pull MODEL" in up.stderr
    assert not (tmp_path / "endpoints.yaml").exists()

    pull = cli("pull", "llama3.2", "--endpoint", f"http://127.0.0.1:{port}", "--progress",
               "none", "--write-endpoint", "--json", env=env)
    assert pull.code == 0, pull.stderr
    written = pull.json()["result"]["endpoint_written"]
    assert written["model"] == "llama3.2:latest"
    assert written["endpoint"] == f"http://127.0.0.1:{port}"
    assert written["endpoint_container"] == f"http://llmctl-{instance}:11434"
    assert written["llm_type"] == "docker-container"
    path = tmp_path / "endpoints.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["default"] in doc["endpoints"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Now up --write-endpoint finds the one model and writes the same entry again.
    again = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image,
                "--write-endpoint", "--json", env=env)
    assert again.code == 0, again.stderr
    res = again.json()["result"]
    assert res["action"] == "reused"
    assert res["endpoint_written"]["model"] == "llama3.2:latest"
