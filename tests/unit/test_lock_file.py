"""The lock file (llmctl/lock/model.py): canonical text (sorted, byte-stable), strict reading
(another lock version, cut short, hand-edited: one clear error naming the file and the key,
exit 3), and the image helpers (llmctl/lock/images.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmctl.engine.model import ImageDigests
from llmctl.errors import ExitCode
from llmctl.lock import images
from llmctl.lock.model import (
    LockedBlob,
    LockedEndpoint,
    LockedImage,
    LockedModel,
    LockedOptions,
    LockedServer,
    LockFile,
    LockFileError,
    normalize_digest,
    parse,
    read,
    write,
)

D1, D2, D3, ID = ("sha256:" + c * 64 for c in "123a")


def sample(*, reverse: bool = False) -> LockFile:
    models = [LockedModel("ollama", "smollm2:135m", D1, False, 1000,
                          (LockedBlob(D2, 900, "application/vnd.ollama.image.model"),)),
              LockedModel("ollama", "qwen3:0.6b", D2, False, 2000)]
    servers = [
        LockedServer("ollama", "ollama", "ollama", "llmctl-ollama", D3,
                     LockedImage("ollama/ollama:0.40.2", ID, "ollama/ollama", D1),
                     LockedOptions(11435, "127.0.0.1", ("ollama-data",), False,
                                   ("OLLAMA_HOST", "HF_TOKEN"), ("HF_TOKEN",), "abcd"),
                     tuple(reversed(models)) if reverse else tuple(models)),
        LockedServer("model-runner", "model-runner", "openai", "docker-model-runner", None,
                     LockedImage("my/runner:dev", ID, local=True), LockedOptions(12434),
                     (LockedModel("model-runner", "ai/smollm2:latest", D3, True),)),
    ]
    endpoints = [LockedEndpoint("ollama", "ollama", "http://127.0.0.1:11435", "ollama",
                                "ollama", "smollm2:135m", True)]
    return LockFile("0.1.0", tuple(reversed(servers)) if reverse else tuple(servers),
                    tuple(endpoints))


# --- text --------------------------------------------------------------------------------------


def test_the_text_is_sorted_and_the_same_whatever_the_order_given() -> None:
    text = sample().text()
    assert text == sample(reverse=True).text()
    doc = json.loads(text)
    assert [s["name"] for s in doc["servers"]] == ["model-runner", "ollama"]
    assert [m["name"] for m in doc["servers"][1]["models"]] == ["qwen3:0.6b", "smollm2:135m"]
    assert doc["servers"][1]["options"]["env_keys"] == ["HF_TOKEN", "OLLAMA_HOST"]
    assert list(doc) == sorted(doc)  # keys sorted at every level
    assert text.endswith("}\n") and text.isascii() and "\t" not in text


def test_text_then_parse_gives_the_same_lock() -> None:
    lock = sample()
    again = parse(lock.text(), "x.lock")
    assert again == lock and again.path == "x.lock"
    assert again.text() == lock.text()


def test_write_and_read_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "llmctl.lock"
    write(sample(), path)
    assert path.read_text() == sample().text()
    assert path.stat().st_mode & 0o777 == 0o644  # no secret in it: meant to be committed
    assert read(path) == sample()


def test_pins() -> None:
    lock = sample()
    assert lock.server("ollama").image.pinned == f"ollama/ollama@{D1}"  # type: ignore[union-attr]
    assert lock.server("model-runner").image.pinned is None  # type: ignore[union-attr]


@pytest.mark.parametrize("raw,want", [
    ("1" * 64, D1), (D1, D1), (D1.upper().replace("SHA256", "sha256"), D1),
    ("SHA256:" + "A" * 64, ID), ("abc", None), ("", None), (None, None),
    ("sha512:" + "1" * 64, None), ("1" * 63, None),
])
def test_digests_are_normalised(raw: str | None, want: str | None) -> None:
    assert normalize_digest(raw) == want


# --- reading bad files -----------------------------------------------------------------------


def bad(text: str) -> LockFileError:
    with pytest.raises(LockFileError) as info:
        parse(text, "ci/llmctl.lock")
    assert info.value.exit_code == ExitCode.CONFIG
    assert info.value.message.startswith("ci/llmctl.lock: ")
    assert info.value.hint
    return info.value


def edited(change) -> str:  # type: ignore[no-untyped-def]
    doc = json.loads(sample().text())
    change(doc)
    return json.dumps(doc)


def test_a_lock_cut_short_says_so() -> None:
    text = sample().text()
    err = bad(text[: len(text) // 2])
    assert "ends before the JSON does (cut short?)" in err.message
    hint = err.hint or ""
    assert "llmctl lock" in hint and "git checkout -- ci/llmctl.lock" in hint


def test_hand_edited_into_something_that_is_not_json() -> None:
    text = sample().text().replace('"ollama",\n', '"ollama"\n', 1)  # a comma removed
    err = bad(text)
    assert "not valid JSON (hand-edited?) at line" in err.message


def test_an_empty_file_and_a_document_that_is_not_a_lock() -> None:
    assert "the file is empty" in bad("  \n").message
    assert "not an llmctl lock file" in bad('{"servers": []}').message
    assert "not an llmctl lock file" in bad("[1, 2]").message


def test_a_lock_of_another_version_names_both_versions_and_who_wrote_it() -> None:
    err = bad(edited(lambda d: d.update(llmctl_lock=2, llmctl_version="9.1.0")))
    assert "lock format version 2 (written by llmctl 9.1.0)" in err.message
    assert "reads version 1 only" in err.message
    assert "Upgrade llmctl" in (err.hint or "")
    assert "format version '1'" in bad(edited(lambda d: d.update(llmctl_lock="1"))).message
    assert err.details["version"] == 2


@pytest.mark.parametrize("change,where", [
    (lambda d: d["servers"][1]["image"].update(digest="sha256:abc"),
     "servers[1].image.digest: 'sha256:abc' is not sha256:<64 lower-case hex digits>"),
    (lambda d: d["servers"][1]["models"][0].update(digest="1" * 64),
     "servers[1].models[0].digest: '1111"),
    (lambda d: d["servers"][1]["models"][0].update(runtime="vllm"),
     "servers[1].models[0].runtime: 'vllm' is not one of ollama, model-runner"),
    (lambda d: d["servers"][1]["options"].update(port="11435"),
     "servers[1].options.port: must be a whole number, got a string"),
    (lambda d: d["servers"][1]["options"].update(port=70000),
     "servers[1].options.port: 70000 is not a TCP port"),
    (lambda d: d["servers"][0].update(extra=1),
     "servers[0].extra: unknown key 'extra'"),
    (lambda d: d["servers"][0].pop("models"), "servers[0].models: is missing"),
    (lambda d: d["servers"][0]["options"].update(gpus="yes"),
     "servers[0].options.gpus: must be true or false, got a string"),
    (lambda d: d["servers"].append(d["servers"][0]), "servers: the server 'model-runner' is "
                                                     "listed twice"),
    (lambda d: d["endpoints"][0].update(server="gone"),
     "endpoints[0].server: names the server 'gone', which the lock does not list"),
    (lambda d: d["servers"][1]["image"].update(digest=None),
     "servers[1].image.digest: an image from a registry needs its repository and digest"),
    (lambda d: d["servers"][1]["models"][1]["weights"][0].update(size=-1),
     "weights[0].size: -1 is negative"),
    (lambda d: d.update(servers={}), "servers: must be a list, got an object"),
    (lambda d: d["servers"].__setitem__(0, "x"), "servers[0]: must be an object, got a string"),
])
def test_a_hand_edited_value_names_its_key(change, where: str) -> None:  # type: ignore[no-untyped-def]
    err = bad(edited(change))
    assert where in err.message, err.message


def test_a_missing_lock_file(tmp_path: Path) -> None:
    with pytest.raises(LockFileError, match=r"llmctl.lock: no such lock file") as info:
        read(tmp_path / "llmctl.lock")
    assert "llmctl lock" in (info.value.hint or "")
    (tmp_path / "dir.lock").mkdir()
    with pytest.raises(LockFileError, match="not a regular file"):
        read(tmp_path / "dir.lock")
    (tmp_path / "bin.lock").write_bytes(b"\xff\xfe{}")
    with pytest.raises(LockFileError, match="not UTF-8"):
        read(tmp_path / "bin.lock")


# --- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ref,repo", [
    ("ollama/ollama:0.40.2", "ollama/ollama"), ("127.0.0.1:5000/x/y:1", "127.0.0.1:5000/x/y"),
    (f"127.0.0.1:5000/x/y@{D1}", "127.0.0.1:5000/x/y"), ("localhost:5000/x", "localhost:5000/x"),
    (f"x/y:1@{D1}", "x/y"), ("ubuntu", "ubuntu"),
])
def test_repository_of_a_reference(ref: str, repo: str) -> None:
    assert images.repository(ref) == repo


def test_an_image_from_a_registry_is_locked_by_its_digest_in_that_repository() -> None:
    found = ImageDigests(ID, (f"docker.io/library/ubuntu@{D2}", f"ollama/ollama@{D1}"))
    locked = images.locked_image("ollama/ollama:0.40.2", found)
    assert locked == LockedImage("ollama/ollama:0.40.2", ID, "ollama/ollama", D1)
    assert images.is_locked(locked, found)
    assert images.locked_image("ubuntu:24.04", found).digest == D2  # docker.io/library/ dropped
    moved = ImageDigests(D3, (f"ollama/ollama@{D2}",))
    assert not images.is_locked(locked, moved) and not images.is_locked(locked, None)
    assert images.describe(moved, "ollama/ollama") == D2
    # the same manifest on another CPU architecture: another ID, the same digest
    assert images.is_locked(locked, ImageDigests(D3, (f"ollama/ollama@{D1}",)))


def test_a_tag_of_an_image_pushed_elsewhere_is_pinned_in_that_repository() -> None:
    found = ImageDigests(ID, (f"127.0.0.1:5000/t/fake@{D1}",))
    locked = images.locked_image("t/fake:dev", found)
    assert locked.pinned == f"127.0.0.1:5000/t/fake@{D1}" and not locked.local


def test_a_local_image_is_locked_by_its_id_and_marked_local() -> None:
    found = ImageDigests(ID.upper().replace("SHA256", "sha256"))
    locked = images.locked_image("my/app:dev", found)
    assert locked == LockedImage("my/app:dev", ID, local=True) and locked.pinned is None
    assert images.is_locked(locked, ImageDigests(ID))
    assert not images.is_locked(locked, ImageDigests(D1))
    assert "no registry digest" in images.describe(ImageDigests(D1), None)
