"""Run llmctl on a real pseudo-terminal of a given size, and read what a person would see.

``run_on_terminal`` starts ``python -m llmctl ARGS`` with stdout and/or stderr on a pty whose
window size is set with TIOCSWINSZ (what a terminal emulator does), so llmctl's own TTY and
width detection is exercised as on a user's screen. ``Screen`` replays the bytes with the
few cursor controls llmctl uses (CR, LF, ESC[F, ESC[2K, ESC[J, cursor show/hide, SGR) and
counts how many lines were ever used, to tell "one line updated in place" from "a new
line every second". Linux/macOS only (pty).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field


@dataclass
class TerminalRun:
    code: int
    tty: str  # what the pty received, CR LF turned back into LF
    other: str  # the stream that was not on the pty


def run_on_terminal(args: list[str], *, cols: int, rows: int = 50, stream: str = "stdout",
                    env: dict[str, str] | None = None, timeout: float = 120) -> TerminalRun:
    """Run ``python -m llmctl ARGS`` with ``stream`` (stdout | stderr | both) on a pty."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full_env.update({"NO_COLOR": "1", **(env or {})})
    on_tty = stream in ("stdout", "both"), stream in ("stderr", "both")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmctl", *args], stdin=subprocess.DEVNULL,
        stdout=slave if on_tty[0] else subprocess.PIPE,
        stderr=slave if on_tty[1] else subprocess.PIPE, env=full_env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"llmctl {' '.join(args)} still runs after {timeout} s")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the pty
                break
            if not data:
                break
            chunks.append(data)
        pipe = proc.stdout if not on_tty[0] else proc.stderr if not on_tty[1] else None
        other = pipe.read().decode() if pipe is not None else ""
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return TerminalRun(code, b"".join(chunks).decode().replace("\r\n", "\n"), other)


_CONTROL = re.compile(r"\x1b\[(\??[0-9;]*)([A-Za-z])|\r|\n")


@dataclass
class Screen:
    """A minimal terminal: enough for llmctl's live lines (no scrolling region, no wrap)."""

    lines: list[str] = field(default_factory=lambda: [""])
    row: int = 0
    col: int = 0
    used: int = 1  # the most lines ever on screen at once

    def feed(self, text: str) -> Screen:
        pos = 0
        for m in _CONTROL.finditer(text):
            self._put(text[pos:m.start()])
            pos = m.end()
            token = m.group()
            if token == "\r":
                self.col = 0
            elif token == "\n":
                self.row += 1
                self.col = 0
                if self.row == len(self.lines):
                    self.lines.append("")
            else:
                arg, cmd = m.group(1), m.group(2)
                if cmd == "F":
                    self.row = max(0, self.row - int(arg or 1))
                    self.col = 0
                elif cmd == "K":
                    self.lines[self.row] = "" if arg == "2" else self.lines[self.row][:self.col]
                elif cmd == "J":
                    self.lines[self.row] = self.lines[self.row][:self.col]
                    del self.lines[self.row + 1:]
            self.used = max(self.used, len([ln for ln in self.lines if ln]))
        self._put(text[pos:])
        self.used = max(self.used, len([ln for ln in self.lines if ln]))
        return self

    def _put(self, s: str) -> None:
        if not s:
            return
        line = self.lines[self.row].ljust(self.col)
        self.lines[self.row] = line[:self.col] + s + line[self.col + len(s):]
        self.col += len(s)

    @property
    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n")
