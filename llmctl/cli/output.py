"""Human output vs ``--json``, from the same result objects.

``--json`` prints exactly one document on stdout: the versioned envelope
``{"llmctl": 1, "command": ..., "ok": ..., "result"|"error": ...}``. Everything else a
command says while it works (progress, warnings) goes to stderr. NO_COLOR and non-TTY
output are honoured.

Text from outside (model names, server error bodies, container log lines, config values)
must never drive the terminal: every human line passes through :func:`printable`, which
the output functions here call themselves (``out``, ``err``, ``warn``, ``write``,
``table``), so a caller cannot forget it. ESC, NUL and the other C0/C1 controls, DEL, the
Unicode bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C), the line and
paragraph separators and lone surrogates are shown as ``\\x1b``/``\\u202e`` escapes.
``--json`` keeps the data: JSON escapes the controls, and the envelope also writes the
bidi and C1 characters as ``\\uXXXX`` escapes (the same data for any JSON reader).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

SCHEMA_VERSION = 1

# Characters that would act on a terminal (or reorder what it shows) instead of being shown.
_DANGEROUS = ("\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
              "\u2028\u2029\ud800-\udfff")
_PATTERNS = {  # compiled on first use (``llmctl --help`` stays light)
    "text": f"\r\n|[{_DANGEROUS}]",  # keeps newlines and tabs
    "cell": f"[\t\n{_DANGEROUS}]",  # one line: newlines and tabs escaped too
    "json": "[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]",
}


@functools.cache
def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(_PATTERNS[name])
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\r\n": "\n"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    o = ord(c)
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with control and bidi characters shown as escapes (see the module doc).
    Newlines and tabs are kept unless ``one_line`` (table cells)."""
    return _pattern("cell" if one_line else "text").sub(_escape, text)


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


def _json_text(doc: Any) -> str:
    # ensure_ascii=False keeps names readable; the characters that would reorder or drive a
    # terminal can only sit inside JSON strings, where \\uXXXX means the same character.
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return _pattern("json").sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def envelope(command: str, *, result: Any = None, error: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = {"llmctl": SCHEMA_VERSION, "command": command, "ok": error is None}
    if error is None:
        doc["result"] = to_jsonable(result)
    else:
        doc["error"] = error
    return _json_text(doc)


def color_enabled(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _isatty(stream)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def reset_consoles() -> None:
    """Nothing is cached between calls any more (kept for the tests' fixture)."""


def out(text: str = "") -> None:
    """One line of human output on stdout."""
    print(printable(text), file=sys.stdout, flush=True)


def err(text: str) -> None:
    """One line on stderr: progress, notes, warnings."""
    print(printable(text), file=sys.stderr, flush=True)


def warn(text: str) -> None:
    err(f"warning: {text}")


def note(text: str) -> None:
    err(f"note: {text}")


def write(text: str) -> None:
    """Text on stdout as it comes, without a newline (streamed chat tokens), escaped."""
    sys.stdout.write(printable(text))
    sys.stdout.flush()


def write_document(text: str) -> None:
    """A document a program may read (``endpoint show --format yaml|json|env``): the exact
    text when stdout is a pipe or a file, escaped like human output on a terminal, where a
    person reads it."""
    sys.stdout.write(printable(text) if _isatty(sys.stdout) else text)
    sys.stdout.flush()


def emit_json(command: str, result: Any) -> None:
    print(envelope(command, result=result), file=sys.stdout, flush=True)


# --- tables -------------------------------------------------------------------------------

GAP = 2  # spaces between columns
_PATTERNS["url"] = r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """A table on stdout: aligned columns, one line per row when piped. On a terminal the
    table fits its width: other columns wrap (at spaces, then inside long words) so that
    URLs stay whole; if the URL columns alone do not fit beside the rest, they leave the
    table and each row's URLs are printed on a line of their own under it."""
    cells = [[printable("" if c is None else str(c), one_line=True) for c in row]
             for row in rows]
    width = _terminal_width() if _isatty(sys.stdout) else None
    bold = color_enabled(sys.stdout)
    if title:
        out(title)
    for line in layout([h.upper() for h in headers], cells, width):
        if line.startswith("\0"):
            line = line[1:].rstrip()
            if bold:
                line = f"\x1b[1m{line}\x1b[0m"
        print(line.rstrip(), file=sys.stdout, flush=True)


def _terminal_width() -> int:
    import shutil

    return max(20, shutil.get_terminal_size((100, 24)).columns)


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def _is_url(word: str) -> bool:
    return bool(_pattern("url").match(word))


def layout(headers: list[str], rows: list[list[str]], width: int | None) -> list[str]:
    """The lines of a table; the header line starts with NUL (to make it bold). ``width``
    None: no limit, one line per row."""
    n = len(headers)
    rows = [(list(r) + [""] * n)[:n] for r in rows]
    url_cols = [i for i in range(n) if any(_is_url(w) for r in rows for w in r[i].split())]
    widths = _fit(headers, rows, width, url_cols)
    if widths is not None:
        head, body = _render(headers, rows, widths)
        return [head] + [line for lines in body for line in lines]
    # The URL columns do not fit beside the others: they leave the table, and each row's
    # URLs follow it on a line of their own (or one line each when that is too long).
    assert width is not None
    keep = [i for i in range(n) if i not in url_cols]
    kept_rows = [[r[i] for i in keep] for r in rows]
    kept_headers = [headers[i] for i in keep]
    head, body = _render(kept_headers, kept_rows,
                         _fit(kept_headers, kept_rows, width, []) or [])
    lines = [head]
    for r, row_lines in zip(rows, body, strict=True):
        lines += row_lines
        pairs = [f"{headers[i].lower()}: {r[i]}" for i in url_cols if r[i] not in ("", "-")]
        joined = "  " + "   ".join(pairs)
        if display_width(joined) <= width:
            lines.append(joined)
        else:
            lines += [f"  {p}" for p in pairs]
    return lines


def _fit(headers: list[str], rows: list[list[str]], width: int | None,
         url_cols: list[int]) -> list[int] | None:
    """Column widths that fit ``width``, wrapping at spaces (no word is cut). With URL
    columns, None when they do not fit that way (they leave the table); without, long words
    are cut as a last resort."""
    n = len(headers)
    cols = [[headers[i]] + [r[i] for r in rows] for i in range(n)]
    natural = [max(display_width(c) for c in col) for col in cols]
    if width is None or _total(natural) <= width:
        return natural
    mins = [_min_width(col, cut=False) for col in cols]
    if _total(mins) <= width:
        return _shrink(natural, mins, width)
    if url_cols and len(url_cols) < n:
        return None
    mins = [_min_width(cols[i], cut=i not in url_cols) for i in range(n)]
    return _shrink(natural, mins, width)  # as narrow as it gets; the terminal wraps the rest


def _total(widths: list[int]) -> int:
    return sum(widths) + GAP * (len(widths) - 1)


def _min_width(col: list[str], cut: bool) -> int:
    """The narrowest a column can be: its header, and its longest word unless words may be
    cut (then a few characters)."""
    header = display_width(col[0])
    if cut:
        return max(header, min(6, max(display_width(c) for c in col)))
    return max([header] + [display_width(w) for c in col[1:] for w in c.split()])


def _shrink(natural: list[int], mins: list[int], width: int) -> list[int]:
    """Narrow the widest columns first, never below their minimum, until the table fits."""
    widths = list(natural)
    while _total(widths) > width:
        candidates = [i for i in range(len(widths)) if widths[i] > mins[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns: at spaces, long words cut, except URLs
    (which may overflow rather than be cut)."""
    if display_width(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split():
        while display_width(word) > width and not _is_url(word):
            if line:
                lines.append(line)
                line = ""
            head, word = _cut(word, width)
            lines.append(head)
        if not line:
            line = word
        elif display_width(line) + 1 + display_width(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    if line or not lines:
        lines.append(line)
    return lines


def _cut(word: str, width: int) -> tuple[str, str]:
    used = 0
    for i, c in enumerate(word):
        used += display_width(c)
        if used > width:
            return word[:max(1, i)], word[max(1, i):]
    return word, ""


def _render(headers: list[str], rows: list[list[str]],
            widths: list[int]) -> tuple[str, list[list[str]]]:
    """The header line and each row's lines (a row takes as many as its tallest cell)."""
    gap = " " * GAP
    head = "\0" + gap.join(_pad(h, w) for h, w in zip(headers, widths, strict=True))
    body = []
    for row in rows:
        wrapped = [_wrap(c, w) for c, w in zip(row, widths, strict=True)]
        height = max(len(w) for w in wrapped)
        body.append([gap.join(_pad(w[k] if k < len(w) else "", width)
                              for w, width in zip(wrapped, widths, strict=True))
                     for k in range(height)])
    return head, body
