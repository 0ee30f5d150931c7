"""What Model Runner's up, up --dry-run, down and status return: data, rendered by the CLI
(human text and ``--json`` from the same objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmctl.plan import ContainerSpec


@dataclass
class RunnerUpResult:
    action: str  # enabled | installed | created | reused | started | recreated
    kind: str  # Docker Desktop | Docker Engine
    method: str  # docker desktop enable | docker model install-runner | llmctl (engine API)
    port: int
    endpoint: str  # for processes on this machine
    base_url: str  # OpenAI base: endpoint + /engines/v1
    endpoint_container: str  # for containers
    ready: bool | None
    ready_seconds: float | None = None
    container: str | None = None
    image: str | None = None
    volume: str | None = None
    gpu: str | None = None
    version: str | None = None
    backends: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def endpoint_for_config(self) -> tuple[str, str | None, str] | None:
        """What `up model-runner --write-endpoint` saves: the runner and its model when it
        has exactly one (with none or several, writing says so and names the fix:
        `llmctl pull ai/... --write-endpoint`, or `llmctl endpoint write --model`)."""
        model = self.models[0] if len(self.models) == 1 else None
        return self.endpoint, model, f"Model Runner is up at {self.base_url}"


@dataclass
class RunnerDryRun:
    """`up model-runner --dry-run`: what `up` would do, found by reading only (no pull, no
    registry, no container, volume or network made, Desktop's settings untouched)."""

    kind: str  # Docker Desktop | Docker Engine | unknown (engine not reached)
    method: str  # as RunnerUpResult.method
    port: int
    container: str  # create | install | enable | reuse | start | recreate | refuse | unknown
    endpoint: str
    base_url: str
    reason: str | None = None
    spec: ContainerSpec | None = None  # the container llmctl itself would run
    would_run: list[str] = field(default_factory=list)  # commands (`docker ...`)
    would_pull: list[str] = field(default_factory=list)
    would_create: list[str] = field(default_factory=list)
    would_remove: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = True


@dataclass
class RunnerDownResult:
    action: str  # disabled | removed
    kind: str
    removed: list[str] = field(default_factory=list)
    volumes_removed: list[str] = field(default_factory=list)
    volumes_kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunnerStatus:
    kind: str  # Docker Desktop | Docker Engine
    running: bool
    installed: bool  # a runner container exists / Desktop reports the feature
    endpoint: str | None = None  # for host processes
    base_url: str | None = None
    endpoint_container: str | None = None
    container: str | None = None
    managed: bool = False  # made by llmctl (io.llmctl.* labels)
    version: str | None = None
    backends: dict[str, str] = field(default_factory=dict)
    models: int | None = None
    problem: str | None = None
    fix: str | None = None
    notes: list[str] = field(default_factory=list)
