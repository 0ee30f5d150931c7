"""Where Docker Model Runner lives for an engine: inside Docker Desktop, or as a container.

Decided from the engine's facts and the host OS, like the `docker model` CLI does
(reference/server-apis.md §2.5): Docker Desktop on macOS, Windows or WSL2 runs the runner
itself (at least 4.40); every other engine, Docker Desktop for Linux included, runs it as a
container.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmctl.errors import DesktopTooOld

if TYPE_CHECKING:
    from llmctl.engine.model import EngineFacts

DESKTOP_MIN = (4, 40)
DESKTOP_CONTAINER_URL = "http://model-runner.docker.internal"


@dataclass(frozen=True)
class Place:
    """Where the runner lives for this engine."""

    mode: str  # "desktop" (inside Docker Desktop) | "engine" (a container)
    engine_kind: str  # EngineFacts.kind
    desktop_version: str | None = None
    note: str | None = None

    @property
    def kind(self) -> str:
        return "Docker Desktop" if self.mode == "desktop" else "Docker Engine"


def host_os() -> str:
    """darwin | win32 | wsl | linux | … (the machine llmctl runs on)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            if "microsoft" in os.uname().release.lower():
                return "wsl"
        return "linux"
    return sys.platform


def parse_version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def detect_place(facts: EngineFacts, os_name: str | None = None) -> Place:
    """Desktop on macOS/Windows/WSL2 runs the runner itself; Docker Desktop for Linux is
    treated as a plain engine, as the `docker model` CLI does (desktop/context.go)."""
    os_name = os_name or host_os()
    if facts.kind == "Docker Desktop":
        if os_name in ("darwin", "win32", "wsl"):
            return Place("desktop", facts.kind, facts.desktop_version)
        return Place("engine", facts.kind, facts.desktop_version,
                     note="Docker Desktop for Linux: Model Runner runs as a container in "
                          "Desktop's VM, like on Docker Engine")
    note = None
    if facts.kind != "Docker Engine":
        note = f"{facts.kind}: Model Runner runs as a container, as on Docker Engine"
    return Place("engine", facts.kind, None, note)


def check_desktop(place: Place, facts: EngineFacts, os_name: str | None = None) -> list[str]:
    """Raise DesktopTooOld below 4.40; return warnings worth showing."""
    notes: list[str] = []
    version = parse_version(place.desktop_version)
    if version is None:
        notes.append("could not read the Docker Desktop version; assuming 4.40 or later")
    elif version[:2] < DESKTOP_MIN:
        raise DesktopTooOld(
            f"Docker Desktop {place.desktop_version} is too old for Docker Model Runner "
            f"(it needs {DESKTOP_MIN[0]}.{DESKTOP_MIN[1]} or later)",
            "Update Docker Desktop (menu > Check for updates), then run this again.",
            details={"desktop_version": place.desktop_version,
                     "required": f"{DESKTOP_MIN[0]}.{DESKTOP_MIN[1]}"},
        )
    if (os_name or host_os()) == "darwin" and facts.arch in ("x86_64", "amd64"):
        notes.append("Model Runner on macOS needs Apple Silicon; this Mac reports "
                     f"{facts.arch}, so enabling it may fail")
    return notes
