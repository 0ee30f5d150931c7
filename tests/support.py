"""Small helpers shared by the test modules."""

from __future__ import annotations

import os
import random
import shutil
import socket

import pytest

from llmctl.ports import next_free
from llmctl.probe import ManagedTarget

# .ci/run sets this: CI installs every prerequisite, so a missing one is a failure there.
REQUIRED = os.environ.get("LLMCTL_REQUIRE_DOCKER") == "1"


def need(ok: bool, reason: str) -> None:
    """Go on when ``ok``. Otherwise skip with ``reason`` on a machine that lacks something
    (a laptop without Docker or IPv6), but fail in CI, where nothing may be skipped."""
    if ok:
        return
    if REQUIRED:
        pytest.fail(f"LLMCTL_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def need_docker_cli() -> None:
    need(shutil.which("docker") is not None, "needs the docker CLI binary")


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refused_daemon() -> str:
    """A Docker host address whose connections are refused."""
    return f"tcp://127.0.0.1:{closed_port()}"


def publish_port(base: int = 20000, spread: int = 10000) -> int:
    """A free host port to publish a container on, spread out so parallel tests and
    sessions rarely pick the same one."""
    port = next_free(base + random.randrange(spread), "127.0.0.1")
    assert port is not None
    return port


def managed_target(url: str, instance: str = "t-one", profile: str = "ollama",
                   api: str = "ollama", cport: int | None = None) -> ManagedTarget:
    """What llmctl knows about a server it runs in a container (as probe receives it)."""
    port = cport if cport is not None else int(url.rsplit(":", 1)[1])
    return ManagedTarget(url=url, instance=instance, profile=profile, api=api,
                         container=f"llmctl-{instance}",
                         endpoint_container=f"http://llmctl-{instance}:{port}")
