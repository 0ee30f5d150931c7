"""The in-memory engine (tests/fakes/engine.py) answers as the real one does: one scenario of
containers, ports, volumes and images runs on the real Docker engine (llmctl.engine.connect)
and on the fake, and every step's outcome (return value or error, with its details) must be
the same. Names start with ``t-``; what the real run made is removed at the end."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from llmctl.engine import connect
from llmctl.plan import (
    LABEL_INSTANCE,
    LABEL_MANAGED,
    ContainerFile,
    ContainerSpec,
    PortBinding,
    VolumeMount,
)
from tests.fakes.engine import FakeEngine
from tests.integration import infra
from tests.support import publish_port

pytestmark = pytest.mark.docker

ABSENT = "llmctl-test/absent:never-built"


SECRET_FILE = ContainerFile("/etc/llmctl-test/secret.conf", b"key = s3cret\n", 0o600)


def spec(name: str, instance: str, image: str, port: int,
         volume: str | None = None) -> ContainerSpec:
    return ContainerSpec(
        name=name, instance=instance, profile="ollama", api="ollama", image=image, command=(),
        env={}, ports=(PortBinding("127.0.0.1", port, 11434),),
        volumes=(VolumeMount(volume, "/root/.ollama"),) if volume else (), gpus=False,
        labels={LABEL_MANAGED: "true", LABEL_INSTANCE: instance, "io.llmctl.test": "1"},
        restart="no", files=(SECRET_FILE,))


def outcome(call: Any) -> Any:
    """What a step gave: its value, or its error's class, details and message."""
    try:
        return ("ok", call())
    except Exception as exc:
        details = getattr(exc, "details", None)
        return (type(exc).__name__, details, getattr(exc, "message", None))


def scenario(engine: Any, image: str, instance: str, port: int) -> list[tuple[str, Any]]:
    name, other, volume = f"llmctl-{instance}", f"llmctl-{instance}-b", f"{instance}-data"
    first = spec(name, instance, image, port, volume)

    def mine() -> list[tuple[str, str, int, int]]:
        return sorted((c.name, p.host_ip, p.host_port, p.container_port)
                      for c, p in engine.published_ports() if c.name.startswith(name))

    def seen(info: Any) -> Any:
        return info and (info.name, info.state, info.image, info.ports, info.volumes,
                         info.exit_code,
                         {k: v for k, v in info.labels.items() if k.startswith("io.llmctl")})

    steps: list[tuple[str, Any]] = [
        ("get missing", outcome(lambda: engine.get(name))),
        ("image present", outcome(lambda: engine.image_present(image))),
        ("image absent", outcome(lambda: engine.image_present(ABSENT))),
        ("run", outcome(lambda: seen(engine.run(first)))),
        ("get", outcome(lambda: seen(engine.get(name)))),
        ("runs its image's ID", outcome(
            lambda: engine.get(name).image_id == engine.image_digests(image).id != "")),
        ("digests of an absent image", outcome(lambda: engine.image_digests(ABSENT))),
        ("read a missing file", outcome(lambda: engine.read_file(name, "/no/such/file"))),
        ("read in a missing container", outcome(
            lambda: engine.read_file(f"{name}-none", "/etc/hostname"))),
        ("list managed", outcome(lambda: [c.name for c in engine.list_managed(
            **{LABEL_INSTANCE: instance})])),
        ("in list_all", outcome(lambda: name in [c.name for c in engine.list_all()])),
        ("published", outcome(mine)),
        ("network", outcome(lambda: engine.has_network("llmctl"))),
        ("file written before the start", outcome(
            lambda: engine.read_file(name, SECRET_FILE.path))),
        ("file absent", outcome(lambda: engine.read_file(name, "/etc/llmctl-test/none"))),
        ("file of no container", outcome(
            lambda: engine.read_file(f"{name}-none", SECRET_FILE.path))),
        ("run again", outcome(lambda: engine.run(first))),
        ("run on a taken port", outcome(lambda: engine.run(spec(other, instance, image, port)))),
        ("left nothing", outcome(lambda: engine.get(other))),
        ("run an absent image", outcome(lambda: engine.run(
            spec(other, instance, ABSENT, publish_port())))),
        ("volume labels", outcome(lambda: engine.volume_labels(volume))),
        ("volume in use", outcome(lambda: engine.remove_volume(volume))),
        ("logs of none", outcome(lambda: engine.logs_tail(f"{name}-none"))),
        ("remove", outcome(lambda: engine.remove(name, stop_timeout=1))),
        ("remove again", outcome(lambda: engine.remove(name))),
        ("get removed", outcome(lambda: engine.get(name))),
        ("start removed", outcome(lambda: engine.start(name))),
        ("remove volume", outcome(lambda: engine.remove_volume(volume))),
        ("remove volume again", outcome(lambda: engine.remove_volume(volume))),
        ("volume gone", outcome(lambda: engine.volume_labels(volume))),
    ]
    return steps


@pytest.fixture
def instance(docker_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"{infra.TEST_PREFIX}{uuid.uuid4().hex[:8]}"
    yield name
    import docker

    for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}={name}"}):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True)
    with contextlib.suppress(docker.errors.APIError):
        docker_client.volumes.get(f"{name}-data").remove(force=True)


def test_the_fake_engine_answers_as_the_real_one(docker_client, fake_image: str,  # type: ignore[no-untyped-def]
                                                 instance: str) -> None:
    port = publish_port()
    real = scenario(connect(), fake_image, instance, port)
    fake = scenario(FakeEngine(images={fake_image}), fake_image, instance, port)
    assert [step for step, _ in real] == [step for step, _ in fake]
    for (step, want), (_, got) in zip(real, fake, strict=True):
        assert got == want, step
    # and the scenario says something: these are the real engine's answers
    answers = dict(real)
    assert answers["run"][0] == "ok" and answers["run"][1][1] == "running"
    assert answers["file written before the start"] == ("ok", SECRET_FILE.content)
    assert answers["file absent"] == answers["file of no container"] == ("ok", None)
    assert answers["run again"][:2] == ("ConflictError", {"reason": "name"})
    assert answers["run on a taken port"][:2] == ("PortTakenOnStart", {"port": port})
    assert answers["run an absent image"][0] == "NotFoundError"
    assert answers["volume in use"][0] == "ConflictError"
    assert answers["start removed"][0] == "NotFoundError"
    assert answers["remove"] == ("ok", True) and answers["remove again"] == ("ok", False)
