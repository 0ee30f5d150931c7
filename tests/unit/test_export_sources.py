"""Where an export's services come from: a managed container is rebuilt from its options
label, checked against its spec hash; a profile is planned without the engine.

The containers are made by llmctl's own planner and started on the in-memory engine
(tests/fakes/engine.py), which keeps their labels as Docker does.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from llmctl import lifecycle
from llmctl.errors import ConflictError, EngineUnavailable, NotFoundError, UsageError
from llmctl.export import sources
from llmctl.export.model import GpuRequest
from llmctl.plan import (
    LABEL_OPTIONS,
    LABEL_SECRETS,
    LABEL_SPEC_HASH,
    UpOptions,
    parse_options_label,
)
from llmctl.profiles import load_profile
from llmctl.targets.base import Events, UpRequest
from tests.fakes.engine import FakeEngine

EVENTS = Events()


def started(engine: FakeEngine, profile: str, **opts: object) -> str:
    """Plan `up PROFILE` with ``opts`` as llmctl does and start it on ``engine``."""
    planned = lifecycle.plan_up(engine, load_profile(profile), UpOptions(**opts))  # type: ignore[arg-type]
    engine.images.add(planned.spec.image)
    engine.run(planned.spec)
    return planned.spec.name


def test_the_options_label_holds_the_options_and_never_a_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    engine = FakeEngine()
    name = started(engine, "vllm", port=18000, model="Qwen/Qwen3-0.6B", gpus="all",
                   env={"VLLM_LOGGING_LEVEL": "DEBUG", "MY_API_KEY": "sk-also-secret"})
    labels = engine.get(name).labels  # type: ignore[union-attr]
    doc = parse_options_label(labels[LABEL_OPTIONS])
    assert doc == {"v": 1, "bind": "127.0.0.1", "port": 18000, "gpus": "all",
                   "image": "vllm/vllm-openai:v0.33.0", "model": "Qwen/Qwen3-0.6B",
                   "env": ["VLLM_LOGGING_LEVEL=DEBUG"], "secret_env": ["MY_API_KEY"]}
    text = json.dumps(labels)
    assert "hf_secret_value_123" not in text and "sk-also-secret" not in text


def test_a_container_is_exported_as_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rebuilt from the label: the same spec (hash), secrets named, the profile's declared
    secret too, even where this machine has no token."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")
    engine = FakeEngine()
    name = started(engine, "llamacpp", port=18080, name="t-llama",
                   model="ggml-org/SmolLM2-360M-Instruct-GGUF", volume="t-llama-cache",
                   env={"LLAMA_ARG_THREADS": "2", "SERVICE_TOKEN": "tok"})
    info = engine.get(name)
    assert info is not None
    service = sources.from_container(info, engine, EVENTS)
    assert service.source == f"container {name}"
    assert service.spec.labels[LABEL_SPEC_HASH] == info.labels[LABEL_SPEC_HASH]
    assert service.spec.host_port == 18080 and service.name == "t-llama"
    assert service.spec.env["LLAMA_ARG_THREADS"] == "2"
    assert "SERVICE_TOKEN" not in service.spec.env and service.spec.secrets == {}
    assert service.secrets == ("HF_TOKEN", "SERVICE_TOKEN")
    assert [v.name for v in service.spec.volumes] == ["t-llama-cache"]
    assert service.models == ("ggml-org/SmolLM2-360M-Instruct-GGUF",)


def test_exporting_the_container_equals_exporting_the_profile_with_its_options() -> None:
    engine = FakeEngine()
    name = started(engine, "ollama", port=18435, name="t-same", env={"OLLAMA_DEBUG": "1"})
    info = engine.get(name)
    assert info is not None
    from_container = sources.from_container(info, engine, EVENTS)
    from_profile = sources.from_profile(
        "ollama", UpRequest(name="", port=18435, instance="t-same", env=("OLLAMA_DEBUG=1",)),
        EVENTS)

    def without_salt(labels: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in labels.items() if k != LABEL_SECRETS}

    assert replace(from_container.spec, labels={}) == replace(from_profile.spec, labels={})
    assert without_salt(from_container.spec.labels) == without_salt(from_profile.spec.labels)


def test_a_profile_changed_since_the_container_started_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "mine.yaml"
    base = ("name: mine\nkind: openai\nimage: ghcr.io/me/server:1.0\ncontainer_port: 8080\n"
            "host_port: 18081\nvolumes:\n  - name: mine-data\n    target: /data\n")
    profile.write_text(base)
    monkeypatch.setenv("LLMCTL_PROFILES_DIR", str(tmp_path))
    engine = FakeEngine()
    name = started(engine, "mine")
    info = engine.get(name)
    assert info is not None
    assert sources.from_container(info, engine, EVENTS).spec.image == "ghcr.io/me/server:1.0"
    profile.write_text(base + "env:\n  NEW_SETTING: '1'\n")
    with pytest.raises(ConflictError) as caught:
        sources.from_container(info, engine, EVENTS)
    assert caught.value.details["reason"] == "spec-changed"
    assert "--recreate" in (caught.value.hint or "")


def test_a_container_without_the_label_is_exported_when_its_defaults_match() -> None:
    """Made by an older llmctl: image, port and volume are read from the container; with
    other options (here a model) the hash tells they cannot be read back."""
    engine = FakeEngine()
    plain = started(engine, "ollama", port=18436, name="t-old")
    info = engine.get(plain)
    assert info is not None
    old = replace(info, labels={k: v for k, v in info.labels.items() if k != LABEL_OPTIONS})
    assert sources.from_container(old, engine, EVENTS).spec.host_port == 18436

    other = started(engine, "localai", port=18082, name="t-old2", model="phi-2")
    info = engine.get(other)
    assert info is not None
    old = replace(info, labels={k: v for k, v in info.labels.items() if k != LABEL_OPTIONS})
    with pytest.raises(ConflictError) as caught:
        sources.from_container(old, engine, EVENTS)
    assert caught.value.details["reason"] == "no-options-label"


def test_the_model_runner_container_keeps_its_image_and_port() -> None:
    from llmctl.targets.model_runner.container import plan_runner_container

    engine = FakeEngine()
    spec = plan_runner_container(12440, "cuda", image="docker/model-runner:v1.0.0-cuda",
                                 gateway="172.17.0.1")
    engine.images.add(spec.image)
    engine.run(spec)
    info = engine.get(spec.name)
    assert info is not None
    service = sources.from_container(info, engine, EVENTS)
    assert service.spec.image == "docker/model-runner:v1.0.0-cuda"
    assert [(p.host_ip, p.host_port) for p in service.spec.ports] == [("127.0.0.1", 12440)]
    assert service.spec.gpus and service.kind == "model-runner"
    # --gpu of a cluster picks the image variant instead of what runs here
    amd = sources.from_container(info, engine, EVENTS, GpuRequest("amd", 1))
    assert amd.spec.image.endswith("-rocm")


def test_collect_takes_every_managed_server_without_names() -> None:
    engine = FakeEngine()
    started(engine, "ollama", port=18437, name="t-b")
    started(engine, "ollama", port=18438, name="t-a")
    found = sources.collect([], UpRequest(name=""), options_given=False,
                            connect=lambda: engine, events=EVENTS)  # type: ignore[arg-type,return-value]
    assert [s.name for s in found.services] == ["t-a", "t-b"]
    assert all(s.source.startswith("container ") for s in found.services)


def test_collect_errors() -> None:
    empty = FakeEngine()
    with pytest.raises(NotFoundError):
        sources.collect([], UpRequest(name=""), options_given=False,
                        connect=lambda: empty, events=EVENTS)  # type: ignore[arg-type,return-value]
    with pytest.raises(UsageError, match="exactly one PROFILE"):
        sources.collect(["ollama", "vllm"], UpRequest(name="", port=1), options_given=True,
                        connect=lambda: empty, events=EVENTS)  # type: ignore[arg-type,return-value]

    def down() -> FakeEngine:
        raise EngineUnavailable("the Docker daemon is not running")

    with pytest.raises(EngineUnavailable):
        sources.collect([], UpRequest(name=""), options_given=False, connect=down,  # type: ignore[arg-type]
                        events=EVENTS)
    found = sources.collect(["ollama"], UpRequest(name=""), options_given=False,
                            connect=down, events=EVENTS)  # type: ignore[arg-type]
    assert found.services[0].source == "profile"
    assert "not running" in found.notes[0]
    with pytest.raises(NotFoundError, match="no profile named"):
        sources.collect(["t-nothing"], UpRequest(name=""), options_given=False,
                        connect=down, events=EVENTS)  # type: ignore[arg-type]


def test_a_secret_env_without_value_needs_no_value_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`--env HF_TOKEN` for an export is a name: the variable need not be set here."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("MY_SECRET", raising=False)
    service = sources.from_profile(
        "tgi", UpRequest(name="", model="HuggingFaceTB/SmolLM2-360M-Instruct",
                         env=("MY_SECRET",)), EVENTS)
    assert service.secrets == ("HF_TOKEN", "MY_SECRET")
    with pytest.raises(UsageError, match="not set"):
        sources.from_profile("tgi", UpRequest(name="", model="x/y", env=("PLAIN_THING",)),
                             EVENTS)


def test_every_option_of_up_survives_the_round_trip(tmp_path: Path) -> None:
    """--image, --port, --bind, --volume (a host folder), --env, --gpus, --model-file and
    --model (the alias) of a running container come back as they were."""
    gguf = tmp_path / "models" / "smol.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + bytes(60))
    cache = tmp_path / "cache"
    cache.mkdir()
    engine = FakeEngine()
    name = started(engine, "llamacpp", port=18095, bind="0.0.0.0", name="t-all",
                   image="ghcr.io/ggml-org/llama.cpp:server-cuda-b11521", gpus="all",
                   volume=str(cache), env={"LLAMA_ARG_CTX_SIZE": "4096"},
                   model="smol-local", model_file=str(gguf))
    info = engine.get(name)
    assert info is not None
    s = sources.from_container(info, engine, EVENTS)
    assert s.spec.labels[LABEL_SPEC_HASH] == info.labels[LABEL_SPEC_HASH]
    assert (s.spec.bind, s.spec.host_port, s.spec.gpus) == ("0.0.0.0", 18095, True)
    assert s.spec.image == "ghcr.io/ggml-org/llama.cpp:server-cuda-b11521"
    assert {(m.source, m.target, m.read_only) for m in s.spec.mounts} == {
        (str(gguf), "/models/smol.gguf", True), (str(cache), "/root/.cache/llama.cpp", False)}
    assert s.spec.command[-4:] == ("-m", "/models/smol.gguf", "--alias", "smol-local")
    assert s.spec.env["LLAMA_ARG_CTX_SIZE"] == "4096"


def test_the_runner_is_named_as_its_target() -> None:
    from llmctl.export.model import RUNNER
    from llmctl.targets.model_runner.container import NAME

    assert RUNNER == NAME
