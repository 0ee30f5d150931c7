"""`llmctl rm MODEL`: remove a model from Ollama or Docker Model Runner."""

from __future__ import annotations

import typer

from llmctl.cli.options import BACKEND_HELP, ENDPOINT_HELP, JSON_OPTION
from llmctl.cli.output import emit_json, out, warn


def register(app: typer.Typer) -> None:
    app.command("rm")(rm)


def rm(
    model: str = typer.Argument(..., help="The model to remove: tinyllama, ai/smollm2, …"),
    backend: str | None = typer.Option(None, "--backend", "-b", help=BACKEND_HELP),
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help=ENDPOINT_HELP),
    force: bool = typer.Option(False, "--force", "-f",
                               help="Model Runner: remove even when the model is in use."),
    timeout: float = typer.Option(30.0, "--timeout", "-t", help="Wall-clock seconds allowed."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Remove MODEL from the backend its name belongs to (same routing as `pull`).

    Exit codes: 0 removed, 1 failed, 2 bad name, URL or option, 7 the model is not there.
    """
    import time

    from llmctl import models
    from llmctl.cli.context import docker_cli, get_engine
    from llmctl.inputs import check_seconds

    start = time.monotonic()
    check_seconds(timeout)
    ref, target = models.choose_target(model, backend=backend, endpoint=endpoint, verb="remove",
                                       engine_factory=get_engine, warn=warn,
                                       timeout=min(models.DETECT_TIMEOUT, timeout))
    left = max(0.05, timeout - (time.monotonic() - start))
    result = models.remove(ref, target, force=force, timeout=left, docker=docker_cli,
                           shown=timeout)
    if json_out:
        emit_json("rm", result)
        return
    via = " via `docker model`" if result.via != "http" else ""
    out(f"removed {result.model} from {target.label} at "
        f"{result.endpoint} ({result.endpoint_source}){via}")
