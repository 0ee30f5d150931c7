"""The fakes' import routes answer as the reference says the real servers do: Ollama's GGUF
reading on create, Model Runner's ``/models/load`` (the package tar) and ``/models/{id}/tag``.
The Ollama blob and create routes are exercised through llmctl in test_model_import.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.llmfake import FakeHandle, start_fake
from tests.fakes.servers.gguf import gguf_info
from tests.fakes.servers.ollama_import import human_number
from tests.ggufgen import gguf_bytes, package_tar, parameters, write_gguf


@pytest.fixture
def runner() -> Iterator[FakeHandle]:
    h = start_fake("model-runner", port=0)
    yield h
    h.stop()


def test_gguf_reader_reads_metadata_and_counts_parameters(tmp_path: Path) -> None:
    f = write_gguf(tmp_path / "m.gguf", arch="qwen2", file_type=15, context_length=32768,
                   tensors=((10, 20, 3), (7,)))
    info = gguf_info(str(f))
    assert info["version"] == 3 and info["tensors"] == 2
    assert info["parameters"] == parameters(((10, 20, 3), (7,))) == 607
    meta = info["metadata"]
    assert (meta["general.architecture"], meta["general.file_type"]) == ("qwen2", 15)
    assert meta["qwen2.context_length"] == 32768 and meta["tokenizer.ggml.tokens#len"] == 3
    (tmp_path / "x.bin").write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(ValueError, match="invalid file magic"):
        gguf_info(str(tmp_path / "x.bin"))
    (tmp_path / "cut.gguf").write_bytes(gguf_bytes()[:60])
    with pytest.raises(ValueError, match="unexpected end of GGUF file"):
        gguf_info(str(tmp_path / "cut.gguf"))


@pytest.mark.parametrize(("n", "text"), [(134_515_008, "134.52M"), (3_212_749_888, "3.2B"),
                                         (7_000_000_000, "7B"), (2080, "2.08K"), (12, "12")])
def test_human_number_like_ollama(n: int, text: str) -> None:
    assert human_number(n) == text


def models(h: FakeHandle) -> list[dict[str, Any]]:
    return list(httpx.get(h.url + "/models").json())


def test_runner_load_stores_an_untagged_model_then_tag_names_it(runner: FakeHandle) -> None:
    body, model_id = package_tar([gguf_bytes()])
    r = httpx.post(runner.url + "/models/load", content=body,
                   headers={"Content-Type": "application/x-tar"})
    assert r.status_code == 200
    listed = models(runner)
    assert [m["id"] for m in listed] == [model_id] and "tags" not in listed[0]  # omitempty
    assert listed[0]["config"]["quantization"] == "Q4_1"
    r = httpx.post(f"{runner.url}/models/{model_id}/tag", params={"repo": "myorg/m",
                                                                   "tag": "q4"})
    assert (r.status_code, r.json()) == (201, {"message": "Model tagged successfully",
                                               "target": "myorg/m:q4"})
    assert models(runner)[0]["tags"] == ["myorg/m:q4"]
    r = httpx.post(f"{runner.url}/models/ai/nope/tag", params={"repo": "x", "tag": "y"})
    assert (r.status_code, r.text) == (404, "model not found\n")


def test_runner_load_refuses_a_bad_archive_and_keeps_nothing(runner: FakeHandle) -> None:
    body, _ = package_tar([gguf_bytes()], corrupt=True)
    r = httpx.post(runner.url + "/models/load", content=body)
    assert r.status_code == 400 and "does not match its digest" in r.text
    r = httpx.post(runner.url + "/models/load", content=package_tar([gguf_bytes()])[0][:2000])
    assert r.status_code == 400 and r.text.startswith("invalid model archive")
    assert models(runner) == []
    blobs = Path(runner.data_dir) / "blobs" / "sha256"
    assert not [p for p in blobs.iterdir() if p.name.startswith(".load-")]
