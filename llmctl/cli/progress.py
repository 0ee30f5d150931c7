"""Render ProgressEvents on stderr, for image pulls (`up`) and model pulls (`pull`).

Modes (``--progress``):

``tty``    one live bar per layer (bytes done/total, speed, ETA) with the steps that are not
           about a layer (``pulling manifest``, ``verifying sha256 digest``, ...) printed
           above the bars. Layer values are kept in a dict and pushed to rich at most every
           ``TTY_INTERVAL`` seconds; rich redraws on its own timer.
``plain``  one line per meaningful step, for logs and pipes: each new step, each layer's
           first appearance (with its size), 25/50/75 %, a heartbeat every
           ``HEARTBEAT`` seconds while a layer is slow, and one ``done`` line per layer.
``json``   NDJSON on stderr, one ``{"event": "progress", ...}`` object per step; layer
           progress at most every ``JSON_INTERVAL`` seconds per layer, first and last
           always. Keys: phase, status, layer, current, total, done, subject, t (seconds).
``none``   nothing.
``auto``   ``tty`` when stderr is a terminal, else ``plain``.

Every renderer is a callable sink (``sink(event)``) that is cheap on repeated or throttled
events: the common path is a dict lookup and a float comparison.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from llmctl.progress import ProgressEvent, ProgressSink, null_sink

MODES = ("auto", "tty", "plain", "json", "none")
TTY_INTERVAL = 0.1
JSON_INTERVAL = 0.25
HEARTBEAT = 10.0

Clock = Callable[[], float]


def resolve_mode(mode: str, *, json_output: bool = False) -> str:
    """``auto`` → ``tty`` or ``plain`` depending on stderr; validate the others."""
    if mode not in MODES:
        from llmctl.errors import UsageError

        raise UsageError(f"--progress {mode!r} is not one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    try:
        return "tty" if sys.stderr.isatty() else "plain"
    except (AttributeError, ValueError):
        return "plain"


def size_text(n: int | float | None) -> str:
    """Bytes for people, SI units like Ollama and Docker print them (1.2 GB)."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover


def _head(ev: ProgressEvent) -> str:
    """The text of a step that is not about one layer."""
    if ev.status in ("pulling", "pulled") and ev.subject:
        return f"{ev.status} {ev.subject}"
    return ev.status


class _Layer:
    __slots__ = ("current", "done", "first_t", "last_line_t", "quarter", "total")

    def __init__(self, now: float, total: int | None) -> None:
        self.first_t = now
        self.last_line_t = now
        self.quarter = 0
        self.done = False
        self.total = total
        self.current = 0


class PlainRenderer:
    """One line per meaningful step (see the module docstring)."""

    def __init__(self, stream: IO[str] | None = None, clock: Clock = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.layers: dict[str, _Layer] = {}
        self.last_head: str | None = None

    def _print(self, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    def __call__(self, ev: ProgressEvent) -> None:
        layer = ev.layer
        if layer is None:
            head = _head(ev)
            if head != self.last_head:
                self.last_head = head
                self._print(head)
            return
        st = self.layers.get(layer)
        now = self.clock()
        if st is None:
            st = self.layers[layer] = _Layer(now, ev.total)
            label = ev.status if layer in ev.status else f"{layer}: {ev.status}"
            if ev.done:
                st.done = True
                self._print(f"{label} ({size_text(ev.total)}, done)" if ev.total
                            else f"{label} (done)")
            else:
                self._print(f"{label} ({size_text(ev.total)})" if ev.total else label)
            return
        if st.done:
            return
        if ev.total is not None:
            st.total = ev.total
        if ev.current is not None:
            st.current = ev.current
        if ev.done:
            st.done = True
            took = now - st.first_t
            size = st.total or st.current
            speed = f", {size_text(size / took)}/s" if took > 0.05 and size else ""
            self._print(f"{layer}: done ({size_text(size)} in {took:.1f} s{speed})")
            return
        total = st.total
        if not total or ev.current is None:
            return
        quarter = 4 * ev.current // total
        if quarter > st.quarter and quarter < 4:
            st.quarter = quarter
        elif now - st.last_line_t < HEARTBEAT:
            return
        st.last_line_t = now
        took = now - st.first_t
        speed = f", {size_text(ev.current / took)}/s" if took > 0.05 and ev.current else ""
        self._print(f"{layer}: {100 * ev.current // total}% ({size_text(ev.current)} of "
                    f"{size_text(total)}{speed})")


class JsonRenderer:
    """NDJSON events on stderr; layer progress throttled per layer."""

    def __init__(self, stream: IO[str] | None = None, clock: Clock = time.monotonic,
                 interval: float = JSON_INTERVAL) -> None:
        self.stream = stream
        self.clock = clock
        self.interval = interval
        self.start = clock()
        self.next_t: dict[str, float] = {}
        self.last_head: str | None = None

    def __call__(self, ev: ProgressEvent) -> None:
        now = self.clock()
        layer = ev.layer
        if layer is not None:
            due = self.next_t.get(layer)
            if due is not None and not ev.done and now < due:
                return
            self.next_t[layer] = now + self.interval
        else:
            key = f"{ev.status}\0{ev.done}"
            if key == self.last_head:
                return
            self.last_head = key
        doc = {"event": "progress", **ev.to_dict(), "t": round(now - self.start, 3)}
        stream = self.stream or sys.stderr
        stream.write(json.dumps(doc, separators=(",", ":")) + "\n")
        stream.flush()


class TtyRenderer:
    """Live per-layer bars (rich) with step lines above them."""

    def __init__(self, console: Any = None, clock: Clock = time.monotonic,
                 interval: float = TTY_INTERVAL) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        if console is None:
            from llmctl.cli.output import console as get_console

            console = get_console(err=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=False),
            TransferSpeedColumn(), TimeRemainingColumn(), console=console,
            refresh_per_second=8, transient=False, redirect_stdout=False,
            redirect_stderr=False,
        )
        self.clock = clock
        self.interval = interval
        self.tasks: dict[str, Any] = {}
        self.pending: dict[str, tuple[str, int, int | None, bool]] = {}
        self.next_flush = 0.0
        self.last_head: str | None = None

    def __enter__(self) -> TtyRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.progress.stop()

    def flush(self) -> None:
        """Push the latest value of every layer that changed since the last push."""
        pending, self.pending = self.pending, {}
        for layer, (status, current, total, done) in pending.items():
            self._apply(layer, status, current, total, done)

    def _label(self, layer: str, status: str, done: bool) -> str:
        if done:
            return f"{layer} done"
        return status if layer in status else f"{layer} {status}"

    def _apply(self, layer: str, status: str, current: int, total: int | None,
               done: bool) -> None:
        task = self.tasks.get(layer)
        if task is None:
            task = self.tasks[layer] = self.progress.add_task(
                self._label(layer, status, done), total=total)
        if done and total:
            current = total
        self.progress.update(task, completed=current, total=total,
                             description=self._label(layer, status, done))

    def __call__(self, ev: ProgressEvent) -> None:
        layer = ev.layer
        if layer is None:
            head = _head(ev)
            if head != self.last_head:
                self.last_head = head
                self.flush()
                self.progress.console.print(head, markup=False, highlight=False)
            return
        self.pending[layer] = (ev.status, ev.current or 0, ev.total, ev.done)
        now = self.clock()
        if ev.done or layer not in self.tasks or now >= self.next_flush:
            self.next_flush = now + self.interval
            self.flush()


@contextmanager
def progress_sink(mode: str) -> Iterator[ProgressSink]:
    """The sink for a resolved mode (``resolve_mode``); closes live displays on exit."""
    if mode == "none":
        yield null_sink
    elif mode == "json":
        yield JsonRenderer()
    elif mode == "plain":
        yield PlainRenderer()
    else:
        with TtyRenderer() as tty:
            yield tty
