"""Options more than one command takes, declared once, and the reading of their values.

``--json`` is declared here only: its value goes into the CLI context as it is parsed
(:func:`llmctl.cli.context.remember_json`), so that an error is printed as JSON exactly
when the command was given ``--json`` (not when the word appears elsewhere on the line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from llmctl.cli.context import remember_json
from llmctl.errors import UsageError

JSON_HELP = "Print one JSON document on stdout."
BACKEND_HELP = ("ollama | model-runner (default: from the name: ai/…, hf.co/… → model-runner; "
                "a GGUF file → ollama).")
ENDPOINT_HELP = ("Server URL; what answers there decides the backend (default: the managed "
                 "Ollama container, OLLAMA_HOST, then :11434).")


def json_option(help: str = JSON_HELP) -> Any:
    """``--json``: one JSON document on stdout, errors included."""
    return typer.Option(False, "--json", help=help, callback=remember_json)


JSON_OPTION = json_option()
SHORT_JSON_OPTION = json_option("Print one JSON document.")  # probe, chat, endpoint


def read_token_file(path: Path | None) -> str | None:
    """A bearer token from a file (never from argv); None when no file is given."""
    from llmctl.files import read_text

    if path is None:
        return None
    text = read_text(path.expanduser(), what="--token-file", missing_ok=False,
                     error=UsageError, fix="Give a file holding the token.")
    token = (text or "").strip()
    if not token:
        raise UsageError(f"--token-file {path}: the file is empty")
    return token
