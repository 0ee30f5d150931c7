"""Render ProgressEvents on stderr: bars on a TTY, one line per step when piped, NDJSON, or
nothing. Redraws are throttled so a stream of thousands of events stays cheap."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llmctl.progress import ProgressEvent, ProgressSink, null_sink

MODES = ("auto", "tty", "plain", "json", "none")


def resolve_mode(mode: str, *, json_output: bool = False) -> str:
    if mode not in MODES:
        from llmctl.errors import UsageError

        raise UsageError(f"--progress {mode!r} is not one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    return "tty" if sys.stderr.isatty() else "plain"


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


class PlainRenderer:
    """A line per meaningful step: new status text, a layer finished, each 25% of a layer."""

    def __init__(self) -> None:
        self.last_status: dict[str | None, str] = {}
        self.quarter: dict[str, int] = {}

    def __call__(self, ev: ProgressEvent) -> None:
        key = ev.layer
        if ev.layer and ev.total and ev.current is not None and not ev.done:
            q = min(3, int(4 * ev.current / ev.total)) if ev.total else 0
            if self.quarter.get(ev.layer, -1) >= q and self.last_status.get(key) == ev.status:
                return
            self.quarter[ev.layer] = q
            self.last_status[key] = ev.status
            pct = 100 * ev.current / ev.total
            print(f"{ev.layer}: {ev.status} {pct:3.0f}% of {_size(ev.total)}", file=sys.stderr,
                  flush=True)
            return
        if self.last_status.get(key) == ev.status and not ev.done:
            return
        self.last_status[key] = ev.status
        prefix = f"{ev.layer}: " if ev.layer else ""
        print(f"{prefix}{ev.status}", file=sys.stderr, flush=True)


class JsonRenderer:
    def __call__(self, ev: ProgressEvent) -> None:
        sys.stderr.write(json.dumps({"event": "progress", **ev.to_dict()}) + "\n")
        sys.stderr.flush()


class TtyRenderer:
    """Per-layer bars with rich, redrawn at most 10 times a second."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from llmctl.cli.output import console

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=console(err=True),
            refresh_per_second=10, transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.status_task: Any = None
        self.last = 0.0

    def __enter__(self) -> TtyRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, ev: ProgressEvent) -> None:
        if ev.layer:
            task = self.tasks.get(ev.layer)
            if task is None:
                task = self.progress.add_task(ev.layer, total=ev.total)
                self.tasks[ev.layer] = task
            now = time.monotonic()
            if not ev.done and now - self.last < 0.05:
                return  # rich redraws on its own timer; skip needless updates
            self.last = now
            if ev.done and ev.total:
                self.progress.update(task, completed=ev.total, total=ev.total)
            else:
                self.progress.update(task, completed=ev.current or 0, total=ev.total)
            return
        if self.status_task is None:
            self.status_task = self.progress.add_task(ev.status, total=None)
        self.progress.update(self.status_task, description=ev.status)


@contextmanager
def progress_sink(mode: str) -> Iterator[ProgressSink]:
    if mode == "none":
        yield null_sink
    elif mode == "json":
        yield JsonRenderer()
    elif mode == "plain":
        yield PlainRenderer()
    else:
        with TtyRenderer() as tty:
            yield tty
