"""The typer application and the one exit point.

Commands live one per module in ``llmctl.cli.commands``; each has ``register(app)``.
Modules import only light things at top level: docker, httpx and rich are imported inside
the functions that need them so ``llmctl --help`` stays fast (benchmarks/startup.py).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import traceback
from types import FrameType
from typing import Any

import typer

from llmctl import __version__
from llmctl.cli.context import options
from llmctl.cli.output import envelope, err
from llmctl.errors import ExitCode, LlmctlError

# Order here is the order in `llmctl --help`.
COMMAND_MODULES = [
    "doctor",
    "up",
    "down",
    "status",
    "expose",
    "pull",
    "models",
    "rm",
    "probe",
    "chat",
    "endpoint",
    "export",
    "profiles",
    "lock",
    "verify",
]

app = typer.Typer(
    name="llmctl",
    help="Run, check and wire up LLM servers in containers (Ollama, Docker Model Runner, ...).",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"llmctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Say which Docker context and endpoints are used."
    ),
    context: str | None = typer.Option(
        None, "--context", "-c", help="Docker context to use (overrides DOCKER_CONTEXT)."
    ),
    host: str | None = typer.Option(
        None, "--host", "-H", help="Docker daemon address (overrides DOCKER_HOST)."
    ),
) -> None:
    options.debug = debug or options.debug
    options.verbose = verbose
    options.context = context
    options.host = host


for _name in COMMAND_MODULES:
    importlib.import_module(f"llmctl.cli.commands.{_name}").register(app)


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so cleanup handlers run."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def _command_name(argv: list[str]) -> str:
    """The command (and sub-command) named on the command line, for the JSON envelope."""
    group: Any = typer.main.get_command(app)
    names: list[str] = []
    for arg in argv:
        commands = getattr(group, "commands", None)
        if commands is None:
            break
        if arg in commands:
            names.append(arg)
            group = commands[arg]
    return " ".join(names) or "llmctl"


def _json_given(argv: list[str]) -> bool:
    """For a command line that could not be parsed (so the --json option never reached the
    context): parse it again leniently, as shell completion does (unknown options skipped,
    bad values ignored), and read the command's --json. A ``--json`` that is another
    option's value, or comes after ``--``, is not the option."""
    from typer._click.exceptions import ClickException
    from typer.core import TyperGroup

    try:
        ctx = typer.main.get_command(app).make_context(
            "llmctl", list(argv), resilient_parsing=True, ignore_unknown_options=True)
        args = ctx._protected_args + ctx.args
        while args and isinstance(ctx.command, TyperGroup):
            name, cmd, args = ctx.command.resolve_command(ctx, args)
            if cmd is None:
                break
            ctx = cmd.make_context(name, args, parent=ctx, resilient_parsing=True,
                                   ignore_unknown_options=True)
            args = ctx._protected_args + ctx.args
    except ClickException:  # not even that: an option's value is missing
        return "--json" in (argv[:argv.index("--")] if "--" in argv else argv)
    return any("--json" in p.opts and bool(ctx.params.get(p.name or ""))
               for p in ctx.command.params)


def _fail(argv: list[str], exc: LlmctlError, json_mode: bool) -> int:
    if json_mode:
        print(envelope(_command_name(argv), error=exc.to_dict()), flush=True)
    else:
        for line in exc.message.splitlines() or [""]:  # several problems: a line each
            err(f"error: {line}")
        if exc.hint:
            err(f"hint: {exc.hint}")
    return int(exc.exit_code)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; never raises for expected failures."""
    # typer 0.28 vendors click as typer._click (its Exit/Abort live in typer itself).
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    argv = list(sys.argv[1:] if argv is None else argv)
    options.json = False  # set by the command's --json option as it is parsed
    options.debug = "--debug" in argv or bool(os.environ.get("LLMCTL_DEBUG"))
    command = typer.main.get_command(app)
    # Not possible outside the main thread (tests calling run() from a worker).
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        result: Any = command.main(args=argv, prog_name="llmctl", standalone_mode=False)
        if result == ExitCode.INTERRUPTED:
            # typer turns Ctrl-C into a silent exit code 130: say what happened.
            raise KeyboardInterrupt
        return int(result or 0) if isinstance(result, int) else 0
    except LlmctlError as exc:
        if options.debug:
            traceback.print_exc()
        return _fail(argv, exc, options.json)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err("aborted")
        return int(ExitCode.INTERRUPTED)
    except NoArgsIsHelpError as exc:
        print(exc.format_message(), file=sys.stderr)
        return int(ExitCode.USAGE)
    except ClickException as exc:
        usage = LlmctlError(exc.format_message(), "See the command's --help.",
                            exit_code=ExitCode.USAGE)
        json_mode = options.json or _json_given(argv)
        if not json_mode:
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                err(ctx.get_usage())
        return _fail(argv, usage, json_mode)
    except KeyboardInterrupt:
        if options.debug:
            traceback.print_exc()
        return _fail(argv, LlmctlError("interrupted", exit_code=ExitCode.INTERRUPTED),
                     options.json)
    except _Terminated:
        return _fail(argv, LlmctlError("terminated", exit_code=ExitCode.TERMINATED),
                     options.json)
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error worth a traceback.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except Exception as exc:  # a bug: still one line (and a way to see more), never a dump
        if options.debug:
            traceback.print_exc()
        return _fail(argv, LlmctlError(
            f"unexpected {type(exc).__name__}: {exc}",
            "This is a bug in llmctl: run again with --debug and report the traceback.",
        ), options.json)


def main() -> None:
    code = run()
    # The interpreter's last garbage collection walks every object the imports made (httpx,
    # typer, the profile): 40 to 70 ms after `up` is done. Frozen objects are skipped; files
    # are still flushed and closed, atexit handlers still run, and the process ends anyway.
    import gc

    gc.freeze()
    sys.exit(code)
