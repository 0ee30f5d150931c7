"""A GGUF file as `pull` takes it (llmctl.gguf): path or name, checks, default name, digest."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path

import pytest

from llmctl import gguf
from llmctl.errors import ExitCode, UsageError
from tests.ggufgen import gguf_bytes, write_gguf


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("LLMCTL_CACHE_DIR", str(cache))
    return cache


@pytest.mark.parametrize("ref", [
    "./x.gguf", "../models/x.gguf", "/abs/x", "~/x.gguf", "~", "file:///abs/x.gguf",
    "FILE:///abs/x.gguf", "file://localhost/abs/x.gguf", "x.gguf", "X.GGUF", "models/x.gguf",
    "C:\\models\\x.gguf", "c:/models/x.bin", ".\\x.gguf", "  ./x.gguf  ",
])
def test_paths_are_files(ref: str) -> None:
    assert gguf.is_file_ref(ref)


@pytest.mark.parametrize("ref", [
    "llama3", "llama3.2", "qwen2.5:7b", "ai/smollm2:360M-Q4_K_M", "hf.co/bartowski/x-GGUF",
    "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_S", "registry.ollama.ai/library/llama3:8b",
    "http://myhost:5000/ns/model:tag", "localhost:5000/ns/model", "gguf", "my.gguf-model",
])
def test_names_stay_registry_pulls(ref: str) -> None:
    assert not gguf.is_file_ref(ref)


def test_a_file_named_like_a_model_is_still_a_name(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    write_gguf(tmp_path / "llama3")
    assert not gguf.is_file_ref("llama3")


def test_resolve_relative_home_and_file_urls(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    f = write_gguf(tmp_path / "my model.gguf")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert gguf.resolve_file("./my model.gguf") == f
    assert gguf.resolve_file("~/my model.gguf") == f
    assert gguf.resolve_file(f"file://{tmp_path}/my%20model.gguf") == f
    assert gguf.resolve_file(f"file://localhost{tmp_path}/my model.gguf") == f
    link = tmp_path / "link.gguf"
    link.symlink_to(f)
    assert gguf.resolve_file(str(link)) == f  # symlinks resolved


def test_missing_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as e:
        gguf.resolve_file(str(tmp_path / "nope.gguf"))
    assert e.value.exit_code == ExitCode.USAGE
    assert e.value.message == f"{tmp_path}/nope.gguf: no such file"


def test_folder_and_remote_file_url_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        gguf.resolve_file(str(tmp_path))
    with pytest.raises(UsageError, match="is not a local file URL"):
        gguf.resolve_file("file://otherhost/x.gguf")


def test_unreadable_file_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    f = write_gguf(tmp_path / "locked.gguf")
    f.chmod(0)
    if os.geteuid() == 0:  # root reads every file: let access() answer as for a user
        monkeypatch.setattr(gguf.os, "access", lambda path, mode: False)
    try:
        with pytest.raises(UsageError, match=r"locked\.gguf: not readable by you"):
            gguf.resolve_file(str(f))
    finally:
        f.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_header_of_a_gguf_file() -> None:
    h = gguf.parse_header(gguf_bytes(tensors=((4, 4), (4,), (2,))))
    assert (h.version, h.tensors, h.metadata_keys, h.big_endian) == (3, 3, 6, False)
    big = b"GGUF" + struct.pack(">IQQ", 3, 1, 2)  # s390x files: same magic, big-endian numbers
    assert gguf.parse_header(big).big_endian


@pytest.mark.parametrize(("head", "why"), [
    (b"PK\x03\x04" + b"\0" * 40, "it looks like a zip archive"),
    (b"<!DOCTYPE html><html>" + b" " * 10, "it looks like an HTML or XML page"),
    (b"ggjt" + b"\0" * 30, "it looks like an old GGJT"),
    (b"GGU", "it is only 3 bytes long"),
    (b"", "it is only 0 bytes long"),
    (b"\x00\x01\x02\x03" + b"\0" * 30, "it starts with b'\\x00\\x01\\x02\\x03', not b'GGUF'"),
])
def test_not_gguf_says_what_it_is(head: bytes, why: str) -> None:
    with pytest.raises(UsageError) as e:
        gguf.parse_header(head, "x.bin")
    assert e.value.message.startswith(f"x.bin is not a GGUF file ({why}")
    assert "convert" in (e.value.hint or "")


def test_unknown_gguf_version() -> None:
    with pytest.raises(UsageError, match="GGUF version 99"):
        gguf.parse_header(b"GGUF" + struct.pack("<IQQ", 99, 1, 1))


@pytest.mark.parametrize(("file", "name"), [
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct.q4_1"),
    ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "llama-3.2-1b-instruct-q4_k_m"),
    ("my model (final)!!.GGUF", "my-model-final"),
    ("__weird..name__.gguf", "weird-name"),
    ("model.bin", "model.bin"),
    ("ünïcode.gguf", "n-code"),
    ("---.gguf", "imported"),
    ("a" * 120 + ".gguf", "a" * 80),
])
def test_default_name_is_valid_for_both_backends(file: str, name: str) -> None:
    from llmctl.names import parse_model_runner_ref, parse_ollama_name

    got = gguf.default_name(Path(file))
    assert got == name
    assert parse_ollama_name(got).display == f"{got}:latest"
    assert parse_model_runner_ref(got).normalized == f"ai/{got}:latest"


def test_split_parts_are_recognised() -> None:
    assert gguf.split_part(Path("m-00001-of-00003.gguf")) == (1, 3)
    assert gguf.split_part(Path("m.gguf")) is None


def test_sha256_is_the_files_and_reports_progress(tmp_path: Path) -> None:
    data = gguf_bytes(data_bytes=(3 << 20) + 5)
    f = tmp_path / "m.gguf"
    f.write_bytes(data)
    seen: list[tuple[int, int]] = []
    digest = gguf.sha256_file(f, len(data), lambda d, t: seen.append((d, t)))
    assert digest == hashlib.sha256(data).hexdigest()
    assert seen[-1] == (len(data), len(data)) and len(seen) == 4  # 1 MiB reads


def test_digest_is_cached_by_file_identity(tmp_path: Path, _cache: Path) -> None:
    f = write_gguf(tmp_path / "m.gguf", data_bytes=1 << 16)
    st = f.stat()
    first, cached = gguf.file_digest(f, st)
    assert not cached and first == hashlib.sha256(f.read_bytes()).hexdigest()
    again, cached = gguf.file_digest(f, f.stat())
    assert cached and again == first
    cache_file = _cache / gguf.CACHE_FILE
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    # same size, same mtime, other bytes: the ctime (and the inode for a copy) change
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed, cached = gguf.file_digest(f, f.stat())
    assert not cached and changed == hashlib.sha256(bytes(data)).hexdigest() != first


def test_without_the_cache_and_with_a_readonly_cache_dir(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    f = write_gguf(tmp_path / "m.gguf")
    gguf.file_digest(f, f.stat())
    _digest, cached = gguf.file_digest(f, f.stat(), use_cache=False)
    assert not cached
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv("LLMCTL_CACHE_DIR", str(ro / "sub"))
    try:
        digest, cached = gguf.file_digest(f, f.stat())  # cannot write: still hashes
        assert not cached and len(digest) == 64
    finally:
        ro.chmod(0o700)


def test_cache_keeps_the_most_recent_files(tmp_path: Path, _cache: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gguf, "CACHE_ENTRIES", 3)
    files = [write_gguf(tmp_path / f"m{i}.gguf", name=f"m{i}") for i in range(5)]
    for f in files:
        gguf.file_digest(f, f.stat())
    assert gguf.cached_digest(files[0], files[0].stat()) is None
    assert gguf.cached_digest(files[4], files[4].stat()) is not None
    gguf.forget_digest(files[4])
    assert gguf.cached_digest(files[4], files[4].stat()) is None


def test_a_corrupt_cache_is_ignored(tmp_path: Path, _cache: Path) -> None:
    _cache.mkdir()
    (_cache / gguf.CACHE_FILE).write_text("{not json")
    f = write_gguf(tmp_path / "m.gguf")
    assert gguf.file_digest(f, f.stat())[1] is False
    assert gguf.file_digest(f, f.stat())[1] is True
