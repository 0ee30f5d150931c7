"""A GGUF file on this machine, as `llmctl pull PATH.gguf` takes it.

Pure file work, no network: telling a path from a model name, resolving it, checking that it
is GGUF before anything is sent, the default model name, and its sha256.

A path or a model name?
    ``pull`` takes a file when the argument starts with ``/``, ``./``, ``../``, ``~`` or
    ``file:`` (``file:///abs/x.gguf``, ``file://localhost/abs/x.gguf``), when it is a Windows
    path (``C:\\…``, ``.\\…``), or when it ends in ``.gguf`` (any case). Everything else is a
    registry name: ``llama3`` stays a pull from the registry even when a file of that name
    sits in the current folder. No registry model name ends in ``.gguf``.

The digest
    Ollama's upload URL names the blob's sha256 (``POST /api/blobs/sha256:HEX``), so the whole
    file is read once to hash it before the upload reads it again; the second read comes from
    the page cache unless the file is larger than the free memory. The digest is cached by the
    file's identity (path, device, inode, size, mtime_ns, ctime_ns; the ctime changes on every
    write and cannot be set by ``touch``), so importing the same file again, into a second
    server or after an interrupted upload, reads nothing. The server checks the digest of what
    it receives anyway (HTTP 400 on a mismatch). Cache: ``$LLMCTL_CACHE_DIR`` or the user cache
    dir, ``gguf-digests.json``, at most ``CACHE_ENTRIES`` files, written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmctl.errors import UsageError

MAGIC = b"GGUF"
HEADER_SIZE = 24  # magic, u32 version, u64 tensor count, u64 metadata key/value count
KNOWN_VERSIONS = (1, 2, 3)
CHUNK = 1 << 20
CACHE_FILE = "gguf-digests.json"
CACHE_ENTRIES = 64
SPLIT_RE = re.compile(r"-([0-9]{5})-of-([0-9]{5})\.gguf$", re.IGNORECASE)
_FILE_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")

# what a few other formats start with, to say what the file is instead
_OTHER_MAGICS = (
    (b"PK\x03\x04", "a zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89HDF", "an HDF5 file"),
    (b"{", "a JSON file (a safetensors index or a config?)"),
    (b"ggjt", "an old GGJT (pre-GGUF llama.cpp) file"),
    (b"ggml", "an old GGML (pre-GGUF llama.cpp) file"),
    (b"ggmf", "an old GGMF (pre-GGUF llama.cpp) file"),
    (b"<", "an HTML or XML page (a download that failed?)"),
)


def is_file_ref(ref: str) -> bool:
    """Does ``pull``'s argument name a file on this machine (see the module docstring)?"""
    s = ref.strip()
    low = s.lower()
    return (low.startswith("file:") or s.startswith(_FILE_PREFIXES)
            or bool(_WINDOWS_DRIVE.match(s)) or low.endswith(".gguf"))


def _from_file_url(ref: str) -> str:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(ref.strip())
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise UsageError(
            f"{ref!r} is not a local file URL",
            "Give file:///absolute/path/model.gguf, or the path itself (./model.gguf).",
        )
    return unquote(parts.path)


def resolve_file(ref: str) -> Path:
    """The absolute path of the file ``ref`` names; a UsageError (exit 2) naming it when it
    does not exist, is a folder, or cannot be read."""
    raw = _from_file_url(ref) if ref.strip().lower().startswith("file:") else ref.strip()
    path = Path(raw).expanduser()
    try:
        path = path.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"{ref}: no such file",
                         "Give the path of a GGUF file on this machine, e.g. ./model.gguf."
                         ) from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission on a parent
        raise UsageError(f"{ref}: cannot open it ({getattr(exc, 'strerror', None) or exc})"
                         ) from None
    if path.is_dir():
        raise UsageError(f"{ref} is a folder", "Give the .gguf file itself.")
    if not path.is_file():
        raise UsageError(f"{ref} is not a regular file", "Give a .gguf file.")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{ref}: not readable by you (permission denied)",
                         f"Check its permissions: ls -l {path}")
    return path


@dataclass(frozen=True)
class GgufHeader:
    version: int
    tensors: int
    metadata_keys: int
    big_endian: bool = False


def parse_header(head: bytes, what: str = "the file") -> GgufHeader:
    """Check the first bytes of a GGUF file; a UsageError saying what it is otherwise."""
    if len(head) < HEADER_SIZE or head[:4] != MAGIC:
        kind = next((name for magic, name in _OTHER_MAGICS if head.startswith(magic)), None)
        if len(head) < HEADER_SIZE and head[:4] == MAGIC[: len(head[:4])]:
            why = f"it is only {len(head)} bytes long"
        elif kind:
            why = f"it looks like {kind}"
        else:
            why = f"it starts with {head[:4]!r}, not {MAGIC!r}"
        raise UsageError(f"{what} is not a GGUF file ({why})",
                         "llmctl imports GGUF model files (llama.cpp's format); convert other "
                         "formats with llama.cpp's convert_hf_to_gguf.py first.")
    for order, big in (("<", False), (">", True)):
        version, tensors, keys = struct.unpack(order + "IQQ", head[4:HEADER_SIZE])
        if version in KNOWN_VERSIONS:
            return GgufHeader(version, tensors, keys, big)
    version = struct.unpack("<I", head[4:8])[0]
    raise UsageError(f"{what} is GGUF version {version}, which llmctl does not know "
                     f"(known: {', '.join(map(str, KNOWN_VERSIONS))})",
                     "It may be damaged, or newer than the servers that would load it.")


def read_header(path: Path) -> GgufHeader:
    try:
        with path.open("rb") as f:
            head = f.read(HEADER_SIZE)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return parse_header(head, str(path))


def split_part(path: Path) -> tuple[int, int] | None:
    """(part, parts) for a split GGUF (``model-00001-of-00003.gguf``), else None."""
    m = SPLIT_RE.search(path.name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def default_name(path: Path) -> str:
    """A model name from the file name, valid for Ollama and Model Runner alike.

    The name without ``.gguf``, lower-cased; runs of characters other than letters and
    digits become one separator (``.`` or ``_`` when the run is just that, else ``-``); at
    most 80 characters. ``SmolLM2-135M-Instruct.Q4_1.gguf`` → ``smollm2-135m-instruct.q4_1``.
    """
    stem = path.name
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    out: list[str] = []
    for alnum, sep in re.findall(r"([a-z0-9]+)|([^a-z0-9]+)", stem.lower()):
        if alnum:
            out.append(alnum)
        elif out:
            out.append(sep if sep in (".", "_") else "-")
    name = "".join(out)[:80].rstrip("._-")
    return name or "imported"


# --- sha256 --------------------------------------------------------------------------------

ProgressFn = Callable[[int, int], None]  # (bytes done, total)


def sha256_file(path: Path, size: int, on_progress: ProgressFn | None = None) -> str:
    """The hex sha256 of ``path``, read in 1 MiB chunks into one reused buffer."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    done = 0
    with path.open("rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            done += n
            if on_progress is not None:
                on_progress(done, size)
    return h.hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("LLMCTL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("llmctl", appauthor=False))


def _identity(path: Path, st: os.stat_result) -> dict[str, int]:
    return {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


def _load_cache(file: Path) -> dict[str, Any]:
    try:
        doc = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    entries = doc.get("entries") if isinstance(doc, dict) else None
    return entries if isinstance(entries, dict) else {}


def cached_digest(path: Path, st: os.stat_result) -> str | None:
    """The cached sha256 of ``path`` when the file is still the one that was hashed."""
    entry = _load_cache(cache_dir() / CACHE_FILE).get(str(path))
    if not isinstance(entry, dict) or entry.get("id") != _identity(path, st):
        return None
    digest = entry.get("sha256")
    return digest if isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) else None


def remember_digest(path: Path, st: os.stat_result, digest: str) -> None:
    """Record ``digest`` for ``path`` (best effort: a read-only cache dir is not an error)."""
    import tempfile

    folder = cache_dir()
    file = folder / CACHE_FILE
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        entries = _load_cache(file)
        entries[str(path)] = {"id": _identity(path, st), "sha256": digest, "t": time.time()}
        if len(entries) > CACHE_ENTRIES:  # keep the most recently hashed files
            keep = sorted(entries.items(), key=lambda kv: -float(kv[1].get("t", 0)))
            entries = dict(keep[:CACHE_ENTRIES])
        fd, tmp = tempfile.mkstemp(prefix=".gguf-digests.", dir=folder)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": 1, "entries": entries}, f)
            os.chmod(tmp, 0o600)  # it lists paths of the user's files
            os.replace(tmp, file)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def forget_digest(path: Path) -> None:
    """Drop the cache entry of ``path`` (after a server said the digest did not match)."""
    file = cache_dir() / CACHE_FILE
    entries = _load_cache(file)
    if str(path) in entries:
        with contextlib.suppress(OSError):
            del entries[str(path)]
            file.write_text(json.dumps({"version": 1, "entries": entries}))


def file_digest(path: Path, st: os.stat_result, on_progress: ProgressFn | None = None,
                *, use_cache: bool = True) -> tuple[str, bool]:
    """(hex sha256, came from the cache) of the file ``st`` describes."""
    if use_cache:
        found = cached_digest(path, st)
        if found:
            return found, True
    digest = sha256_file(path, st.st_size, on_progress)
    after = path.stat()
    if _identity(path, after) != _identity(path, st):
        from llmctl.errors import LlmctlError

        raise LlmctlError(f"{path} changed while it was being read",
                          "Wait until whatever writes it is done, then run the import again.")
    if use_cache:
        remember_digest(path, st, digest)
    return digest, False
