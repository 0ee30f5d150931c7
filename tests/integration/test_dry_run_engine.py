"""`llmctl up --dry-run` against a real Docker engine changes nothing and reaches no
registry: for every built-in profile and for `model-runner`, the containers, volumes,
networks and images that could be llmctl's are the same before and after, and the plan
says what a real `up` would pull and create.

Other test sessions may run on the same engine at once, so each snapshot holds only what
this test's runs could have made: the test instance's container and volumes, the `llmctl`
network, the profiles' images, and for Model Runner (whose names are fixed) the containers
of a runner image unique to this test. Nothing here stands in for anything: the engine,
its images and the CLI are real; the `docker model` plugin is absent (an empty
DOCKER_CONFIG), as on a plain Docker Engine.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmctl.profiles import builtin_dir, load_profile
from tests.support import publish_port

pytestmark = pytest.mark.docker

BUILTINS = sorted(p.stem for p in builtin_dir().glob("*.yaml"))
RUNNER_VOLUME = "docker-model-runner-models"


def _repo(image: str) -> str:
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def snapshot(client: Any, instance: str, repos: set[str], runner_images: set[str]) -> dict:  # type: ignore[type-arg]
    """What this test's dry runs could have made, with ids (a remove + create shows too)."""
    containers = set()
    for c in client.containers.list(all=True, ignore_removed=True):
        image = (c.attrs.get("Config") or {}).get("Image", "")
        if c.name.startswith(f"llmctl-{instance}") or image in runner_images:
            containers.add((c.name, c.id, c.status))
    volumes = {v.name for v in client.volumes.list() if v.name.startswith(instance)}
    networks = {(n.name, n.id) for n in client.networks.list(names=["llmctl"])}
    images = {(tag, i.id) for i in client.images.list() for tag in i.tags
              if _repo(tag) in repos}
    return {"containers": containers, "volumes": volumes, "networks": networks,
            "images": images}


@pytest.fixture
def runner_images(docker_client: Any, fake_image: str) -> Iterator[tuple[str, str]]:
    """(present, absent): a Model Runner image tag made for this test only (the fake
    server image), and one that exists nowhere."""
    tag = f"dry-{uuid.uuid4().hex[:8]}"
    docker_client.images.get(fake_image).tag("llmctl-test/dry-runner", tag)
    present = f"llmctl-test/dry-runner:{tag}"
    absent = f"llmctl-test/absent-runner:{tag}"
    yield present, absent
    # Were a dry run to make a runner container, it would be of this image: remove it.
    for c in docker_client.containers.list(all=True, ignore_removed=True):
        if (c.attrs.get("Config") or {}).get("Image") in (present, absent):
            c.remove(force=True)
    docker_client.images.remove(present, noprune=True)


def _args_for(name: str) -> list[str]:
    prof = load_profile(name)
    if prof.model is not None and prof.model.required:
        return ["--model", prof.model.example or "org/model"]
    return []


def test_dry_run_of_every_builtin_and_model_runner_changes_nothing(
    cli: Any, docker_client: Any, instance: str, runner_images: tuple[str, str],
    tmp_path: Path,
) -> None:
    present, absent = runner_images
    profiles = {name: load_profile(name) for name in BUILTINS}
    repos = {_repo(p.image) for p in profiles.values()} | {
        "docker/model-runner", _repo(present), _repo(absent)}
    gpu = "nvidia" in (docker_client.info().get("Runtimes") or {})
    before = snapshot(docker_client, instance, repos, {present, absent})
    had_runner_volume = any(v.name == RUNNER_VOLUME for v in docker_client.volumes.list())
    docker_config = tmp_path / "docker-config"  # no `docker model` plugin
    docker_config.mkdir()

    assert set(BUILTINS) >= {"ollama", "vllm", "tgi", "llamacpp", "localai"}
    for name, prof in profiles.items():
        args = ["up", name, "--name", instance, "--port", str(publish_port()), *_args_for(name),
                "--dry-run"]
        res = cli(*args, "--json")
        assert res.code == 0, (name, res.stderr)
        doc = res.json()["result"]
        assert doc["dry_run"] is True and doc["engine_checked"] is True
        assert doc["container"] == "create", (name, doc)
        image_here = any(tag == prof.image for tag, _ in before["images"])
        assert doc["would_pull"] == ([] if image_here else [prof.image]), name
        assert f"container llmctl-{instance}" in doc["would_create"]
        if prof.gpu == "required" and not gpu:
            # 3: no GPU here: a warning, and the plan for a machine that has one.
            assert doc["spec"]["gpus"] is True
            assert f"warning: {name} needs an NVIDIA GPU" in res.stderr
            assert "`up` would refuse to start it on this engine" in res.stderr
        human = cli(*args)
        assert human.code == 0, (name, human.stderr)
        assert human.stdout.startswith(f"# llmctl up {name} --dry-run")
        if not image_here:
            assert f"# would pull image {prof.image} (not on this engine)" in \
                human.stdout.splitlines()

    env = {"DOCKER_CONFIG": str(docker_config)}
    for image in (absent, present):
        port = str(publish_port())
        res = cli("up", "model-runner", "--tcp", port, "--dry-run", "--json",
                  env={**env, "LLMCTL_MODEL_RUNNER_IMAGE": image})
        assert res.code == 0, res.stderr
        doc = res.json()["result"]
        assert doc["dry_run"] is True
        if doc["container"] == "create":  # no runner of another session on this engine
            assert doc["spec"]["image"] == image
            assert doc["would_pull"] == ([image] if image == absent else [])
            assert "container docker-model-runner" in doc["would_create"]
        human = cli("up", "model-runner", "--tcp", port, "--dry-run",
                    env={**env, "LLMCTL_MODEL_RUNNER_IMAGE": image})
        assert human.code == 0, human.stderr
        assert "started container" not in human.stdout + human.stderr
        assert "pulling" not in human.stderr
    # And the real default image: absent here, so a pull would have failed (no registry).
    res = cli("up", "model-runner", "--tcp", str(publish_port()), "--dry-run", "--json",
              env=env)
    assert res.code == 0, res.stderr

    after = snapshot(docker_client, instance, repos, {present, absent})
    assert after == before
    if not had_runner_volume and any(v.name == RUNNER_VOLUME
                                     for v in docker_client.volumes.list()):
        # The runner's volume has a fixed name: it may only be another session's, used by
        # a runner container of another image.
        users = docker_client.containers.list(all=True, filters={"volume": RUNNER_VOLUME},
                                              ignore_removed=True)
        assert users, "the dry run created the Model Runner volume"


def test_dry_run_json_is_one_document_with_the_plan(cli: Any, instance: str) -> None:
    res = cli("up", "ollama", "--name", instance, "--port", str(publish_port()),
              "--dry-run", "--json")
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert set(doc) == {"llmctl", "command", "ok", "result"}
    assert {"spec", "would_pull", "would_create", "would_remove", "container",
            "warnings", "port_note"} <= set(doc["result"])
