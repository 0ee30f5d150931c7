"""`llmctl down [PROFILE]`: stop and remove a managed container, keep its volume."""

from __future__ import annotations

import typer

from llmctl.cli.options import JSON_OPTION
from llmctl.cli.output import emit_json


def register(app: typer.Typer) -> None:
    app.command("down")(down)


def down(
    profile: str | None = typer.Argument(None, help="Profile whose container to remove."),
    name: str | None = typer.Option(None, "--name", help="Instance name, when several run."),
    volumes: bool = typer.Option(False, "--volumes",
                                 help="Also remove llmctl's volumes (the models in them)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before removing volumes."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Stop and remove a container llmctl made. Volumes are kept unless --volumes.

    `llmctl down model-runner` removes the runner container on Docker Engine, or turns
    Model Runner off in Docker Desktop (after confirmation or --yes)."""
    from llmctl.cli import context, render
    from llmctl.targets import registry
    from llmctl.targets.base import DownRequest

    request = DownRequest(profile, name, volumes)
    target = registry.find(profile, context.events(yes=yes))
    # Checked before Docker is contacted: a bad name is a usage error even with no engine.
    target.check_down(request)
    result = target.down(context.get_engine(), request)
    if json_out:
        emit_json("down", result)
        return
    render.down_result(result, volumes=volumes)
