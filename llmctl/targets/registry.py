"""Every target llmctl knows, found by name: the special targets by their own name, every
other name is a container profile. `up`, `down` and `status` ask here.

A special target's containers (the Model Runner container llmctl starts on Docker Engine)
are shown in its own section of `status`, not among the profiles' containers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.targets.base import Events, Target
from llmctl.targets.container import ContainerTarget
from llmctl.targets.model_runner.target import ModelRunnerTarget

if TYPE_CHECKING:
    from llmctl.engine.model import Engine
    from llmctl.lifecycle import StatusEntry

# Targets that are not container profiles, by the name `up`/`down` take.
SPECIAL: dict[str, Callable[[Events], Any]] = {ModelRunnerTarget.name: ModelRunnerTarget}


def find(name: str | None, events: Events | None = None) -> Target:
    """The target called ``name`` (a profile is loaded only when it is used). ``None``: the
    container instances, for `down --name NAME`."""
    special = SPECIAL.get(name or "")
    if special is not None:
        target: Target = special(events or Events())
        return target
    return ContainerTarget(name, events, stop_command=down_command)


def down_command(profile: str | None, instance: str | None) -> str:
    """How a user takes down one instance of any target (for hints)."""
    return find(profile).down_command(instance)


@dataclass
class StatusReport:
    """`llmctl status`: the profiles' containers, then each special target's section."""

    servers: list[StatusEntry]
    sections: dict[str, Any] = field(default_factory=dict)  # status key -> its status


def status(engine: Engine) -> StatusReport:
    from llmctl import lifecycle

    servers = [e for e in lifecycle.status(engine) if e.server.profile not in SPECIAL]
    report = StatusReport(servers)
    for factory in SPECIAL.values():
        target = factory(Events())
        report.sections[target.status_key] = target.status(engine)
    from llmctl.expose import status as exposure

    report.sections["proxies"] = exposure.status(engine)  # `llmctl expose`: what is exposed
    return report
