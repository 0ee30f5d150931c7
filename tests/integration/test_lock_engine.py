"""`llmctl lock`, `verify`, `up --frozen` and `pull --frozen` against the real Docker engine,
the run's loopback registry (Debian's docker-registry: real pushes, real pulls by tag and by
digest) and the fake servers in containers.

Stand-ins: the fake server image (tests/fakes, LLMFAKE_KIND=ollama or model-runner) stands for
ollama/ollama and docker/model-runner; its registry of models (fixed digests; a re-push under
the same name on request, through a test-control route) stands for registry.ollama.ai and
Docker Hub's ai/ models. Everything else is real: engine, registry, containers, volumes, HTTP.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmctl.ports import next_free
from tests.integration.conftest import CliResult
from tests.integration.test_model_runner_engine import (  # noqa: F401 (fixtures)
    clean_runner,
    docker_config,
    runner_image,
)

pytestmark = pytest.mark.docker


def free_port(base: int) -> int:
    found = next_free(base + uuid.uuid4().int % 2000, "127.0.0.1")
    assert found is not None
    return found


def ok(res: CliResult) -> dict[str, Any]:
    assert res.code == 0, res.stderr + res.stdout
    doc = res.json()
    assert doc["ok"] is True
    return dict(doc["result"])


def digest_of(client: Any, ref: str, repo: str) -> str:
    for item in client.images.get(ref).attrs.get("RepoDigests") or []:
        name, _, digest = item.partition("@")
        if name == repo:
            return str(digest)
    raise AssertionError(f"{ref} has no digest in {repo}")


@pytest.fixture
def moving_tag(docker_client: Any, fake_image: str, registry_image: str
               ) -> Iterator[tuple[str, Any]]:
    """A tag in the loopback registry that this test moves: (reference, build(marker)),
    where build makes an image FROM the fake with its own config, tags it as the reference
    and pushes it (the tag then names other content). Every image built is removed."""
    repo = registry_image.rsplit(":", 1)[0]  # REGISTRY/llmctl-test/fake: its layers are there
    ref = f"{repo}:t-lock-{uuid.uuid4().hex[:8]}"
    built: list[str] = []

    def build(marker: str) -> str:
        dockerfile = f"FROM {fake_image}\nLABEL io.llmctl.test.lock={marker}\n".encode()
        image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=ref, rm=True,
                                              pull=False)
        built.append(image.id)
        for event in docker_client.api.push(repo, tag=ref.rsplit(":", 1)[1], stream=True,
                                            decode=True):
            assert "error" not in event, event
        return digest_of(docker_client, ref, repo)

    yield ref, build
    import docker

    for image_id in built:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(image_id, force=True)


def test_a_moved_tag_is_image_drift_and_up_frozen_pulls_the_locked_digest(
    cli: Any, docker_client: Any, instance: str, moving_tag: tuple[str, Any], tmp_path: Path,
) -> None:
    import docker

    ref, build = moving_tag
    repo = ref.rsplit(":", 1)[0]
    lock = str(tmp_path / "llmctl.lock")
    port = free_port(24000)
    up = ["up", "ollama", "--name", instance, "--port", str(port), "--image", ref,
          "--timeout", "60", "--progress", "none", "--json"]
    first = build("one")
    started = ok(cli(*up))
    url = started["endpoint"]
    ok(cli("pull", "smollm2:135m", "--endpoint", url, "--progress", "none", "--json"))

    locked = ok(cli("lock", instance, "-o", lock, "--json"))["lock"]
    image = locked["servers"][0]["image"]
    assert image == {"ref": ref, "repository": repo, "digest": first, "local": False,
                     "id": docker_client.images.get(ref).id}
    assert cli("verify", "--lock", lock).code == 0

    # The tag moves in the registry; a machine without the image (a CI runner) gets the new
    # one by tag.
    second = build("two")
    assert second != first
    assert cli("down", "ollama", "--name", instance).code == 0
    for image_id in {docker_client.images.get(ref).id, image["id"]}:
        docker_client.images.remove(image_id, force=True)
    ok(cli(*up))  # pulls the tag from the registry: the second image
    res = cli("verify", "--lock", lock, "--json")
    assert res.code == 1, res.stderr
    (moved,) = res.json()["result"]["drift"]
    assert (moved["kind"], moved["server"], moved["locked"], moved["found"]) == (
        "image-moved", instance, first, second)
    human = cli("verify", "--lock", lock)
    assert human.code == 1
    assert f"image-moved: {instance}: image {ref} moved: the container runs {second[:19]}" \
        in human.stdout

    # --frozen will not replace the running container on its own...
    res = cli(*up, "--frozen", "--lock", lock)
    assert res.code == 5, res.stderr
    assert "not the image the lock pins" in res.json()["error"]["message"]
    # ...and with --recreate pulls the locked digest from the registry and runs it.
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{repo}@{first}")
    frozen = ok(cli(*up, "--frozen", "--lock", lock, "--recreate"))
    assert frozen["frozen"]["image"] == f"{repo}@{first}"
    assert [(m["name"], m["action"]) for m in frozen["frozen"]["models"]] == [
        ("smollm2:135m", "present")]  # the volume was kept
    pulled = docker_client.images.get(f"{repo}@{first}")
    assert pulled.id == image["id"]
    c = docker_client.containers.get(f"llmctl-{instance}")
    assert c.attrs["Config"]["Image"] == f"{repo}@{first}"
    assert c.labels["io.llmctl.image-ref"] == ref
    assert cli("verify", "--lock", lock).code == 0
    # The lock of a frozen container is the same lock.
    again = str(tmp_path / "again.lock")
    assert cli("lock", instance, "-o", again).code == 0
    assert Path(again).read_bytes() == Path(lock).read_bytes()


def test_re_pushed_models_on_ollama_and_model_runner(
    cli: Any, ollama_up: tuple[str, str], runner_image: str, clean_runner: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    instance, ollama_url = ollama_up
    env = {**docker_config(tmp_path, plugins=False), "LLMCTL_MODEL_RUNNER_IMAGE": runner_image}
    port = free_port(34000)
    runner_url = f"http://127.0.0.1:{port}"
    ok(cli("up", "model-runner", "--tcp", str(port), "--gpu", "none", "--json", env=env))
    for model, url in (("smollm2:135m", ollama_url), ("ai/smollm2:360M-Q4_K_M", runner_url)):
        ok(cli("pull", model, "--endpoint", url, "--progress", "none", "--json", env=env))

    lock = str(tmp_path / "llmctl.lock")
    ok(cli("lock", instance, "model-runner", "-o", lock, "--json", env=env))
    doc = json.loads(Path(lock).read_text())
    servers = {s["name"]: s for s in doc["servers"]}
    (o,) = servers[instance]["models"]
    (r,) = servers["model-runner"]["models"]
    tags = httpx.get(f"{ollama_url}/api/tags").json()["models"]
    assert o["digest"] == "sha256:" + tags[0]["digest"] and o["pull_by_digest"] is False
    # the manifest was read out of the container (archive API) and matches that digest
    assert [w["media_type"] for w in o["weights"]] == ["application/vnd.ollama.image.model"]
    assert o["weights"][0]["size"] == 128 << 10
    runner_models = httpx.get(f"{runner_url}/models").json()
    assert (r["name"], r["digest"], r["pull_by_digest"]) == (
        "ai/smollm2:360M-Q4_K_M", runner_models[0]["id"], True)
    again = str(tmp_path / "again.lock")
    ok(cli("lock", instance, "model-runner", "-o", again, "--json", env=env))
    assert Path(again).read_bytes() == Path(lock).read_bytes()  # the same bytes
    assert cli("verify", "--lock", lock, env=env).code == 0

    # The registries re-push both names; a plain pull takes the new bytes.
    for url, model in ((ollama_url, "smollm2:135m"), (runner_url, "ai/smollm2:360M-Q4_K_M")):
        httpx.post(f"{url}/llmfake/registry", json={"model": model, "revision": 2}
                   ).raise_for_status()
        ok(cli("pull", model, "--endpoint", url, "--progress", "none", "--json", env=env))
    res = cli("verify", "--lock", lock, "--json", env=env)
    assert res.code == 1
    drift = {(d["server"], d["subject"]): d for d in res.json()["result"]["drift"]}
    assert set(drift) == {(instance, "smollm2:135m"), ("model-runner", "ai/smollm2:360M-Q4_K_M")}
    assert all(d["kind"] == "model-repushed" and d["locked"] != d["found"]
               for d in drift.values())
    assert drift[(instance, "smollm2:135m")]["locked"] == o["digest"]

    # --frozen: Model Runner takes the locked digest back; Ollama cannot, and says so.
    res = cli("pull", "--frozen", "--lock", lock, "--progress", "none", env=env)
    assert res.code == 1, res.stderr
    assert f"{instance}: model smollm2:135m here is sha256:" in res.stderr
    assert "ollama/ollama#6886" in res.stderr and "Nothing was removed" in res.stderr
    now = {m["tags"][0]: m["id"] for m in httpx.get(f"{runner_url}/models").json()
           if m.get("tags")}
    assert now["ai/smollm2:360M-Q4_K_M"] == r["digest"]
    res = cli("verify", "--lock", lock, "--json", env=env)
    assert [(d["kind"], d["server"]) for d in res.json()["result"]["drift"]] == [
        ("model-repushed", instance)]

    # up --frozen on the runner: the runner itself is reused, the missing model comes back by
    # digest (the registry's tag still names the re-pushed bytes).
    assert cli("rm", "ai/smollm2:360M-Q4_K_M", "--endpoint", runner_url, "--force",
               env=env).code == 0
    up = ok(cli("up", "model-runner", "--tcp", str(port), "--frozen", "--lock", lock, "--json",
                env=env))
    assert up["action"] == "reused"
    assert [(m["name"], m["action"]) for m in up["frozen"]["models"]] == [
        ("ai/smollm2:360M-Q4_K_M", "pulled by digest")]
    now = {m["tags"][0]: m["id"] for m in httpx.get(f"{runner_url}/models").json()
           if m.get("tags")}
    assert now["ai/smollm2:360M-Q4_K_M"] == r["digest"]

    # Ollama gets the locked bytes when its registry serves them again.
    httpx.post(f"{ollama_url}/llmfake/registry", json={"model": "smollm2:135m", "revision": 1}
               ).raise_for_status()
    assert cli("rm", "smollm2:135m", "--endpoint", ollama_url, env=env).code == 0
    res = cli("pull", "--frozen", "--lock", lock, "--progress", "none", env=env)
    assert res.code == 0, res.stderr
    assert f"{instance}: smollm2:135m pulled" in res.stdout
    assert cli("verify", "--lock", lock, env=env).code == 0
    assert cli("down", "model-runner", "--volumes", "--yes", env=env).code == 0

