"""The command line's context: the options given before the command (`llmctl --context X
up ...`), whether the command's ``--json`` was given, and what commands get from them: the
engine, the docker CLI runner, the daemon, confirmations, and the events a target reports.

One object per process (``options``); ``llmctl.cli.app.run`` resets it for each run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmctl.cli.output import err

if TYPE_CHECKING:
    from llmctl.engine.docker_cli import DockerCli
    from llmctl.engine.model import DaemonTarget, Engine
    from llmctl.targets.base import Events


@dataclass
class CliContext:
    debug: bool = False
    verbose: bool = False
    context: str | None = None
    host: str | None = None
    # The command's --json, as parsed (set by the option itself: see cli.options): errors
    # are then printed as one JSON document too.
    json: bool = False


options = CliContext()


def remember_json(value: bool) -> bool:
    """The ``--json`` option's callback: the parsed value goes into the context."""
    options.json = bool(value)
    return value


def get_engine() -> Engine:
    """Connect to the daemon chosen by --context/--host/env; say which with --verbose."""
    from llmctl.engine import connect

    engine = connect(options.context, options.host)
    if options.verbose:
        t = engine.target
        err(f"docker: context {t.context} ({t.source}), endpoint {t.host}")
    return engine


def daemon_target() -> DaemonTarget | None:
    """The daemon the command would talk to, resolved without contacting it (None when
    that fails: the error is reported when the engine is reached)."""
    from llmctl.engine.connect import resolve_target
    from llmctl.errors import LlmctlError

    try:
        return resolve_target(options.context, options.host)
    except LlmctlError:
        return None


def docker_cli() -> DockerCli:
    """The docker CLI runner, pointed at the daemon chosen by --context/--host/env (resolved
    without connecting: a missing context fails only when the CLI is actually needed)."""
    from llmctl.engine.connect import resolve_target
    from llmctl.engine.docker_cli import DockerCli

    return DockerCli(resolve_target(options.context, options.host))


def confirm(question: str, *, yes: bool, what_if_no: str) -> None:
    """Ask on a TTY; without one, refuse unless --yes was given."""
    if yes:
        return
    import typer

    from llmctl.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError(f"{what_if_no}: confirmation needed and stdin is not a terminal",
                         "Add --yes to confirm.")
    if not typer.confirm(question, default=False, err=True):
        raise UsageError(f"{what_if_no}: not confirmed", "Nothing was changed.")


def events(*, yes: bool = False) -> Events:
    """How a target's events are shown: notes and warnings on stderr, steps as they come
    (a command's own output indented), questions asked unless ``yes``."""
    from llmctl.cli.output import warn
    from llmctl.targets.base import Events

    def note(message: str) -> None:
        err(f"note: {message}")

    def step(message: str) -> None:
        if message.strip():
            err(message if message.startswith(("running", "pulling", "removing"))
                else f"  {message}")

    def ask(question: str, what_if_no: str) -> None:
        confirm(question, yes=yes, what_if_no=what_if_no)

    return Events(note=note, step=step, warn=warn, confirm=ask)
