"""`llmctl up|status|down model-runner` against a real Docker engine (Engine 20.10 here).

Stand-ins, each for one real thing:
- the image ``llmctl-test/fake-model-runner`` (the fake LLM server image with
  LLMFAKE_KIND=model-runner) stands for ``docker/model-runner:v1.2.6``: it serves the
  runner's routes on MODEL_RUNNER_PORT; llmctl is pointed at it by LLMCTL_MODEL_RUNNER_IMAGE;
- tests/fakes/plugins/docker-model stands for the `docker model` plugin: its
  install-runner creates the runner container through the real docker CLI with the plugin's
  facts (name, labels, volume, 127.0.0.1 + bridge gateway bindings).
Everything else is real: the engine, the containers, the volume, the ports and HTTP.
The runner's names are fixed (docker-model-runner, docker-model-runner-models), so these
tests refuse to run where a real runner or its models volume exists.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmctl.ports import next_free
from tests.integration import infra
from tests.integration.conftest import CliResult
from tests.support import need

pytestmark = pytest.mark.docker

NAME = "docker-model-runner"
VOLUME = "docker-model-runner-models"
PLUGINS = Path(__file__).resolve().parents[1] / "fakes" / "plugins"


@pytest.fixture(scope="module")
def runner_image(docker_client: Any, fake_image: str) -> str:
    """The fake server image as a Model Runner image (cached by the fake image's tag)."""
    import docker

    tag = "llmctl-test/fake-model-runner:" + fake_image.rsplit(":", 1)[1]
    try:
        docker_client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    dockerfile = f"FROM {fake_image}\nENV LLMFAKE_KIND=model-runner\n".encode()
    docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, pull=False)
    return tag


def _ours(labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return labels.get("io.llmctl.managed") == "true" or labels.get("io.llmctl.test") == "1"


def _remove_runner(client: Any) -> None:
    import docker

    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(NAME).remove(force=True)
    with contextlib.suppress(docker.errors.NotFound):
        client.volumes.get(VOLUME).remove(force=True)


@pytest.fixture
def clean_runner(docker_client: Any) -> Iterator[None]:
    """No runner before the test (leftovers of these tests are removed), none after. The
    names are fixed: two runs of the suite at once take turns (a lock in the test cache)."""
    with infra.cache_lock("model-runner-container"):
        yield from _clean_runner(docker_client)


def _clean_runner(docker_client: Any) -> Iterator[None]:
    import docker

    try:
        c = docker_client.containers.get(NAME)
        if not c.image.tags or not any(t.startswith("llmctl-test/") for t in c.image.tags):
            need(False, f"a real Model Runner container ({NAME}) exists on this engine")
    except docker.errors.NotFound:
        pass
    try:
        v = docker_client.volumes.get(VOLUME)
        if not _ours(v.attrs.get("Labels")):
            need(False, f"a real Model Runner models volume ({VOLUME}) exists on this engine")
    except docker.errors.NotFound:
        pass
    _remove_runner(docker_client)
    yield
    _remove_runner(docker_client)


@pytest.fixture
def port() -> int:
    found = next_free(33000 + uuid.uuid4().int % 3000, "127.0.0.1")
    assert found is not None
    return found


def docker_config(tmp_path: Path, *, plugins: bool, **state: Any) -> dict[str, str]:
    root = tmp_path / "docker-config"
    (root / "cli-plugins").mkdir(parents=True)
    if plugins:
        for name in ("docker-model", "docker-desktop"):
            os.symlink(PLUGINS / name, root / "cli-plugins" / name)
    (root / "fake-docker-state.json").write_text(json.dumps(state))
    return {"DOCKER_CONFIG": str(root)}


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=5)


def ok_json(res: CliResult) -> dict[str, Any]:
    assert res.code == 0, res.stderr + res.stdout
    doc = res.json()
    assert doc["ok"] is True
    return dict(doc["result"])


def test_engine_without_plugin_runs_the_runner_container_itself(
    cli: Any, docker_client: Any, runner_image: str, clean_runner: None, port: int,
    tmp_path: Path,
) -> None:
    env = {**docker_config(tmp_path, plugins=False), "LLMCTL_MODEL_RUNNER_IMAGE": runner_image}
    res = cli("up", "model-runner", "--tcp", str(port), "--gpu", "none", "--json", env=env)
    up = ok_json(res)
    assert (up["action"], up["kind"], up["method"]) == ("created", "Docker Engine",
                                                         "llmctl (Docker API)")
    assert (up["container"], up["volume"], up["image"]) == (NAME, VOLUME, runner_image)
    assert up["base_url"] == f"http://127.0.0.1:{port}/engines/v1" and up["ready"] is True
    assert "plugin is not installed" in res.stderr

    c = docker_client.containers.get(NAME)
    labels = c.labels
    assert labels["com.docker.desktop.service"] == "model-runner"
    assert labels["com.docker.model-runner.role"] == "controller"
    assert labels["io.llmctl.managed"] == "true"
    # Like the plugin: loopback for this machine, plus the docker0 gateway for containers
    # on the default bridge (the engine here is not rootless).
    ipam = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    gateway = ipam.get("Gateway") or ipam["Subnet"].split("/")[0].rsplit(".", 1)[0] + ".1"
    assert c.attrs["HostConfig"]["PortBindings"] == {
        "12434/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)},
                      {"HostIp": gateway, "HostPort": str(port)}]}
    assert up["endpoint_container"] == f"http://{gateway}:{port}/engines/v1"
    assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"
    mounts = {(m["Name"], m["Destination"]) for m in c.attrs["Mounts"]}
    assert (VOLUME, "/models") in mounts
    assert get(f"http://127.0.0.1:{port}/").text.strip() == "Docker Model Runner is running"
    assert get(f"http://127.0.0.1:{port}/engines/v1/models").json()["object"] == "list"

    st = ok_json(cli("status", "--json", env=env))
    runner = st["model_runner"]
    assert (runner["running"], runner["container"], runner["managed"]) == (True, NAME, True)
    assert runner["base_url"] == f"http://127.0.0.1:{port}/engines/v1"
    assert runner["backends"]["llama.cpp"].startswith("Running")
    assert all(s["profile"] != "model-runner" for s in st["servers"])  # shown once
    human = cli("status", env=env)
    assert human.code == 0
    assert "Docker Model Runner (Docker Engine): running, container docker-model-runner " \
           "(llmctl)" in human.stdout

    down = cli("down", "model-runner", env=env)
    assert down.code == 0, down.stderr
    assert down.stdout.splitlines() == [
        f"removed container {NAME}", f"kept volume {VOLUME} (remove with --volumes)"]
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{NAME}$"})
    docker_client.volumes.get(VOLUME)  # kept: the models live there

    again = ok_json(cli("up", "model-runner", "--tcp", str(port), "--json", env=env))
    assert again["action"] == "created"
    gone = cli("down", "model-runner", "--volumes", "--yes", env=env)
    assert gone.code == 0, gone.stderr
    assert gone.stdout.splitlines() == [f"removed container {NAME}", f"removed volume {VOLUME}"]
    assert not [v for v in docker_client.volumes.list() if v.name == VOLUME]


def test_engine_with_plugin_uses_install_runner(
    cli: Any, docker_client: Any, runner_image: str, clean_runner: None, port: int,
    tmp_path: Path,
) -> None:
    env = docker_config(tmp_path, plugins=True, mode="engine", image=runner_image)
    res = cli("up", "model-runner", "--tcp", str(port), "--gpu", "none", "--json", env=env)
    up = ok_json(res)
    assert (up["action"], up["method"], up["container"]) == (
        "installed", "docker model install-runner", NAME)
    assert f"running `docker model install-runner --port {port} --gpu none`" in res.stderr
    calls = [json.loads(line) for line in
             (Path(env["DOCKER_CONFIG"]) / "calls.jsonl").read_text().splitlines()]
    installs = [c for c in calls if c["args"][:1] == ["install-runner"]]
    assert [c["args"] for c in installs] == [["install-runner", "--port", str(port),
                                              "--gpu", "none"]]
    assert all(c["env"].get("MODEL_RUNNER_NO_AUTO_INSTALL") == "1"
               for c in calls if c["plugin"] == "model")

    c = docker_client.containers.get(NAME)
    bindings = c.attrs["HostConfig"]["PortBindings"][f"{port}/tcp"]
    ips = sorted(b["HostIp"] for b in bindings)
    assert "127.0.0.1" in ips and len(ips) == 2  # loopback + bridge gateway, as the plugin
    gateway = next(ip for ip in ips if ip != "127.0.0.1")
    assert "io.llmctl.managed" not in c.labels

    runner = ok_json(cli("status", "--json", env=env))["model_runner"]
    assert runner["running"] is True and runner["managed"] is False
    assert runner["endpoint_container"] == f"http://{gateway}:{port}/engines/v1"
    assert runner["base_url"] == f"http://127.0.0.1:{port}/engines/v1"

    down = cli("down", "model-runner", "--json", env=env)
    doc = ok_json(down)
    assert doc["removed"] == [NAME] and doc["volumes_kept"] == [VOLUME]


def test_port_held_by_a_host_process(cli: Any, docker_client: Any, runner_image: str,
                                     clean_runner: None, port: int, tmp_path: Path) -> None:
    env = {**docker_config(tmp_path, plugins=False), "LLMCTL_MODEL_RUNNER_IMAGE": runner_image}
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        res = cli("up", "model-runner", "--tcp", str(port), "--json", env=env)
        human = cli("up", "model-runner", "--tcp", str(port), env=env)
    assert res.code == 5
    doc = res.json()
    assert doc["ok"] is False and doc["error"]["type"] == "ConflictError"
    details = doc["error"]["details"]
    assert details["holder_kind"] == "process" and details["port"] == port
    assert f"pid {os.getpid()}" in details["holder"]
    assert f"--tcp {details['suggested_port']}" in doc["error"]["hint"]
    assert human.code == 5 and human.stdout == ""
    assert human.stderr.startswith(f"error: port {port} on 127.0.0.1 is taken by host process")
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{NAME}$"})


def test_port_held_by_a_container(cli: Any, docker_client: Any, fake_image: str,
                                  runner_image: str, clean_runner: None, port: int,
                                  tmp_path: Path) -> None:
    env = {**docker_config(tmp_path, plugins=False), "LLMCTL_MODEL_RUNNER_IMAGE": runner_image}
    holder = docker_client.containers.run(
        fake_image, detach=True, name=f"t-holder-{uuid.uuid4().hex[:6]}",
        labels={"io.llmctl.test": "1"}, ports={"11434/tcp": ("127.0.0.1", port)},
    )
    try:
        res = cli("up", "model-runner", "--tcp", str(port), env=env)
    finally:
        holder.remove(force=True)
    assert res.code == 5
    assert f"is taken by container {holder.name} ({fake_image})" in res.stderr
    assert f"docker stop {holder.name}" in res.stderr
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{NAME}$"})
