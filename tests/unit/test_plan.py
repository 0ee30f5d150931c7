"""The container spec for the Ollama profile, computed without any I/O."""

from __future__ import annotations

import pytest

from llmctl.errors import UsageError
from llmctl.plan import UpOptions, parse_env, plan_container, validate_bind
from llmctl.profiles import load_profile


@pytest.fixture
def ollama():  # type: ignore[no-untyped-def]
    return load_profile("ollama")


def test_default_ollama_spec(ollama) -> None:  # type: ignore[no-untyped-def]
    spec = plan_container(ollama, UpOptions(), host_port=11435, gpu_available=False)
    assert spec.name == "llmctl-ollama" and spec.instance == "ollama"
    assert spec.image == ollama.image
    assert [(p.host_ip, p.host_port, p.container_port) for p in spec.ports] == [
        ("127.0.0.1", 11435, 11434)
    ]
    assert [(v.name, v.target) for v in spec.volumes] == [("ollama-data", "/root/.ollama")]
    assert spec.gpus is False and spec.exposed is False
    labels = spec.labels
    assert labels["io.llmctl.managed"] == "true"
    assert labels["io.llmctl.profile"] == "ollama"
    assert labels["io.llmctl.instance"] == "ollama"
    assert labels["io.llmctl.api"] == "ollama"
    assert len(labels["io.llmctl.spec-hash"]) == 16


def test_spec_hash_changes_with_what_matters(ollama) -> None:  # type: ignore[no-untyped-def]
    base = plan_container(ollama, UpOptions(), host_port=11435, gpu_available=False)
    same = plan_container(ollama, UpOptions(), host_port=11435, gpu_available=False)
    other_port = plan_container(ollama, UpOptions(), host_port=11436, gpu_available=False)
    other_env = plan_container(ollama, UpOptions(env={"A": "1"}), host_port=11435,
                               gpu_available=False)
    h = "io.llmctl.spec-hash"
    assert base.labels[h] == same.labels[h]
    assert len({base.labels[h], other_port.labels[h], other_env.labels[h]}) == 3


def test_named_instance_gets_its_own_volume(ollama) -> None:  # type: ignore[no-untyped-def]
    spec = plan_container(ollama, UpOptions(name="work"), host_port=11500, gpu_available=False)
    assert spec.name == "llmctl-work"
    assert spec.volumes[0].name == "work-ollama-data"
    explicit = plan_container(ollama, UpOptions(name="work", volume="shared"), host_port=1,
                              gpu_available=False)
    assert explicit.volumes[0].name == "shared"


@pytest.mark.parametrize(("gpus", "available", "expected"),
                         [("auto", True, True), ("auto", False, False), ("all", False, True),
                          ("none", True, False)])
def test_gpu_choice(ollama, gpus: str, available: bool, expected: bool) -> None:  # type: ignore[no-untyped-def]
    spec = plan_container(ollama, UpOptions(gpus=gpus), host_port=1, gpu_available=available)
    assert spec.gpus is expected


def test_exposed_bind_is_flagged(ollama) -> None:  # type: ignore[no-untyped-def]
    spec = plan_container(ollama, UpOptions(bind="0.0.0.0"), host_port=1, gpu_available=False)
    assert spec.exposed is True and spec.to_dict()["exposed"] is True


@pytest.mark.parametrize("bind", ["localhost", "my-host", "300.1.1.1", ""])
def test_bind_must_be_a_literal_ip(bind: str) -> None:
    # A host name makes the daemon publish on every interface: refuse it.
    with pytest.raises(UsageError):
        validate_bind(bind)


@pytest.mark.parametrize("bad", ["NOEQUALS", "=x", "1A=b", "A B=c"])
def test_env_items_are_validated(bad: str) -> None:
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_env([bad])


def test_env_allows_equals_in_values() -> None:
    assert parse_env(["A=b=c", "EMPTY="]) == {"A": "b=c", "EMPTY": ""}


@pytest.mark.parametrize(("opts", "msg"), [
    (UpOptions(name="Bad Name"), "--name"),
    (UpOptions(image="ollama/ollama"), "no tag"),
    (UpOptions(volume="bad/vol"), "--volume"),
    (UpOptions(gpus="some"), "--gpus"),
])
def test_bad_options(ollama, opts: UpOptions, msg: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=msg):
        plan_container(ollama, opts, host_port=11435, gpu_available=False)
