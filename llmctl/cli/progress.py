"""Render ProgressEvents on stderr, for image pulls (`up`) and model pulls (`pull`).

Modes (``--progress``):

``tty``    one live bar per layer (percent, bytes done/total, speed, ETA) with the steps that
           are not about a layer (``pulling manifest``, ``verifying sha256 digest``, ...)
           printed above the bars; redrawn at most every ``TTY_INTERVAL`` seconds with plain
           ANSI escapes (no refresh thread, no rich import).
``plain``  one line per meaningful step, for logs and pipes: each new step, each layer's
           first appearance (with its size), 25/50/75 %, a heartbeat every
           ``HEARTBEAT`` seconds while a layer is slow, and one ``done`` line per layer.
``json``   NDJSON on stderr, one ``{"event": "progress", ...}`` object per step; layer
           progress at most every ``JSON_INTERVAL`` seconds per layer, first and last
           always. Keys: phase, status, layer, current, total, done, subject, t (seconds).
``none``   nothing.
``auto``   ``tty`` when stderr is a terminal, else ``plain``.

Every renderer is a callable sink (``sink(event)``) that is cheap on repeated or throttled
events: the common path is a dict lookup and a float comparison. Text from the server or
the registry (statuses, layer names) is escaped before it reaches the terminal
(``llmctl.cli.output.printable``); the json renderer keeps it (JSON escapes it).

``TtyRenderer.status(text)`` keeps one more line under the bars, redrawn in place: the
readiness wait of ``llmctl up`` (elapsed / timeout and what the server said last), so a
30-minute vLLM load is one line, not one per second.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from llmctl.cli.output import display_width, printable
from llmctl.progress import ProgressEvent, ProgressSink, human_size, null_sink

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
        stream.write(printable(text, one_line=True) + "\n")
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
                self._print(f"{label} ({human_size(ev.total)}, done)" if ev.total
                            else f"{label} (done)")
            else:
                self._print(f"{label} ({human_size(ev.total)})" if ev.total else label)
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
            speed = f", {human_size(size / took)}/s" if took > 0.05 and size else ""
            self._print(f"{layer}: done ({human_size(size)} in {took:.1f} s{speed})")
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
        speed = f", {human_size(ev.current / took)}/s" if took > 0.05 and ev.current else ""
        self._print(f"{layer}: {100 * ev.current // total}% ({human_size(ev.current)} of "
                    f"{human_size(total)}{speed})")


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
    """Live per-layer bars drawn with a few ANSI escapes (no rich: its import alone costs
    more than parsing 200,000 progress lines), steps printed above them.

    Layer values are recorded on every event (a tuple store); the block is redrawn at most
    every ``interval`` seconds, and at once for a new layer, a finished one or a step line.
    One ``write`` per redraw. The cursor is hidden while drawing and always restored.
    """

    def __init__(self, stream: IO[str] | None = None, clock: Clock = time.monotonic,
                 interval: float = TTY_INTERVAL, width: int | None = None,
                 color: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.interval = interval
        self.width = width
        if color is None:
            from llmctl.cli.output import color_enabled

            color = color_enabled(self.stream)
        self.color = color
        encoding = (getattr(self.stream, "encoding", None) or "utf-8").lower()
        self.fill, self.empty = ("━", "─") if "utf" in encoding else ("#", "-")
        # layer -> [status, current, total, done, first_t, first_current, done_t]
        self.layers: dict[str, list[Any]] = {}
        self.drawn = 0  # lines of the block currently on screen
        self.next_draw = 0.0
        self.dirty = False
        self.last_head: str | None = None
        self.status_text: str | None = None  # the live line under the bars

    def __enter__(self) -> TtyRenderer:
        self.stream.write("\x1b[?25l")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.status_text is not None:  # the live line goes; what follows says how
                self.status_text = None       # the wait ended
                self.draw()
            elif self.dirty:
                self.draw()
        finally:
            self.stream.write("\x1b[?25h")
            self.stream.flush()

    def _cols(self) -> int:
        if self.width:
            return self.width
        import shutil

        return max(40, shutil.get_terminal_size((100, 24)).columns)

    def _line(self, layer: str, st: list[Any], now: float, cols: int) -> str:
        status, current, total, done, first_t, first_current, done_t = st
        layer, status = printable(layer, one_line=True), printable(status, one_line=True)
        label = (f"{layer} done" if done else
                 status if layer in status else f"{layer} {status}")[:28].ljust(28)
        if not total:
            return f"{label} {human_size(current) if current else ''}".rstrip()[:cols]
        if done:
            current = total
        frac = min(1.0, current / total)
        bar_w = max(10, min(40, cols - 28 - 44))
        n = int(frac * bar_w)
        bar = self.fill * n + self.empty * (bar_w - n)
        if self.color:
            bar = f"\x1b[{'32' if done else '35'}m{bar}\x1b[0m"
        took = (done_t if done and done_t is not None else now) - first_t  # frozen when done
        speed = (current - first_current) / took if took > 0.2 else 0.0
        if done:
            tail = f"{human_size(total)} in {took:.1f} s"
        else:
            eta = (total - current) / speed if speed > 0 else None
            eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}" if eta is not None and \
                eta < 360000 else "-:--"
            rate = f"{human_size(speed)}/s" if speed else "?/s"
            tail = (f"{human_size(current).split()[0]}/{human_size(total)} {rate} "
                    f"eta {eta_text}")
        text = f"{label} {bar} {100 * frac:3.0f}% {tail}"
        return text if self.color else text[:cols]

    def draw(self) -> None:
        """Replace the block on screen with the current state of every layer."""
        now = self.clock()
        cols = self._cols()
        rows = [self._line(layer, st, now, cols) for layer, st in self.layers.items()]
        limit = 20
        if len(rows) > limit:  # many layers (images): collapse the finished ones
            done = [r for r, st in zip(rows, self.layers.values(), strict=True) if st[3]]
            active = [r for r, st in zip(rows, self.layers.values(), strict=True) if not st[3]]
            rows = [f"{len(done)} layers done", *active[-(limit - 1):]]
        if self.status_text is not None:
            rows.append(_clip(self.status_text, cols - 1))
        out = ("\x1b[F" * self.drawn if self.drawn else "") + "".join(
            f"\r\x1b[2K{row}\n" for row in rows) + "\x1b[J"
        self.stream.write(out)
        self.stream.flush()
        self.drawn = len(rows)
        self.dirty = False
        self.next_draw = now + self.interval

    def __call__(self, ev: ProgressEvent) -> None:
        layer = ev.layer
        if layer is None:
            head = _head(ev)
            if head != self.last_head:
                self.last_head = head
                # print the step where the block starts, then redraw the block under it
                up = "\x1b[F" * self.drawn if self.drawn else ""
                self.stream.write(f"{up}\r\x1b[J{printable(head, one_line=True)}\n")
                self.drawn = 0
                if self.layers or self.status_text is not None:
                    self.draw()
                else:
                    self.stream.flush()
            return
        st = self.layers.get(layer)
        now = self.clock()
        current = ev.current or 0
        if st is None:
            self.layers[layer] = [ev.status, current, ev.total, ev.done, now, current,
                                  now if ev.done else None]
            self.draw()
            return
        if st[3]:
            return  # finished layers stay finished (docker: Download complete, Pull complete)
        st[0] = ev.status
        st[1] = current
        st[2] = ev.total
        st[3] = ev.done
        if ev.done:
            st[6] = now
        self.dirty = True
        if ev.done or now >= self.next_draw:
            self.draw()


    def status(self, text: str) -> None:
        """Show ``text`` as the live line under the bars, replacing the previous one."""
        self.status_text = printable(text, one_line=True)
        self.dirty = True
        now = self.clock()
        if now >= self.next_draw:
            self.draw()


def _clip(text: str, cols: int) -> str:
    """``text`` cut to ``cols`` terminal columns: a line that wrapped could not be redrawn
    in place."""
    if display_width(text) <= cols:
        return text
    text = text[:cols]
    while text and display_width(text) > cols - 3:
        text = text[:-1]
    return text + "..."


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
