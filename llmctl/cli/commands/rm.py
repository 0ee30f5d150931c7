"""`llmctl rm MODEL`: remove a model from Ollama or Docker Model Runner."""

from __future__ import annotations

import typer

from llmctl.cli.commands.pull import BACKEND_HELP, ENDPOINT_HELP, engine_factory
from llmctl.cli.common import JSON_OPTION
from llmctl.cli.output import emit_json, out, warn


def register(app: typer.Typer) -> None:
    app.command("rm")(rm)


def rm(
    model: str = typer.Argument(..., help="The model to remove: tinyllama, ai/smollm2, …"),
    backend: str | None = typer.Option(None, "--backend", "-b", help=BACKEND_HELP),
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help=ENDPOINT_HELP),
    force: bool = typer.Option(False, "--force", "-f",
                               help="Model Runner: remove even when the model is in use."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Remove MODEL from the backend its name belongs to (same routing as `pull`).

    Exit codes: 0 removed, 1 failed, 2 bad name, 7 the model is not there.
    """
    from llmctl import models
    from llmctl.names import route

    ref = route(model, backend)
    target = models.resolve_target(ref.backend, endpoint=endpoint,
                                   engine_factory=engine_factory, warn=warn)
    result = models.remove(ref, target, force=force)
    if json_out:
        emit_json("rm", result)
        return
    via = " via `docker model`" if result.via != "http" else ""
    out(f"removed {result.model} from {models.BACKEND_LABELS[result.backend]} at "
        f"{result.endpoint} ({result.endpoint_source}){via}")
