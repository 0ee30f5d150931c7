"""`llmctl lock`, `verify` and `--frozen` against servers: the in-memory engine
(tests/fakes/engine.py) stands in for the daemon (containers, images by digest, a file in a
container), and real HTTP servers on loopback answer as Ollama and Docker Model Runner
(tests/fakes/llmfake.py, faithful to reference/server-apis.md) with fixed digests; their
registry re-pushes a model on request (a test-control route)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmctl.endpoint import Endpoint
from llmctl.engine.model import ContainerInfo, ImageDigests, PublishedPort
from llmctl.lock import capture, drift, frozen
from llmctl.lock.model import LockedImage, LockedServer, LockFile, parse
from llmctl.plan import (
    LABEL_API,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_PORT,
    LABEL_PROFILE,
    LABEL_SECRETS,
    LABEL_SPEC_HASH,
    secrets_label,
)
from tests.fakes.engine import FakeEngine
from tests.fakes.llmfake import FakeHandle, start_fake

IMAGE, RUNNER_IMAGE = "ollama/ollama:0.40.2", "docker/model-runner:v1.2.6"
OLD, NEW, RUNNER_ID = ("sha256:" + c * 64 for c in "abc")
DIGEST_A, DIGEST_B = ("sha256:" + c * 64 for c in "de")
SECRET = "hf_s3cr3t-value-never-written"


def container(instance: str, profile: str, api: str, handle: FakeHandle, cport: int, *,
              image: str, image_id: str, env: tuple[str, ...] = (),
              secrets: dict[str, str] | None = None, state: str = "running") -> ContainerInfo:
    labels = {LABEL_MANAGED: "true", LABEL_PROFILE: profile, LABEL_INSTANCE: instance,
              LABEL_API: api, LABEL_PORT: str(cport), LABEL_SPEC_HASH: f"hash-{instance}",
              LABEL_SECRETS: secrets_label(secrets or {}, "00112233")}
    name = "docker-model-runner" if profile == "model-runner" else f"llmctl-{instance}"
    return ContainerInfo(
        id=name, name=name, state=state, image=image, labels=labels,
        ports=(PublishedPort("127.0.0.1", handle.port, cport),),
        volumes=(f"{instance}-data",), image_id=image_id,
        env_keys=tuple(sorted({"PATH", "OLLAMA_HOST", *env})))


@pytest.fixture
def ollama() -> Iterator[FakeHandle]:
    h = start_fake("ollama", port=0, pulled="smollm2:135m")
    yield h
    h.stop()


@pytest.fixture
def runner() -> Iterator[FakeHandle]:
    h = start_fake("model-runner", port=0, pulled="ai/smollm2:latest")
    yield h
    h.stop()


def manifest_file(handle: FakeHandle, model: str, tag: str) -> bytes:
    path = Path(handle.data_dir) / "models/manifests/registry.ollama.ai/library" / model / tag
    return path.read_bytes()


@pytest.fixture
def engine(ollama: FakeHandle, runner: FakeHandle) -> FakeEngine:
    e = FakeEngine()
    e.add(container("ollama", "ollama", "ollama", ollama, 11434, image=IMAGE, image_id=OLD,
                    env=("HF_TOKEN",), secrets={"HF_TOKEN": SECRET}),
          container("model-runner", "model-runner", "openai", runner, 12434,
                    image=RUNNER_IMAGE, image_id=RUNNER_ID))
    e.digests[OLD] = ImageDigests(OLD, (f"ollama/ollama@{DIGEST_A}",), ("PATH", "OLLAMA_HOST"))
    e.digests[RUNNER_ID] = ImageDigests(RUNNER_ID, ("docker/model-runner@" + DIGEST_B,))
    e.files[("llmctl-ollama", "/root/.ollama/models/manifests/registry.ollama.ai/library/"
             "smollm2/135m")] = manifest_file(ollama, "smollm2", "135m")
    return e


def endpoints(ollama: FakeHandle) -> Any:
    ep = Endpoint("local", "ollama", ollama.url.replace("127.0.0.1", "localhost"),
                  "smollm2:135m", llm_type="ollama", bearer_token="tok-never-written")
    elsewhere = Endpoint("far", "openai", "http://10.1.2.3:8000/v1", "x")
    return lambda: [(ep, True), (elsewhere, False)]


def take(engine: FakeEngine, ollama: FakeHandle) -> LockFile:
    return capture.capture(engine, endpoints=endpoints(ollama)).lock


def check(engine: FakeEngine, lock: LockFile, ollama: FakeHandle) -> drift.VerifyReport:
    return drift.verify(engine, lock, endpoints=endpoints(ollama))


def repush(handle: FakeHandle, model: str, revision: int = 2) -> None:
    r = httpx.post(f"{handle.url}/llmfake/registry", json={"model": model, "revision": revision})
    assert r.status_code == 200, r.text


def pull(handle: FakeHandle, model: str) -> None:
    if handle.kind == "ollama":
        r = httpx.post(f"{handle.url}/api/pull", json={"model": model, "stream": False})
    else:
        r = httpx.post(f"{handle.url}/models/create", json={"from": model},
                       headers={"Accept": "application/json"})
    assert r.status_code == 200 and "error" not in r.text, r.text


def tags(handle: FakeHandle) -> dict[str, str]:
    if handle.kind == "ollama":
        return {m["name"]: "sha256:" + m["digest"]
                for m in httpx.get(f"{handle.url}/api/tags").json()["models"]}
    return {t: m["id"] for m in httpx.get(f"{handle.url}/models").json()
            for t in m.get("tags") or [m["id"]]}


# --- lock ------------------------------------------------------------------------------------


def test_the_lock_records_images_options_models_and_endpoints(
        engine: FakeEngine, ollama: FakeHandle, runner: FakeHandle) -> None:
    lock = take(engine, ollama)
    o, r = lock.server("ollama"), lock.server("model-runner")
    assert o is not None and r is not None
    assert o.image == LockedImage(IMAGE, OLD, "ollama/ollama", DIGEST_A)
    assert r.image is not None and r.image.pinned == f"docker/model-runner@{DIGEST_B}"
    assert o.options.port == ollama.port and o.options.bind == "127.0.0.1"
    assert o.options.volumes == ("ollama-data",)
    assert o.options.env_keys == ("HF_TOKEN",)  # PATH and OLLAMA_HOST are the image's own
    assert o.options.secret_env == ("HF_TOKEN",) and o.options.spec_hash == "hash-ollama"
    assert o.profile_hash and o.profile_hash.startswith("sha256:") and r.profile_hash is None
    (m,) = o.models
    # /api/tags gives 64 hex digits with no prefix; the lock has sha256:<hex>
    assert m.digest == tags(ollama)["smollm2:135m"] and not m.pull_by_digest
    (w,) = m.weights  # from the manifest in the container, checked against that digest
    assert w.media_type == "application/vnd.ollama.image.model" and w.size == 128 << 10
    assert (Path(ollama.data_dir) / "models/blobs" / w.digest.replace(":", "-")).is_file()
    (rm,) = r.models
    assert (rm.name, rm.digest, rm.pull_by_digest) == ("ai/smollm2:latest",
                                                       tags(runner)["ai/smollm2:latest"], True)
    assert [(e.name, e.server, e.default) for e in lock.endpoints] == [("local", "ollama", True)]
    text = lock.text()
    assert SECRET not in text and "tok-never-written" not in text
    assert parse(text) == lock


def test_two_locks_of_the_same_servers_are_the_same_bytes(
        engine: FakeEngine, ollama: FakeHandle) -> None:
    assert take(engine, ollama).text() == take(engine, ollama).text()


def test_a_named_server_that_cannot_be_locked_is_an_error_others_are_left_out(
        engine: FakeEngine, ollama: FakeHandle, runner: FakeHandle) -> None:
    from llmctl.errors import NotFoundError, ServerError

    runner.stop()
    with pytest.raises(ServerError, match="cannot lock model-runner: its models could not be"):
        capture.capture(engine, ["model-runner"], endpoints=endpoints(ollama))
    result = capture.capture(engine, endpoints=endpoints(ollama))
    assert [s.name for s in result.lock.servers] == ["ollama"]
    assert result.left_out and result.left_out[0].startswith("model-runner: its models")
    with pytest.raises(NotFoundError, match="no server named 'nope'"):
        capture.capture(engine, ["nope"])


def test_weights_are_left_out_when_the_manifest_does_not_match_the_digest(
        engine: FakeEngine, ollama: FakeHandle) -> None:
    key = next(iter(engine.files))
    engine.files[key] = engine.files[key].replace(b'"size"', b'"size" ')
    result = capture.capture(engine, endpoints=endpoints(ollama))
    assert result.lock.server("ollama").models[0].weights == ()  # type: ignore[union-attr]
    assert any("does not match the digest" in n for n in result.notes)


# --- verify ---------------------------------------------------------------------------------


def kinds(report: drift.VerifyReport) -> list[tuple[str, str, str]]:
    return [(d.kind, d.server, d.subject) for d in report.drift]


def test_verify_of_an_unchanged_environment_is_equal(
        engine: FakeEngine, ollama: FakeHandle) -> None:
    report = check(engine, take(engine, ollama), ollama)
    assert report.equal and report.drift == []
    assert (report.servers, report.models, report.endpoints) == (2, 2, 1)


def test_a_re_pushed_model_is_named_with_both_digests(
        engine: FakeEngine, ollama: FakeHandle, runner: FakeHandle) -> None:
    lock = take(engine, ollama)
    before = tags(ollama)["smollm2:135m"]
    repush(ollama, "smollm2:135m")
    pull(ollama, "smollm2:135m")
    repush(runner, "ai/smollm2:latest")
    pull(runner, "ai/smollm2:latest")
    report = check(engine, lock, ollama)
    assert kinds(report) == [("model-repushed", "model-runner", "ai/smollm2:latest"),
                             ("model-repushed", "ollama", "smollm2:135m")]
    o = report.drift[1]
    assert (o.locked, o.found) == (before, tags(ollama)["smollm2:135m"]) and o.locked != o.found
    assert "ollama/ollama#6886" in (o.fix or "")
    assert report.drift[0].fix == "llmctl pull --frozen"


def test_missing_and_extra_models(engine: FakeEngine, ollama: FakeHandle) -> None:
    lock = take(engine, ollama)
    httpx.request("DELETE", f"{ollama.url}/api/delete", json={"model": "smollm2:135m"})
    pull(ollama, "tinyllama")
    assert kinds(check(engine, lock, ollama)) == [
        ("model-missing", "ollama", "smollm2:135m"), ("model-extra", "ollama", "tinyllama:latest")]


def test_a_moved_image_and_changed_options(engine: FakeEngine, ollama: FakeHandle) -> None:
    from dataclasses import replace

    lock = take(engine, ollama)
    engine.digests[NEW] = ImageDigests(NEW, (f"ollama/ollama@{DIGEST_B}",))
    c = engine.containers["llmctl-ollama"]
    engine.containers["llmctl-ollama"] = replace(
        c, image_id=NEW, gpus=True, env_keys=(*c.env_keys, "OLLAMA_DEBUG"),
        ports=(PublishedPort("0.0.0.0", 1234, 11434),))
    report = check(engine, lock, ollama)
    assert ("image-moved", "ollama", "image") in kinds(report)
    moved = report.drift[0]
    assert (moved.locked, moved.found) == (DIGEST_A, DIGEST_B)
    assert "image ollama/ollama:0.40.2 moved" in moved.message
    assert moved.fix == "llmctl up ollama --frozen --recreate"
    assert {d.subject for d in report.drift if d.kind == "option-changed"} == {
        "port", "bind", "gpus", "env_keys"}
    # another reference altogether
    engine.containers["llmctl-ollama"] = replace(c, image="ollama/ollama:0.41.0", image_id=NEW)
    assert kinds(check(engine, lock, ollama))[0] == ("image-changed", "ollama", "image")


def test_a_changed_spec_with_the_same_listed_options(engine: FakeEngine, ollama: FakeHandle
                                                   ) -> None:
    from dataclasses import replace

    lock = take(engine, ollama)
    c = engine.containers["llmctl-ollama"]
    engine.containers[c.name] = replace(c, labels={**c.labels, LABEL_SPEC_HASH: "other"})
    (d,) = check(engine, lock, ollama).drift
    assert (d.kind, d.subject, d.locked, d.found) == ("option-changed", "spec", "hash-ollama",
                                                      "other")


def test_servers_gone_stopped_or_silent(engine: FakeEngine, ollama: FakeHandle,
                                        runner: FakeHandle) -> None:
    from dataclasses import replace

    lock = take(engine, ollama)
    del engine.containers["docker-model-runner"]
    c = engine.containers["llmctl-ollama"]
    engine.containers[c.name] = replace(c, state="exited")
    assert kinds(check(engine, lock, ollama)) == [("server-missing", "model-runner", "server"),
                                                  ("server-stopped", "ollama", "server")]
    engine.containers[c.name] = c
    ollama.stop()
    report = check(engine, lock, ollama)
    assert ("server-unreachable", "ollama", "models") in kinds(report)


def test_endpoint_entries_gone_or_changed(engine: FakeEngine, ollama: FakeHandle) -> None:
    lock = take(engine, ollama)
    moved = Endpoint("local", "openai", ollama.url + "/v1", "tinyllama")
    report = drift.verify(engine, lock, endpoints=lambda: [(moved, True)])
    assert [d.subject for d in report.drift] == ["local.url", "local.api_type", "local.model"]
    report = drift.verify(engine, lock, endpoints=lambda: [])
    assert kinds(report) == [("endpoint-missing", "ollama", "local")]


# --- frozen ---------------------------------------------------------------------------------


def test_image_pins_for_export(engine: FakeEngine, ollama: FakeHandle) -> None:
    assert frozen.image_pins(take(engine, ollama)) == {
        IMAGE: f"{IMAGE}@{DIGEST_A}", RUNNER_IMAGE: f"{RUNNER_IMAGE}@{DIGEST_B}"}
    elsewhere = LockFile("0", (LockedServer("x", "x", "openai", "c", None, LockedImage(
        "t/fake:dev", OLD, "127.0.0.1:5000/t/fake", DIGEST_A)),))
    assert frozen.image_pins(elsewhere) == {"t/fake:dev": f"127.0.0.1:5000/t/fake@{DIGEST_A}"}
    local = LockFile("0", (LockedServer("x", "x", "openai", "c", None,
                                        LockedImage("my/app:dev", OLD, local=True)),))
    assert frozen.image_pins(local) == {}


def test_model_runner_models_are_pulled_by_digest_even_after_a_re_push(
        engine: FakeEngine, ollama: FakeHandle, runner: FakeHandle) -> None:
    lock = take(engine, ollama)
    locked = lock.server("model-runner")
    assert locked is not None
    want = locked.models[0].digest
    repush(runner, "ai/smollm2:latest")  # the tag now means other bytes
    httpx.delete(f"{runner.url}/models/ai/smollm2:latest")
    done = frozen.ensure_models(locked, runner.url)
    assert [(m.name, m.action) for m in done.models] == [("ai/smollm2:latest",
                                                          "pulled by digest")]
    assert tags(runner)["ai/smollm2:latest"] == want  # the locked bytes, tagged
    assert check(engine, lock, ollama).equal
    again = frozen.ensure_models(locked, runner.url)
    assert [m.action for m in again.models] == ["present"]


def test_a_model_runner_tag_moved_to_other_bytes_goes_back_to_the_locked_model(
        engine: FakeEngine, ollama: FakeHandle, runner: FakeHandle) -> None:
    lock = take(engine, ollama)
    locked = lock.server("model-runner")
    assert locked is not None
    repush(runner, "ai/smollm2:latest")
    pull(runner, "ai/smollm2:latest")  # the tag moved; the old model stays, untagged
    done = frozen.ensure_models(locked, runner.url)
    assert [m.action for m in done.models] == ["tagged"]
    assert check(engine, lock, ollama).equal


def test_ollama_missing_model_pulled_and_checked(
        engine: FakeEngine, ollama: FakeHandle) -> None:
    lock = take(engine, ollama)
    locked = lock.server("ollama")
    assert locked is not None
    httpx.request("DELETE", f"{ollama.url}/api/delete", json={"model": "smollm2:135m"})
    done = frozen.ensure_models(locked, ollama.url)
    assert [(m.name, m.action) for m in done.models] == [("smollm2:135m", "pulled")]
    assert check(engine, lock, ollama).equal


def test_ollama_re_pushed_model_is_refused_after_the_pull_and_kept(
        engine: FakeEngine, ollama: FakeHandle) -> None:
    lock = take(engine, ollama)
    locked = lock.server("ollama")
    assert locked is not None
    httpx.request("DELETE", f"{ollama.url}/api/delete", json={"model": "smollm2:135m"})
    repush(ollama, "smollm2:135m")
    with pytest.raises(frozen.FrozenRefused) as info:
        frozen.ensure_models(locked, ollama.url)
    err = info.value
    assert err.exit_code == 1
    assert "was pulled, and the registry now serves" in err.message
    assert locked.models[0].digest in err.message
    assert "ollama/ollama#6886" in (err.hint or "") and "Nothing was removed" in (err.hint or "")
    assert "smollm2:135m" in tags(ollama)  # the pulled model stays


def test_ollama_model_here_with_another_digest_is_refused_without_pulling(
        engine: FakeEngine, ollama: FakeHandle) -> None:
    lock = take(engine, ollama)
    locked = lock.server("ollama")
    assert locked is not None
    repush(ollama, "smollm2:135m")
    pull(ollama, "smollm2:135m")
    here = tags(ollama)["smollm2:135m"]
    repush(ollama, "smollm2:135m", 1)  # the registry serves the locked bytes again
    with pytest.raises(frozen.FrozenRefused, match="not pulled"):
        frozen.ensure_models(locked, ollama.url)
    assert tags(ollama)["smollm2:135m"] == here  # untouched: nothing of the user's replaced


def test_prepare_pulls_the_locked_image_by_digest(engine: FakeEngine, ollama: FakeHandle) -> None:
    lock = take(engine, ollama)
    locked = lock.server("ollama")
    assert locked is not None
    pinned = f"ollama/ollama@{DIGEST_A}"
    engine.remote[pinned] = ImageDigests(OLD, (f"ollama/ollama@{DIGEST_A}",))
    del engine.containers["llmctl-ollama"]
    assert frozen.prepare_image(engine, locked, "llmctl-ollama") == pinned
    assert engine.pulled == [pinned]


def test_prepare_refuses_a_container_running_another_image_unless_recreate(
        engine: FakeEngine, ollama: FakeHandle) -> None:
    from dataclasses import replace

    from llmctl.errors import ConflictError

    lock = take(engine, ollama)
    locked = lock.server("ollama")
    assert locked is not None
    engine.digests[NEW] = ImageDigests(NEW, (f"ollama/ollama@{DIGEST_B}",))
    engine.containers["llmctl-ollama"] = replace(engine.containers["llmctl-ollama"],
                                                 image_id=NEW)
    engine.digests[f"ollama/ollama@{DIGEST_A}"] = engine.digests[OLD]
    engine.images.add(f"ollama/ollama@{DIGEST_A}")
    with pytest.raises(ConflictError, match=r"runs sha256:e+, not the image the lock pins"):
        frozen.prepare_image(engine, locked, "llmctl-ollama")
    assert engine.removed == []
    said: list[str] = []
    frozen.prepare_image(engine, locked, "llmctl-ollama", recreate=True, notify=said.append)
    assert engine.removed == ["llmctl-ollama"] and "volumes are kept" in said[0]


def test_a_local_image_must_be_here_with_its_id(engine: FakeEngine, ollama: FakeHandle) -> None:
    locked = LockedServer("app", "app", "openai", "llmctl-app", None,
                          LockedImage("my/app:dev", OLD, local=True))
    with pytest.raises(frozen.FrozenRefused, match="built or loaded, it has no registry digest"):
        frozen.prepare_image(engine, locked, "llmctl-app")
    engine.digests["my/app:dev"] = ImageDigests(OLD)
    assert frozen.prepare_image(engine, locked, "llmctl-app") is None  # run by its tag


def test_the_lock_names_the_server_up_starts() -> None:
    lock = LockFile("0", (LockedServer("t-a", "ollama", "ollama", "llmctl-t-a", None, None),))
    assert frozen.server_for(lock, "ollama", "t-a").name == "t-a"
    with pytest.raises(frozen.FrozenRefused, match=r"has no server 'ollama' \(it has: t-a\)"):
        frozen.server_for(lock, "ollama", None)
    with pytest.raises(frozen.FrozenRefused, match="runs 'ollama', not 'vllm'"):
        frozen.server_for(lock, "vllm", "t-a")


def planned(port: int, *, image: str = IMAGE, env: dict[str, str] | None = None) -> Any:
    from llmctl.plan import UpOptions, plan_container
    from llmctl.profiles import load_profile
    from llmctl.targets.base import Workload

    profile = load_profile("ollama")
    spec = plan_container(profile, UpOptions(image=image, env=env or {}), host_port=port,
                          gpu_available=False)
    return Workload("ollama", "ollama", "ollama", "", spec, profile.readiness)


def test_up_frozen_refuses_other_options_and_warns_about_another_spec(
        engine: FakeEngine, ollama: FakeHandle) -> None:
    from dataclasses import replace

    lock = take(engine, ollama)
    locked = lock.server("ollama")
    assert locked is not None
    same = planned(ollama.port)
    locked = replace(locked, options=replace(
        locked.options, volumes=("ollama-data",), env_keys=(), secret_env=(),
        spec_hash=same.spec.labels[LABEL_SPEC_HASH]))
    assert frozen.check_workload(locked, same) == []
    with pytest.raises(frozen.FrozenRefused) as info:
        frozen.check_workload(locked, planned(ollama.port + 1, image="ollama/ollama:0.41.0"))
    assert info.value.message == (
        f"ollama: these options differ from the lock: image ollama/ollama:0.41.0, the lock has "
        f"{IMAGE}; port {ollama.port + 1}, the lock has {ollama.port}")
    assert f"--port {ollama.port}" in (info.value.hint or "")
    warned = frozen.check_workload(locked, planned(ollama.port, env={"OLLAMA_DEBUG": "1"}))
    assert len(warned) == 1 and "spec hash" in warned[0]
    # the Model Runner's own image is Docker's choice: not held against the lock
    runner = replace(locked, target="model-runner",
                     options=replace(locked.options, spec_hash=None))
    assert frozen.check_workload(runner, planned(ollama.port, image="other/runner:1")) == []
