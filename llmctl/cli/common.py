"""Small helpers shared by command modules."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from llmctl.cli import state
from llmctl.cli.output import err
from llmctl.errors import UsageError

if TYPE_CHECKING:
    from llmctl.engine.docker_cli import DockerCli
    from llmctl.engine.model import Engine

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def get_engine() -> Engine:
    """Connect to the daemon chosen by --context/--host/env; say which with --verbose."""
    from llmctl.engine import connect

    engine = connect(state.options.context, state.options.host)
    if state.options.verbose:
        t = engine.target
        err(f"docker: context {t.context} ({t.source}), endpoint {t.host}")
    return engine


def docker_cli() -> DockerCli:
    """The docker CLI runner, pointed at the daemon chosen by --context/--host/env (resolved
    without connecting: a missing context fails only when the CLI is actually needed)."""
    from llmctl.engine.connect import resolve_target
    from llmctl.engine.docker_cli import DockerCli

    return DockerCli(resolve_target(state.options.context, state.options.host))


def confirm(question: str, *, yes: bool, what_if_no: str) -> None:
    """Ask on a TTY; without one, refuse unless --yes was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{what_if_no}: confirmation needed and stdin is not a terminal",
                         "Add --yes to confirm.")
    if not typer.confirm(question, default=False, err=True):
        raise UsageError(f"{what_if_no}: not confirmed", "Nothing was changed.")
