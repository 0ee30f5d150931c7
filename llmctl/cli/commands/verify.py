"""`llmctl verify`: compare what runs now with the lock file; exit 1 on any difference."""

from __future__ import annotations

import typer

from llmctl.cli.options import JSON_OPTION


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify(
    lock_file: str = typer.Option("llmctl.lock", "--lock", "-l", help="The lock file to check."),
    timeout: float = typer.Option(5.0, "--timeout",
                                  help="Seconds each server may take to list its models."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Compare what runs now with the lock: images, options, profiles, models, endpoints.

    Exit codes: 0 the same, 1 differences (each one listed with its fix), 3 a lock file
    that cannot be read (another lock version, cut short, hand-edited), 4 the Docker
    engine cannot be reached. Reads only; fast enough for every CI job."""
    from llmctl.cli import context
    from llmctl.cli.output import emit_json
    from llmctl.inputs import check_seconds
    from llmctl.lock import drift, model

    check_seconds(timeout)
    lock = model.read(lock_file)  # a bad lock is exit 3 before the engine is contacted
    engine = context.get_engine()
    report = drift.verify(engine, lock, timeout=timeout)
    if json_out:
        emit_json("verify", report)
    else:
        from llmctl.cli import lock_render

        lock_render.verified(report)
    if not report.equal:
        raise typer.Exit(1)
