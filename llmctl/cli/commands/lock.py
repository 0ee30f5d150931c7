"""`llmctl lock [NAME...]`: record the servers llmctl runs (images by digest, options,
models by digest, endpoints) in a lock file to commit."""

from __future__ import annotations

import typer

from llmctl.cli.options import JSON_OPTION

LOCK_HELP = "The lock file (default: llmctl.lock here)."


def register(app: typer.Typer) -> None:
    app.command("lock")(lock)


def lock(
    names: list[str] = typer.Argument(
        None, help="Servers to lock, by instance name (default: every one llmctl runs)."),
    output: str = typer.Option("llmctl.lock", "--output", "-o",
                               help="Where to write the lock; - prints it on stdout."),
    timeout: float = typer.Option(10.0, "--timeout",
                                  help="Seconds each server may take to list its models."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Write what runs now to a lock file: each server's image by digest (a local image by
    its ID), the options that shape its container, a hash of its profile, its models by
    manifest digest, and the endpoints that point at it. Never a secret's value.

    Sorted and stable: the same environment gives the same bytes. Commit it and run
    `llmctl verify` in CI; `llmctl up --frozen` and `llmctl pull --frozen` follow it."""
    from llmctl.cli import context
    from llmctl.cli.output import emit_json, write_document
    from llmctl.inputs import check_seconds
    from llmctl.lock import capture, model

    check_seconds(timeout)
    engine = context.get_engine()
    result = capture.capture(engine, names or (), timeout=timeout)
    to_stdout = output == "-"
    if not to_stdout:
        model.write(result.lock, output)
    if json_out:
        emit_json("lock", {"path": None if to_stdout else output, "lock": result.lock.to_dict(),
                           "left_out": result.left_out, "notes": result.notes})
        return
    if to_stdout:
        from llmctl.cli.output import note, warn

        for why in result.left_out:
            warn(f"left out of the lock: {why}")
        for text in result.notes:
            note(text)
        write_document(result.lock.text())
        return
    from llmctl.cli import lock_render

    lock_render.locked(result, output)
