"""The real engine tells what happens to a container as it happens (DockerEngine.watch),
through both transports: the standard library's on the daemon's socket, and the docker SDK's
(what ssh, TLS and named pipes use). Names start with ``t-``; what a test made is removed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from llmctl.engine import connect
from llmctl.engine.api import SdkTransport
from llmctl.engine.docker_engine import DockerEngine
from llmctl.engine.model import ContainerEvent
from llmctl.plan import LABEL_INSTANCE, LABEL_MANAGED, ContainerSpec, PortBinding
from tests.support import publish_port

pytestmark = pytest.mark.docker


def sdk_engine() -> DockerEngine:
    """The local daemon spoken to through the docker SDK's session."""
    socket_engine = connect()
    client = socket_engine.client
    return DockerEngine(SdkTransport(client.api, socket_engine.target.host),
                        socket_engine.target, client=client)


ENGINES: dict[str, Callable[[], Any]] = {"socket": connect, "sdk": sdk_engine}


def crashing(instance: str, image: str) -> ContainerSpec:
    """The fake Ollama, told to exit with code 3 a moment after it starts."""
    return ContainerSpec(
        name=f"llmctl-{instance}", instance=instance, profile="ollama", api="ollama",
        image=image, command=(), env={"LLMFAKE_EXIT_AFTER": "1"},
        ports=(PortBinding("127.0.0.1", publish_port(), 11434),), volumes=(), gpus=False,
        labels={LABEL_MANAGED: "true", LABEL_INSTANCE: instance, "io.llmctl.test": "1"},
        restart="no")


@pytest.mark.parametrize("transport", sorted(ENGINES))
def test_a_watch_sees_the_exit_and_the_removal(transport: str, fake_image: str,
                                               instance: str) -> None:
    engine = ENGINES[transport]()
    spec = crashing(instance, fake_image)
    events: list[ContainerEvent] = []
    died, destroyed = threading.Event(), threading.Event()

    def on_event(event: ContainerEvent) -> None:
        events.append(event)
        if event.action == "die":
            died.set()
        if event.action == "destroy":
            destroyed.set()

    # Watched by name before it exists: nothing between its start and the watch is missed.
    watch = engine.watch(spec.name, on_event)
    try:
        engine.run(spec)
        assert died.wait(60), [e.action for e in events]
        die = next(e for e in events if e.action == "die")
        assert die.exit_code == 3
        info = engine.get(spec.name)
        assert info is not None and (info.state, info.exit_code) == ("exited", 3)
        assert engine.remove(spec.name, stop_timeout=1) is True
        assert destroyed.wait(60), [e.action for e in events]
    finally:
        watch.close()
    assert [e.action for e in events][:2] == ["create", "start"]


@pytest.mark.parametrize("transport", sorted(ENGINES))
def test_logs_come_back_as_lines(transport: str, fake_image: str, instance: str) -> None:
    engine = ENGINES[transport]()
    spec = crashing(instance, fake_image)
    engine.run(spec)
    try:
        lines: list[str] = []
        done = threading.Event()

        def on_event(event: ContainerEvent) -> None:
            if event.action == "die":
                done.set()

        watch = engine.watch(spec.name, on_event)
        try:
            info = engine.get(spec.name)
            if info is None or info.state == "running":
                assert done.wait(60)
        finally:
            watch.close()
        lines = engine.logs_tail(spec.name)
        assert lines and all("\x00" not in line for line in lines)
        assert any("fatal: engine core initialization failed" in line for line in lines), lines
    finally:
        engine.remove(spec.name, stop_timeout=1)
