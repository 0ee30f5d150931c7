"""`llmctl lock`, `llmctl verify`, `up --frozen`, `pull --frozen` as a user sees them: exit
codes (0 equal, 1 drift, 3 a bad lock file, 4 no engine), stdout and stderr apart, one JSON
document with --json. The engine is the in-memory one (tests/fakes/engine.py) or unreachable
(DOCKER_HOST to a missing socket); the servers are real HTTP fakes on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmctl.cli.app import run
from llmctl.engine.model import ImageDigests
from tests.fakes.engine import FakeEngine
from tests.fakes.llmfake import FakeHandle, start_fake
from tests.unit.test_lock_servers import DIGEST_A, IMAGE, OLD, container, manifest_file


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)


@pytest.fixture
def ollama() -> Iterator[FakeHandle]:
    h = start_fake("ollama", port=0, pulled="smollm2:135m")
    yield h
    h.stop()


@pytest.fixture
def engine(ollama: FakeHandle, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    e = FakeEngine()
    e.add(container("ollama", "ollama", "ollama", ollama, 11434, image=IMAGE, image_id=OLD))
    e.digests[OLD] = ImageDigests(OLD, (f"ollama/ollama@{DIGEST_A}",), ("PATH",))
    e.files[("llmctl-ollama", "/root/.ollama/models/manifests/registry.ollama.ai/library/"
             "smollm2/135m")] = manifest_file(ollama, "smollm2", "135m")
    monkeypatch.setattr("llmctl.cli.context.get_engine", lambda: e)
    return e


def one_doc(text: str) -> dict:  # type: ignore[type-arg]
    doc = json.loads(text)
    assert doc["llmctl"] == 1
    return doc  # type: ignore[no-any-return]


# --- lock --------------------------------------------------------------------------------------


def test_lock_writes_the_file_and_says_what_it_holds(engine: FakeEngine, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["lock"]) == 0
    out = capsys.readouterr().out
    assert "wrote llmctl.lock: 1 server(s), 1 model(s), 0 endpoint(s)" in out
    assert "ollama/ollama:0.40.2 @dddddddddddd" in out
    assert "1, verified only: Ollama cannot pull by digest" in out
    first = Path("llmctl.lock").read_bytes()
    assert run(["lock", "ollama", "-o", "again.lock"]) == 0
    assert Path("again.lock").read_bytes() == first  # the same environment, the same bytes
    capsys.readouterr()
    assert run(["lock", "-o", "-"]) == 0
    assert capsys.readouterr().out.encode() == first


def test_lock_json_is_one_document(engine: FakeEngine, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["lock", "--json", "-o", "x.lock"]) == 0
    doc = one_doc(capsys.readouterr().out)
    assert doc["ok"] and doc["result"]["path"] == "x.lock"
    assert doc["result"]["lock"] == json.loads(Path("x.lock").read_text())


def test_lock_of_a_server_llmctl_does_not_run(engine: FakeEngine, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["lock", "nope"]) == 7
    err = capsys.readouterr().err
    assert "error: no server named 'nope' that llmctl manages (it manages: ollama)" in err
    assert not Path("llmctl.lock").exists()


def test_lock_and_verify_without_an_engine_exit_4(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["lock"]) == 4
    good = tmp_path / "llmctl.lock"
    good.write_text('{"llmctl_lock": 1, "llmctl_version": "0.1.0", "servers": [], '
                    '"endpoints": []}')
    assert run(["verify"]) == 4
    assert "Traceback" not in capsys.readouterr().err


# --- verify ------------------------------------------------------------------------------------


def test_verify_equal_then_a_precise_list_of_drift(engine: FakeEngine, ollama: FakeHandle,
                                                   capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["lock"]) == 0
    capsys.readouterr()
    assert run(["verify"]) == 0
    assert "llmctl.lock: what runs matches the lock (1 server(s), 1 model(s)" in \
        capsys.readouterr().out
    httpx.post(f"{ollama.url}/llmfake/registry", json={"model": "smollm2:135m", "revision": 2})
    httpx.post(f"{ollama.url}/api/pull", json={"model": "smollm2:135m", "stream": False})
    httpx.post(f"{ollama.url}/api/pull", json={"model": "tinyllama", "stream": False})
    assert run(["verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("model-repushed: ollama: model smollm2:135m is sha256:")
    assert out[1].startswith("  fix: Ollama cannot pull by digest (ollama/ollama#6886)")
    assert out[2] == "model-extra: ollama: model tinyllama:latest is not in the lock"
    assert out[-1].startswith("llmctl.lock: 2 difference(s)")
    assert run(["verify", "--json"]) == 1
    doc = one_doc(capsys.readouterr().out)
    assert doc["ok"] and doc["result"]["equal"] is False
    assert [d["kind"] for d in doc["result"]["drift"]] == ["model-repushed", "model-extra"]


@pytest.mark.parametrize("text,says", [
    ("", "llmctl.lock: the file is empty"),
    ('{"llmctl_lock": 1, "servers": [', "llmctl.lock: it ends before the JSON does"),
    ('{"llmctl_lock": 2, "llmctl_version": "3.0.0", "servers": [], "endpoints": []}',
     "llmctl.lock: lock format version 2 (written by llmctl 3.0.0)"),
    ('{"llmctl_lock": 1, "llmctl_version": "0.1.0", "servers": [{"name": "x"}], '
     '"endpoints": []}', "llmctl.lock: servers[0].options: is missing"),
    ('{"llmctl_lock": 1 "llmctl_version": "0.1.0"}', "llmctl.lock: not valid JSON"),
])
def test_a_bad_lock_is_exit_3_before_the_engine_is_asked(text: str, says: str, capsys) -> None:  # type: ignore[no-untyped-def]
    Path("llmctl.lock").write_text(text)
    assert run(["verify"]) == 3  # not 4: the engine (unreachable here) was never asked
    err = capsys.readouterr().err
    assert err.startswith(f"error: {says}"), err
    assert "hint: " in err and "Traceback" not in err
    assert run(["verify", "--json"]) == 3
    doc = one_doc(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 3
    assert doc["error"]["message"].startswith(says)
    assert run(["up", "ollama", "--frozen"]) == 3
    assert run(["pull", "--frozen"]) == 3


def test_verify_names_a_missing_lock_file(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["verify", "--lock", "ci/none.lock"]) == 3
    assert "error: ci/none.lock: no such lock file" in capsys.readouterr().err


# --- frozen ------------------------------------------------------------------------------------


def test_up_frozen_for_a_server_the_lock_does_not_name(engine: FakeEngine, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["lock"]) == 0
    capsys.readouterr()
    assert run(["up", "ollama", "--name", "other", "--frozen"]) == 1
    err = capsys.readouterr().err
    assert "error: llmctl.lock has no server 'other' (it has: ollama)" in err
    assert engine.created == [] and engine.pulled == []


def test_pull_frozen_puts_back_a_missing_model(engine: FakeEngine, ollama: FakeHandle,
                                               capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["lock"]) == 0
    httpx.request("DELETE", f"{ollama.url}/api/delete", json={"model": "smollm2:135m"})
    assert run(["verify"]) == 1
    capsys.readouterr()
    assert run(["pull", "--frozen", "--progress", "none"]) == 0
    assert capsys.readouterr().out.startswith("ollama: smollm2:135m pulled (")
    assert run(["verify"]) == 0
    capsys.readouterr()
    assert run(["pull", "smollm2:135m", "--frozen", "--json", "--progress", "none"]) == 0
    doc = one_doc(capsys.readouterr().out)
    assert doc["result"]["frozen"]["models"][0]["action"] == "present"
    assert run(["pull", "tinyllama", "--frozen", "--progress", "none"]) == 1
    assert "tinyllama is not among ollama's models in llmctl.lock (it has: smollm2:135m)" in \
        capsys.readouterr().err


def test_pull_without_a_model_needs_frozen(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["pull"]) == 2
    assert "error: give the MODEL to pull" in capsys.readouterr().err


# --- export --pin-digests ----------------------------------------------------------------------


def lock_with(image: str, digest: str) -> None:
    from llmctl.lock.model import LockedImage, LockedServer, LockFile, write

    repo = image.rsplit(":", 1)[0]
    write(LockFile("0.1.0", (LockedServer("ollama", "ollama", "ollama", "llmctl-ollama", None,
                                          LockedImage(image, OLD, repo, digest)),)),
          "llmctl.lock")


def test_export_pin_digests_writes_the_locked_digest(capsys) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from llmctl.profiles import load_profile

    image = load_profile("ollama").image
    repo, tag = image.rsplit(":", 1)
    lock_with(image, DIGEST_A)
    assert run(["export", "compose", "ollama", "--pin-digests", "-o", "-"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["services"]["ollama"]["image"] == f"{image}@{DIGEST_A}"
    assert run(["export", "kube", "ollama", "--pin-digests", "-o", "-"]) == 0
    assert f"image: {image}@{DIGEST_A}" in capsys.readouterr().out
    assert run(["export", "helm-values", "ollama", "--chart", "ollama", "--pin-digests",
                "-o", "-"]) == 0
    values = yaml.safe_load(capsys.readouterr().out)
    # a chart writes repository:tag: the same reference, digest included
    assert values["image"] == {"repository": repo, "tag": f"{tag}@{DIGEST_A}"}
    # without the flag, the tag
    assert run(["export", "compose", "ollama", "-o", "-"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["services"]["ollama"]["image"] == image


def test_export_pin_digests_names_what_the_lock_cannot_pin(capsys) -> None:  # type: ignore[no-untyped-def]
    lock_with("ollama/ollama:0.1.0", DIGEST_A)
    assert run(["export", "compose", "ollama", "--pin-digests", "--json", "-o", "-"]) == 0
    notes = one_doc(capsys.readouterr().out)["result"]["notes"]
    assert any("is not pinned: llmctl.lock has no registry digest for it" in n for n in notes)


def test_export_pin_digests_with_a_bad_lock_is_exit_3(capsys) -> None:  # type: ignore[no-untyped-def]
    Path("llmctl.lock").write_text('{"llmctl_lock": 1, "servers": [')
    assert run(["export", "compose", "ollama", "--pin-digests", "-o", "-"]) == 3
    assert capsys.readouterr().err.startswith("error: llmctl.lock: it ends before the JSON")
    assert run(["export", "kube", "ollama", "--pin-digests", "--lock", "none.lock",
                "-o", "k8s"]) == 3
