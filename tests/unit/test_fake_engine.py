"""The in-memory engine (tests/fakes/engine.py) offers what the real one does: the public
methods of llmctl.engine.docker_engine.DockerEngine with the same parameters, and its attributes.
tests/integration/test_fake_engine.py runs one scenario on both and compares the outcomes."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from llmctl.engine.docker_engine import DockerEngine as Engine
from llmctl.engine.model import ContainerInfo
from tests.fakes.engine import FakeEngine

# The test's own doors: containers someone else made, a container whose process ends, and
# a wait until the code under test follows a container's events.
FAKE_ONLY = {"add", "exit", "wait_watched"}


def public(cls: type) -> dict[str, Any]:
    return {name: member for name, member in vars(cls).items() if not name.startswith("_")}


def shape(fn: Any) -> list[tuple[str, Any, Any]]:
    """Parameter names, kinds and defaults (annotations are strings here: left out)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_fake_has_every_public_method_of_the_real_engine_with_its_parameters() -> None:
    real, fake = public(Engine), public(FakeEngine)
    assert set(fake) - set(real) == FAKE_ONLY
    assert set(real) <= set(fake), set(real) - set(fake)
    for name, member in real.items():
        if isinstance(member, property):
            assert isinstance(fake[name], property), name
        else:
            assert shape(fake[name]) == shape(member), name


def test_the_fake_has_the_real_engines_attributes() -> None:
    engine = FakeEngine()
    assert engine.target.host == "unix:///var/run/docker.sock" and engine.address_host == \
        "127.0.0.1"
    assert engine.client.info()["OSType"] == "linux"  # recorded documents
    assert engine.client.version()["ApiVersion"] == "1.41"
    assert engine.facts().kind == "Docker Engine"


def test_facts_given_are_not_mistaken_for_recorded_documents() -> None:
    engine = FakeEngine(FakeEngine().facts())
    assert engine.facts().kind == "Docker Engine"
    with pytest.raises(AssertionError, match="recorded"):
        engine.client.info()


def test_a_read_only_engine_fails_the_test_on_any_change() -> None:
    c = ContainerInfo("c1", "c1", "exited", "img", volumes=("v1",))
    engine = FakeEngine(containers=[c], read_only=True)
    assert engine.get("c1") == c and engine.image_present("img") and engine.volume_labels("v1")
    for call in (lambda: engine.start("c1"), lambda: engine.remove("c1"),
                 lambda: engine.remove_volume("v1"), lambda: engine.pull_image("img"),
                 engine.ensure_network, lambda: engine.ensure_volume("v2", {})):
        with pytest.raises(AssertionError, match="a dry run"):
            call()
    assert engine.containers == {"c1": c} and engine.removed == []
