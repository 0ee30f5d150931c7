"""Importing a GGUF file into Ollama (llmctl.model_import, llmctl.backends.ollama_import)
against the fake Ollama over real HTTP on loopback. The fake stands in for Ollama's
create-from-file API (reference/real-servers.md, checked on Ollama 0.24.0): it streams the
upload to disk while hashing it, answers 400 on a digest mismatch, and reads the GGUF's
metadata on create as the real server does."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmctl import gguf, model_import
from llmctl.backends import ollama_import
from llmctl.backends.http import make_client
from llmctl.errors import ExitCode, LlmctlError, ServerError, UsageError
from llmctl.models import Target
from llmctl.progress import ProgressEvent
from tests.fakes.llmfake import FakeHandle, start_fake
from tests.ggufgen import parameters, write_gguf


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCTL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def ollama() -> Iterator[FakeHandle]:
    h = start_fake("ollama", port=0)
    yield h
    h.stop()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_gguf(tmp_path / "Tiny-Chat.Q4_1.gguf", data_bytes=(2 << 20) + 123)


def target(h: FakeHandle) -> Target:
    return Target("ollama", h.url, "--endpoint", explicit=True)


def tags(h: FakeHandle) -> list[dict[str, Any]]:
    return list(httpx.get(h.url + "/api/tags").json()["models"])


def blobs(h: FakeHandle) -> list[str]:
    folder = Path(h.data_dir) / "models" / "blobs"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_import_creates_the_model_the_server_then_lists(ollama: FakeHandle, tiny: Path) -> None:
    events: list[ProgressEvent] = []
    source = model_import.open_source(str(tiny))
    res = model_import.import_gguf(source, target(ollama), progress=events.append)
    assert (res.model, res.name_from, res.backend, res.via) == (
        "tiny-chat.q4_1:latest", "file name", "ollama", "http")
    assert res.sha256 == hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert res.uploaded and res.hashed and not res.existed
    listed = tags(ollama)
    assert [m["name"] for m in listed] == ["tiny-chat.q4_1:latest"]
    assert res.digest == listed[0]["digest"] and res.size == listed[0]["size"]
    assert res.size > tiny.stat().st_size  # the file plus the template and config layers
    assert listed[0]["details"]["format"] == "gguf"
    assert res.details == {"family": "llama", "parameters": f"{parameters() / 1e3:.2f}K",
                           "quantization": "Q4_1"}
    statuses = [e.status for e in events if e.layer is None]
    assert statuses == ["parsing GGUF", f"using existing layer sha256:{res.sha256}",
                        "using autodetected template chatml", statuses[3],
                        "writing manifest", "success"]
    assert statuses[3].startswith("creating new layer sha256:")
    hashing = [e for e in events if e.layer == "sha256"]
    upload = [e for e in events if e.layer == res.sha256[:12]]
    assert hashing[-1].done and hashing[-1].current == source.size
    assert upload[0].status == "uploading" and upload[-1].done
    assert upload[-1].current == upload[-1].total == source.size
    # the server answers chats with the new model (it is a real model entry)
    chat = httpx.post(ollama.url + "/api/chat", json={
        "model": res.model, "stream": False,
        "messages": [{"role": "user", "content": "hi"}]}).json()
    assert chat["message"]["content"]


def test_second_import_reads_nothing_and_uploads_nothing(ollama: FakeHandle, tiny: Path
                                                         ) -> None:
    source = model_import.open_source(str(tiny))
    first = model_import.import_gguf(source, target(ollama))
    events: list[ProgressEvent] = []
    again = model_import.import_gguf(model_import.open_source(str(tiny)), target(ollama),
                                     progress=events.append)
    assert not again.hashed and not again.uploaded
    assert again.existed and not again.replaced and again.digest == first.digest
    assert not [e for e in events if e.layer is not None]  # no hashing, no upload bars
    heads = [e.status for e in events if e.layer is None]
    assert heads[0].startswith(f"sha256 {first.sha256[:12]} from the cache")
    assert heads[1] == f"blob {first.sha256[:12]} is on the server already: not uploading it " \
                       "again"


def test_name_option_and_a_replaced_model(ollama: FakeHandle, tmp_path: Path) -> None:
    a = write_gguf(tmp_path / "a.gguf", name="A")
    b = write_gguf(tmp_path / "b.gguf", name="B", file_type=15)
    one = model_import.import_gguf(model_import.open_source(str(a)), target(ollama),
                                   name="mine")
    assert (one.model, one.name_from) == ("mine:latest", "--name")
    two = model_import.import_gguf(model_import.open_source(str(b)), target(ollama),
                                   name="Mine:latest")
    assert two.existed and two.replaced and two.digest != one.digest
    assert [(m["name"], m["details"]["quantization_level"]) for m in tags(ollama)] == [
        ("mine:latest", "Q4_K_M")]


@pytest.mark.parametrize(("name", "message"), [
    ("bad name!", "invalid model name 'bad name!': it contains whitespace"),
    ("ns.x/m", "the namespace 'ns.x' contains '.'"),
    ("m@sha256:" + "a" * 64, "give a plain model name"),
        ("m@sha256:abc", "64 lower-case hex digits"),
    ("   ", "--name is empty"),
])
def test_bad_names_fail_before_any_request(tiny: Path, name: str, message: str) -> None:
    nowhere = Target("ollama", "http://127.0.0.1:9", "--endpoint", explicit=True)
    with pytest.raises(UsageError) as e:
        model_import.import_gguf(model_import.open_source(str(tiny)), nowhere, name=name)
    assert message in e.value.message


def test_upload_with_a_wrong_digest_is_refused_like_ollama(ollama: FakeHandle, tiny: Path
                                                            ) -> None:
    wrong = "sha256:" + "0" * 64
    real = hashlib.sha256(tiny.read_bytes()).hexdigest()
    with make_client(ollama.url) as client:
        with pytest.raises(ollama_import.DigestMismatch) as e:
            ollama_import.upload_blob(client, tiny, wrong, tiny.stat().st_size)
        assert f'digest mismatch, expected "{wrong}", got "sha256:{real}"' in e.value.message
        # like Ollama, the bytes are kept under their real digest (pruned at its next start)
        assert ollama_import.blob_exists(client, f"sha256:{real}")
        assert not ollama_import.blob_exists(client, wrong)


def test_a_stale_cached_digest_is_hashed_again(ollama: FakeHandle, tiny: Path) -> None:
    st = tiny.stat()
    gguf.remember_digest(tiny, st, "1" * 64)  # a wrong entry for this very file
    res = model_import.import_gguf(model_import.open_source(str(tiny)), target(ollama))
    assert res.sha256 == hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert gguf.cached_digest(tiny, st) == res.sha256
    assert [m["name"] for m in tags(ollama)] == [res.model]


def test_fake_blob_upload_checks_the_digest_format_and_streams(ollama: FakeHandle) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", ollama.port, timeout=5)
    conn.request("POST", "/api/blobs/md5:abc", body=b"x")
    r = conn.getresponse()
    assert (r.status, json.loads(r.read())) == (400, {"error": "invalid digest format"})
    conn.close()
    data = os.urandom(3 << 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", ollama.port, timeout=5)
    conn.request("POST", f"/api/blobs/{digest}", body=iter([data[:1000], data[1000:]]),
                 encode_chunked=True)  # chunked transfer encoding works too
    assert conn.getresponse().status == 201
    conn.close()
    assert httpx.head(f"{ollama.url}/api/blobs/{digest}").status_code == 200
    assert httpx.post(f"{ollama.url}/api/blobs/{digest}", content=b"").status_code == 200


def test_create_errors_are_server_errors(ollama: FakeHandle, tiny: Path) -> None:
    missing = "sha256:" + "2" * 64
    with make_client(ollama.url) as client:
        with pytest.raises(ServerError, match=r"creating m:latest failed: open .*: no such "
                                              r"file or directory"):
            ollama_import.create_model(client, "m:latest", {"m.gguf": missing})
        with pytest.raises(ServerError, match=r"refused to create bad name \(HTTP 400: invalid "
                                              r"model name\)"):
            ollama_import.create_model(client, "bad name", {"m.gguf": missing})
        with pytest.raises(ServerError, match=r"file path must be relative: \.\./m\.gguf"):
            ollama_import.create_model(client, "m", {"../m.gguf": missing})
    not_gguf = b"definitely not a model" * 100
    digest = "sha256:" + hashlib.sha256(not_gguf).hexdigest()
    assert httpx.post(f"{ollama.url}/api/blobs/{digest}", content=not_gguf).status_code == 201
    with make_client(ollama.url) as client, pytest.raises(ServerError,
                                                          match="invalid file magic"):
        ollama_import.create_model(client, "m", {"m.gguf": digest})
    assert tags(ollama) == []


def test_a_create_that_stalls_hits_the_stall_timeout(tiny: Path) -> None:
    with start_fake("ollama", port=0, create_delay=3) as h, pytest.raises(
            ServerError, match=r"creating .* stalled after 'parsing GGUF': no new step for "
                               r"0\.5 s"):
        model_import.import_gguf(model_import.open_source(str(tiny)), target(h),
                                 stall_timeout=0.5)


def test_ctrl_c_while_creating_leaves_no_model(tiny: Path) -> None:
    """The interrupt arrives while Ollama streams the create (here: as the client reads the
    first step). The client hangs up; the server, whose request context is now cancelled,
    does not write the manifest."""
    with start_fake("ollama", port=0, create_delay=0.2) as h:
        def sink(ev: ProgressEvent) -> None:
            if ev.status == "parsing GGUF":
                raise KeyboardInterrupt

        warnings: list[str] = []
        with pytest.raises(KeyboardInterrupt):
            model_import.import_gguf(model_import.open_source(str(tiny)), target(h),
                                     progress=sink, warn=warnings.append)
        end = wait_for(lambda: h.app.create_ends)  # type: ignore[attr-defined]
        assert end == ["client gone"]
        assert tags(h) == [] and warnings == []
        # the uploaded blob stays (it is reused by the next import and pruned by Ollama)
        res = model_import.import_gguf(model_import.open_source(str(tiny)), target(h))
        assert not res.uploaded


def test_undo_removes_a_model_the_server_made_anyway(ollama: FakeHandle, tiny: Path) -> None:
    res = model_import.import_gguf(model_import.open_source(str(tiny)), target(ollama))
    warnings: list[str] = []
    model_import._undo_create(target(ollama), res.model, warnings.append)
    assert tags(ollama) == []
    assert warnings == [f"interrupted after Ollama had created {res.model}: removed it again"]
    model_import._undo_create(target(ollama), res.model, warnings.append)  # nothing to do
    assert len(warnings) == 1


def test_unreachable_ollama_names_the_alternatives(tiny: Path) -> None:
    from tests.support import closed_port

    nowhere = Target("ollama", f"http://127.0.0.1:{closed_port()}", "default")
    with pytest.raises(ServerError) as e:
        model_import.import_gguf(model_import.open_source(str(tiny)), nowhere)
    assert "cannot reach Ollama to import a model: connection refused" in e.value.message
    assert "llmctl up ollama" in (e.value.hint or "")
    assert f"llmctl up llamacpp --model-file {tiny}" in (e.value.hint or "")


@pytest.mark.parametrize(("kind", "says", "hint"), [
    ("llamacpp", "llama.cpp server at {url} does not import model files over its API",
     "Run: llmctl up llamacpp --model-file {file}"),
    ("vllm", "vLLM at {url} does not import model files, and the vllm profile takes no "
     "--model-file", "Serve the file with `llmctl up llamacpp --model-file {file}`"),
    ("model-runner", "{url} is Docker Model Runner, not Ollama",
     "llmctl pull {file} --backend model-runner --endpoint {url}"),
])
def test_an_endpoint_that_is_not_ollama_says_where_the_file_goes(
        tiny: Path, kind: str, says: str, hint: str) -> None:
    with start_fake(kind, port=0) as h, pytest.raises(LlmctlError) as e:
        model_import.import_gguf(model_import.open_source(str(tiny)), target(h))
    assert e.value.exit_code == ExitCode.USAGE
    assert says.format(url=h.url) in e.value.message
    assert hint.format(url=h.url, file=tiny) in (e.value.hint or "")


def test_split_gguf_is_refused_for_ollama(ollama: FakeHandle, tmp_path: Path) -> None:
    part = write_gguf(tmp_path / "big-00001-of-00002.gguf")
    with pytest.raises(UsageError, match="one part of a split GGUF") as e:
        model_import.import_gguf(model_import.open_source(str(part)), target(ollama))
    assert "llama-gguf-split --merge" in (e.value.hint or "")


def test_not_gguf_is_refused_before_any_request(tmp_path: Path) -> None:
    f = tmp_path / "model.gguf"
    f.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(UsageError, match=r"is not a GGUF file \(it looks like a zip archive"):
        model_import.open_source(str(f))


def test_file_key_is_what_ollama_accepts() -> None:
    assert model_import.file_key(Path("/x/SmolLM2.Q4_1.gguf")) == "SmolLM2.Q4_1.gguf"
    assert model_import.file_key(Path("/x/a:b\\c.bin")) == "a_b_c.bin.gguf"


def wait_for(probe: Any, timeout: float = 10.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_an_ollama_url_with_a_path_is_sent_to_its_root(ollama: FakeHandle, tiny: Path) -> None:
    with pytest.raises(UsageError) as e:
        model_import.import_gguf(model_import.open_source(str(tiny)),
                                 Target("ollama", ollama.url + "/v1", "--endpoint", True))
    assert e.value.message == f"{ollama.url}/v1 is not Ollama's API root"
    assert e.value.hint == f"Give the server root: --endpoint {ollama.url}"


def test_undo_package_removes_only_what_the_interrupted_package_left_untagged() -> None:
    from tests.ggufgen import gguf_bytes, package_tar

    with start_fake("model-runner", port=0, pulled="ai/smollm2") as runner:
        runner_target = Target("model-runner", runner.url, "MODEL_RUNNER_HOST")
        before = model_import._runner_ids(runner_target)
        assert before is not None and len(before) == 1
        body, model_id = package_tar([gguf_bytes()])  # loaded, never tagged
        assert httpx.post(runner.url + "/models/load", content=body).status_code == 200
        warnings: list[str] = []
        model_import._undo_package(runner_target, before, warnings.append)
        assert model_import._runner_ids(runner_target) == before
        assert warnings == [f"interrupted: removed the untagged model {model_id[:19]} the "
                            "package left"]
