"""Docs are checked against --help: every command and every option a user can type is
documented in README.md or docs/*.md, so the docs cannot silently fall behind the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from llmctl.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md").read_text() + "".join(
    p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
IGNORED = {"--help", "-h", "--install-completion", "--show-completion"}


def walk(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, cmd)]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            found += walk(sub, (*path, name))
    return found


def test_every_command_and_option_is_documented() -> None:
    root = typer.main.get_command(app)
    missing = []
    for path, cmd in walk(root):
        if path and f"llmctl {' '.join(path)}" not in DOCS:
            missing.append(f"command `llmctl {' '.join(path)}`")
        for param in cmd.params:
            for opt in [*param.opts, *getattr(param, "secondary_opts", [])]:
                if opt.startswith("--") and opt not in IGNORED and opt not in DOCS:
                    missing.append(f"`{opt}` of `llmctl {' '.join(path)}`")
    assert not missing, "undocumented: " + ", ".join(missing)
