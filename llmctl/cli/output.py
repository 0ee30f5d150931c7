"""Human output vs ``--json``, from the same result objects.

``--json`` prints exactly one document on stdout: the versioned envelope
``{"llmctl": 1, "command": ..., "ok": ..., "result"|"error": ...}``. Everything else a
command says while it works (progress, warnings) goes to stderr. NO_COLOR and non-TTY
output are honoured; rich is imported only when something is rendered.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

SCHEMA_VERSION = 1


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, tuples and paths to plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return to_jsonable(value.to_dict())
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def envelope(command: str, *, result: Any = None, error: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = {"llmctl": SCHEMA_VERSION, "command": command, "ok": error is None}
    if error is None:
        doc["result"] = to_jsonable(result)
    else:
        doc["error"] = error
    return json.dumps(doc, indent=2, ensure_ascii=False)


def color_enabled(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


_consoles: dict[str, Console] = {}


def console(err: bool = False) -> Console:
    """A rich console for stdout or stderr, created on first use."""
    key = "err" if err else "out"
    if key not in _consoles:
        from rich.console import Console

        stream = sys.stderr if err else sys.stdout
        _consoles[key] = Console(
            file=stream,
            no_color=not color_enabled(stream),
            highlight=False,
            soft_wrap=not stream.isatty(),
        )
    return _consoles[key]


def reset_consoles() -> None:
    """Forget cached consoles (tests swap sys.stdout/sys.stderr)."""
    _consoles.clear()


def out(text: str = "") -> None:
    """One line of plain human output on stdout (no markup interpretation)."""
    print(text, file=sys.stdout, flush=True)


def err(text: str) -> None:
    """One line on stderr: progress, notes, warnings."""
    print(text, file=sys.stderr, flush=True)


def warn(text: str) -> None:
    err(f"warning: {text}")


def emit_json(command: str, result: Any) -> None:
    print(envelope(command, result=result), file=sys.stdout, flush=True)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """A table on stdout: rich on a terminal, aligned plain columns when piped."""
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    if sys.stdout.isatty():
        from rich.table import Table

        t = Table(title=title, show_edge=False, header_style="bold")
        for h in headers:
            t.add_column(h, overflow="fold")
        for row in rows:
            t.add_row(*row)
        console().print(t)
        return
    if title:
        out(title)
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    out("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    for row in rows:
        out("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
