"""Progress events shared by image pulls (`up`) and model pulls (`pull`).

The core emits :class:`ProgressEvent` objects to a sink (any callable). Rendering lives in
``llmctl.cli.progress`` (bars on a TTY, lines when piped, NDJSON for scripts, nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    phase: str  # "image" (container image) or "model"
    status: str  # what is happening, e.g. "pulling manifest", "Downloading", "success"
    layer: str | None = None  # short layer id when the event is about one layer
    current: int | None = None  # bytes done for that layer
    total: int | None = None  # bytes in that layer, when known
    done: bool = False  # the layer (or the whole pull, when layer is None) finished
    subject: str | None = None  # image or model reference

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


ProgressSink = Callable[[ProgressEvent], None]


def null_sink(event: ProgressEvent) -> None:
    """A sink that drops everything (library use, --progress none)."""


def human_size(n: float | None) -> str:
    """Bytes for people, in SI units like Ollama and Docker print them (1.2 GB)."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
