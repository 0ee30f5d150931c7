"""Fixtures for tests against a real Docker engine.

With LLMCTL_REQUIRE_DOCKER=1 (set by .ci/run) a missing engine is a test FAILURE; without it
these tests skip with the reason. Every test uses instance names starting with ``t-`` and
removes what it made; a sweep at session start removes leftovers of earlier runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import infra
from tests.support import need


def _unavailable(reason: str) -> None:
    need(False, f"needs a Docker engine: {reason}")


@pytest.fixture(scope="session")
def docker_client():  # type: ignore[no-untyped-def]
    try:
        import docker

        client = docker.from_env(version="auto", timeout=30)
        client.ping()
    except Exception as exc:
        _unavailable(f"no Docker engine answers ({str(exc)[:120]})")
    infra.sweep(client)
    yield client


@pytest.fixture(scope="session")
def fake_image(docker_client) -> str:  # type: ignore[no-untyped-def]
    """The fake LLM server image, built locally from tests/fakes (cached by content)."""
    try:
        return infra.ensure_fake_image(docker_client)
    except infra.InfraError as exc:
        _unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def llamacpp_image(docker_client) -> str:  # type: ignore[no-untyped-def]
    """The real llama.cpp server image (Debian sid's llama.cpp-tools), built once and cached."""
    try:
        return infra.ensure_llamacpp_image(docker_client)
    except infra.InfraError as exc:
        need(False, f"needs the llama.cpp test image: {exc}")
        raise


@pytest.fixture(scope="session")
def registry_server(docker_client) -> Iterator[infra.Registry]:  # type: ignore[no-untyped-def]
    """The run's loopback registry, started for this session and stopped (its folder
    removed) at its end; or the one LLMCTL_TEST_REGISTRY names, checked to be a registry."""
    try:
        reg = infra.ensure_registry()
    except infra.InfraError as exc:
        _unavailable(str(exc))
        raise
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def registry(registry_server: infra.Registry) -> str:
    """host:port of the run's loopback registry."""
    return registry_server.address


@pytest.fixture(scope="session")
def registry_image(docker_client, fake_image: str, registry: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The fake image pushed to the loopback registry, e.g. 127.0.0.1:41234/llmctl-test/fake:x
    (the local tag is removed at the end when the registry was this run's)."""
    import docker

    ref = infra.push_to_registry(docker_client, fake_image, registry, "llmctl-test/fake")
    yield ref
    if registry != infra.EXPLICIT_REGISTRY:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(ref, noprune=True)


@pytest.fixture
def pullable_image(docker_client, registry_image: str) -> str:  # type: ignore[no-untyped-def]
    """A registry reference that is NOT present locally, so `up` must pull it."""
    import docker

    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(registry_image, force=True, noprune=False)
    return registry_image


@pytest.fixture
def instance(docker_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A unique instance name; its containers and volumes are removed afterwards."""
    name = f"{infra.TEST_PREFIX}{uuid.uuid4().hex[:8]}"
    yield name
    for c in docker_client.containers.list(
        all=True, filters={"label": f"io.llmctl.instance={name}"}
    ):
        c.remove(force=True)
    for v in docker_client.volumes.list():
        if v.name.startswith(name):
            v.remove(force=True)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:  # type: ignore[type-arg]
        import json

        return json.loads(self.stdout)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180,
            input: str | None = None, cwd: Path | None = None) -> CliResult:
    """Run `python -m llmctl ARGS` as a user would: a real process, stdout/stderr apart."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "llmctl", *args], capture_output=True, text=True,
        timeout=timeout, env=full_env, input=input if input is not None else "",
        cwd=cwd,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return run_cli


@pytest.fixture
def ollama_up(cli, instance: str, fake_image: str):  # type: ignore[no-untyped-def]
    """A running fake Ollama started through `llmctl up` on a free port; yields (name, url)."""
    from llmctl.ports import next_free

    port = next_free(21000 + uuid.uuid4().int % 2000, "127.0.0.1")
    assert port is not None
    res = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image,
              "--timeout", "60", "--progress", "none", "--json")
    assert res.code == 0, res.stderr
    doc = res.json()["result"]
    yield instance, doc["endpoint"]
    cli("down", "ollama", "--name", instance, "--volumes", "--yes")
