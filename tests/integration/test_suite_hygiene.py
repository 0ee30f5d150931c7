"""The suite leaves the machine as it found it, and takes only a registry for its registry.

A small pytest session runs in a subprocess with the suite's own fixtures (the conftest files
loaded as plugins): it starts its registry, pushes the fake image, runs a server through
`llmctl up`. Afterwards no registry process, folder, port, image tag, container or volume of
that session remains.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import infra
from tests.support import closed_port, need

pytestmark = pytest.mark.docker

INNER = '''
import json
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker


def test_session_uses_registry_and_a_server(registry_server, registry_image, ollama_up):
    Path(os.environ["HYGIENE_OUT"]).write_text(json.dumps({
        "address": registry_server.address, "pid": registry_server.process.pid,
        "root": str(registry_server.root), "image": registry_image,
        "instance": ollama_up[0]}))


def test_session_killed_while_its_registry_runs(registry_server):
    Path(os.environ["HYGIENE_OUT"]).write_text(json.dumps({
        "address": registry_server.address, "pid": registry_server.process.pid,
        "root": str(registry_server.root)}))
    time.sleep(300)  # killed from outside
'''


def need_registry_binary() -> None:
    need(infra.shutil.which("docker-registry") is not None,
         "needs Debian's docker-registry (`apt-get install docker-registry`)")


def inner_session(tmp_path: Path, test: str) -> tuple[subprocess.Popen[str], Path]:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text(INNER)
    (inner / "pytest.ini").write_text("[pytest]\nmarkers =\n    docker: a Docker test\n")
    out = tmp_path / "out.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("LLMCTL_TEST_SUMMARY", "LLMCTL_TEST_REGISTRY", "PYTEST_ADDOPTS")}
    env.update(HYGIENE_OUT=str(out), LLMCTL_TEST_SUMMARY=str(tmp_path / "summary.json"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest",
         "-p", "tests.integration.conftest", "-p", "no:cacheprovider",
         "-c", str(inner / "pytest.ini"), "--rootdir", str(inner),
         "--basetemp", str(tmp_path / "basetemp"), "-q", f"{inner / 'test_inner.py'}::{test}"],
        cwd=infra.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, out


def registry_process_alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return b"docker-registry" in cmdline and "\nState:\tZ" not in status


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (after {timeout} s)")
        time.sleep(0.1)


def test_a_session_stops_what_it_started(docker_client, fake_image: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import docker

    need_registry_binary()
    proc, out = inner_session(tmp_path, "test_session_uses_registry_and_a_server")
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, output
    assert "docker tests: 1 collected, 1 ran (1 passed, 0 failed), 0 skipped" in output
    made = json.loads(out.read_text())
    host, port = made["address"].rsplit(":", 1)
    assert not registry_process_alive(made["pid"])
    assert not Path(made["root"]).exists()
    assert not infra._port_open(host, int(port))
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(made["image"])  # the tag pushed to its registry
    instance = made["instance"]
    assert docker_client.containers.list(
        all=True, ignore_removed=True, filters={"label": f"io.llmctl.instance={instance}"}) == []
    assert [v.name for v in docker_client.volumes.list() if v.name.startswith(instance)] == []


def test_a_killed_session_does_not_leave_its_registry_running(
    docker_client, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    need_registry_binary()
    proc, out = inner_session(tmp_path, "test_session_killed_while_its_registry_runs")
    try:
        wait_until(lambda: out.exists() or proc.poll() is not None, 120,
                   "the inner session did not start its registry")
        assert proc.poll() is None, proc.communicate()[0]
        made = json.loads(out.read_text())
        assert registry_process_alive(made["pid"])
        proc.send_signal(signal.SIGKILL)  # no clean-up runs: the registry must end anyway
        proc.wait(30)
        wait_until(lambda: not registry_process_alive(made["pid"]), 30,
                   "the registry outlived the session that started it")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if out.exists():  # what the killed session could not clean up
            made = json.loads(out.read_text())
            if registry_process_alive(made["pid"]):
                os.kill(made["pid"], signal.SIGKILL)
            infra.shutil.rmtree(made["root"], ignore_errors=True)


@pytest.fixture
def not_a_registry() -> Iterator[str]:
    """host:port of an HTTP server answering 200 {} everywhere, without the registry header."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_what_answers_at_the_registry_address_must_be_a_registry(not_a_registry: str) -> None:
    assert not infra.is_registry(not_a_registry)
    with pytest.raises(infra.InfraError, match="what answers there is not a registry"):
        infra.ensure_registry(explicit=not_a_registry)


def test_a_registry_found_at_the_address_is_used_and_left_running() -> None:
    need_registry_binary()
    ours = infra.ensure_registry(explicit=None)  # on a free port
    try:
        assert ours.process is not None and infra.is_registry(ours.address)
        found = infra.ensure_registry(explicit=ours.address)
        assert found.address == ours.address and found.process is None
        found.stop()  # not started by this call: left alone
        assert infra.is_registry(ours.address)
    finally:
        ours.stop()
    host, port = ours.address.rsplit(":", 1)
    assert not infra._port_open(host, int(port))


def test_a_free_registry_address_gets_a_registry_started_there() -> None:
    need_registry_binary()
    address = f"127.0.0.1:{closed_port()}"
    reg = infra.ensure_registry(explicit=address)
    try:
        assert reg.address == address and infra.is_registry(address)
    finally:
        reg.stop()
    assert not infra.is_registry(address)


RACER = '''
import sys
from tests.integration import infra

fetch = infra._fetch_smollm2
fetched = []


def counting(work, target):
    fetched.append(target)
    fetch(work, target)


infra._fetch_smollm2 = counting
path = infra.smollm2_gguf()
print(path, "fetched" if fetched else "found")
'''


def test_two_runs_at_once_share_the_cache_without_racing(tmp_path: Path) -> None:
    """Two runs on an empty cache at once: one fetches the model under the lock, the other
    waits and finds it whole; no temporary file is left behind."""
    cache = tmp_path / "cache"
    env = {**os.environ, "LLMCTL_TEST_CACHE": str(cache)}
    racers = [subprocess.Popen([sys.executable, "-c", RACER], cwd=infra.ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    results = [p.communicate(timeout=600) for p in racers]
    assert [p.returncode for p in racers] == [0, 0], results
    said = sorted(out.split()[-1] for out, _ in results)
    assert said == ["fetched", "found"], results
    target = cache / "models" / infra.SMOLLM2_FILE
    assert {out.split()[0] for out, _ in results} == {str(target)}
    assert sorted(p.name for p in cache.rglob("*")) == sorted(
        ["models", infra.SMOLLM2_FILE, "smollm2.lock"])
    assert infra._sha256(target) == infra.SMOLLM2_SHA256


class _Images:
    """Stands in for docker_client.images: only whether the one image exists."""

    def __init__(self) -> None:
        self.present = False

    def get(self, ref: str) -> object:
        import docker

        if not self.present:
            raise docker.errors.ImageNotFound(ref)
        return object()


def test_an_image_that_exists_once_making_it_failed_is_a_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The failure of issue 11: two runs built the base image at once, one of them saw its
    # mmdebstrap fail ("... I: success in 73.3 seconds") and skipped every Docker test.
    monkeypatch.setattr(infra, "CACHE", tmp_path)
    client = type("Client", (), {"images": _Images()})()

    def made_elsewhere() -> None:
        client.images.present = True  # another run (another cache) imported it meanwhile
        raise infra.InfraError("mmdebstrap could not build the test base image")

    assert infra._make_image(client, "llmctl-test/x:1", "x", made_elsewhere) == "llmctl-test/x:1"

    client.images.present = False

    def fails() -> None:
        raise infra.InfraError("mmdebstrap could not build the test base image: E: no net")

    with pytest.raises(infra.InfraError, match="no net"):
        infra._make_image(client, "llmctl-test/x:1", "x", fails)
