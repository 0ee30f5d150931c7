"""Host ports: is one free, who holds it, and which free one to suggest instead.

:func:`who_holds` is the one answer to "who holds this port": a container (from the
engine's published ports), one of llmctl's, a Docker Model Runner, a host Ollama, another
process, or nobody. It gathers the facts only; each caller words them for its own message
(``up``'s port conflict, the Model Runner's, doctor's port table).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from llmctl.plan import LABEL_INSTANCE, LABEL_MANAGED, LABEL_PROFILE, RUNNER_ROLE_LABEL

if TYPE_CHECKING:
    from llmctl.engine.model import ContainerInfo, PublishedPort


def port_free(port: int, bind: str = "127.0.0.1") -> bool:
    """True when nothing on this host listens on ``bind:port`` (or on every interface).

    SO_REUSEADDR (not on Windows, where it means "steal") makes a bind fail only on a real
    listener, not on connections lingering in TIME_WAIT.
    """
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        if os.name != "nt":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind, port))
        except OSError:
            return False
    return True


def next_free(start: int, bind: str, taken: Iterable[int] = (), limit: int = 200) -> int | None:
    avoid = set(taken)
    for port in range(start, min(65535, start + limit) + 1):
        if port not in avoid and port_free(port, bind):
            return port
    return None


def process_holding(port: int) -> str | None:
    """Best effort on Linux: the command of the process listening on ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    exe = " ".join(c.decode(errors="replace") for c in cmd if c)[:80]
                except OSError:
                    exe = "?"
                return f"pid {pid} ({exe})"
    return "a process of another user"


class Answer(Protocol):
    """What answers HTTP on a port (doctor's ``Answer`` is one)."""

    @property
    def kind(self) -> str:
        """ollama | model-runner | http | silent (listens, no HTTP) | none (nothing listens)"""
        ...


@dataclass(frozen=True)
class Heard:
    """A plain :class:`Answer`, for callers that have no richer one."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class PortHolder:
    """Who holds a port, as found by :func:`who_holds`."""

    port: int
    # free | llmctl | model-runner | container | host-ollama | process | unknown
    kind: str
    container: ContainerInfo | None = None  # the container publishing it
    process: str | None = None  # "pid 123 (cmd)", when asked and found
    answer: Answer | None = None  # what answered HTTP there, when asked

    @property
    def profile(self) -> str | None:
        """For one of llmctl's containers: its profile (what `llmctl down` needs)."""
        return self.container.labels.get(LABEL_PROFILE) if self.container else None

    @property
    def instance(self) -> str | None:
        if self.container is None:
            return None
        return self.container.labels.get(LABEL_INSTANCE, self.container.name)


def who_holds(
    port: int,
    *,
    published: Iterable[tuple[ContainerInfo, PublishedPort]] = (),
    process: Callable[[int], str | None] | None = None,
    identify: Callable[[int], Answer | None] | None = None,
    identify_containers: bool = False,
) -> PortHolder:
    """Who holds ``port``, from what the caller can know:

    - ``published``: the engine's published ports (pass none when the engine's ports are
      not this machine's, e.g. a remote daemon asked about a local port);
    - ``process``: finds the process listening on a port (:func:`process_holding`), or
      None where that cannot be known (another host, another OS);
    - ``identify``: asks what answers HTTP on a port (None: not asked). For a container it
      is asked only with ``identify_containers``, to tell a Model Runner without a label.

    A container wins; then an HTTP answer naming Ollama or Model Runner; then a process.
    """
    container = next((info for info, pub in published if pub.host_port == port), None)
    answer = identify(port) if identify is not None and (
        container is None or identify_containers) else None
    said = answer.kind if answer is not None else None
    if container is not None:
        if container.labels.get(LABEL_MANAGED) == "true":
            kind = "llmctl"
        elif container.labels.get(RUNNER_ROLE_LABEL) or said == "model-runner":
            kind = "model-runner"
        else:
            kind = "container"
        return PortHolder(port, kind, container=container, answer=answer)
    if said == "none":
        return PortHolder(port, "free", answer=answer)
    proc = process(port) if process is not None else None
    if said == "ollama":
        kind = "host-ollama"
    elif said == "model-runner":
        kind = "model-runner"
    else:
        kind = "process" if proc else "unknown"
    return PortHolder(port, kind, process=proc, answer=answer)
