"""`llmctl export compose` against the real engine: the Compose file made from a running
container is the one made from the profile with the same options, and Debian's
docker-compose (1.29) runs it for real: `llmctl probe` finds the server, and `llmctl up`
with the same options finds its own container (the same spec) and reuses it. Helm values
made from the running server list the models it holds.

The fake Ollama image (tests/fakes) stands in for ollama/ollama; it is published on a free
loopback port under a unique project and instance name. Teardown removes only what this
test made: `docker-compose rm` (never `down`, which would remove the shared `llmctl`
network), then the instance fixture removes the container and volume by name.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.support import need, publish_port

pytestmark = pytest.mark.docker


def compose(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker-compose", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def test_a_compose_file_runs_what_llmctl_runs(cli, instance: str, fake_image: str,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:
    need(shutil.which("docker-compose") is not None,
         "needs Debian's docker-compose (apt-get install docker-compose)")
    port = publish_port()
    options = ["--name", instance, "--port", str(port), "--image", fake_image,
               "--env", "OLLAMA_KEEP_ALIVE=10m"]
    res = cli("up", "ollama", *options, "--timeout", "60", "--progress", "none", "--json")
    assert res.code == 0, res.stderr

    running = tmp_path / "running.yaml"
    res = cli("export", "compose", instance, "-o", str(running), "--json")
    assert res.code == 0, res.stderr
    assert res.json()["result"]["services"][0]["source"] == f"container llmctl-{instance}"
    from_profile = tmp_path / "profile.yaml"
    res = cli("export", "compose", "ollama", *options, "-o", str(from_profile))
    assert res.code == 0, res.stderr
    assert running.read_bytes() == from_profile.read_bytes()

    doc = yaml.safe_load(running.read_text())
    service = doc["services"][instance]
    assert service["ports"] == [f"127.0.0.1:{port}:11434"]
    assert service["environment"]["OLLAMA_KEEP_ALIVE"] == "10m"

    # The chart's values carry the models the running server holds (read over its API).
    res = cli("pull", "tinyllama", "--endpoint", f"http://127.0.0.1:{port}", "--progress",
              "none")
    assert res.code == 0, res.stderr
    res = cli("export", "helm-values", instance, "--chart", "ollama", "-o", "-")
    assert res.code == 0, res.stderr
    values = yaml.safe_load(res.stdout)
    assert values["ollama"]["models"] == {"pull": ["tinyllama:latest"]}
    assert values["image"]["repository"] + ":" + values["image"]["tag"] == fake_image

    # llmctl's container goes; the same server comes back, run by Compose.
    assert cli("down", "ollama", "--name", instance).code == 0
    project = ["-p", instance, "-f", str(running)]
    try:
        up = compose(*project, "up", "-d", cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 60
        while True:
            probe = cli("probe", f"http://127.0.0.1:{port}", "--json")
            results = probe.json()["result"]["results"] if probe.code == 0 else []
            if results and results[0]["server"] == "ollama":
                break
            assert time.monotonic() < deadline, f"probe never found ollama: {probe.stdout}"
            time.sleep(0.5)
        # the container is llmctl's own: same spec, so `up` reuses it instead of clashing
        again = cli("up", "ollama", *options, "--timeout", "60", "--progress", "none",
                    "--json")
        assert again.code == 0, again.stderr
        assert again.json()["result"]["action"] == "reused"
        status = cli("status", "--json")
        names = [s["instance"] for s in status.json()["result"]["servers"]]
        assert instance in names
    finally:
        compose(*project, "rm", "--stop", "--force", cwd=tmp_path)
