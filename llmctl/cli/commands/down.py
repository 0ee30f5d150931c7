"""`llmctl down [PROFILE]`: stop and remove a managed container, keep its volume."""

from __future__ import annotations

from typing import Any

import typer

from llmctl.cli.common import JSON_OPTION, confirm, get_engine
from llmctl.cli.output import emit_json, out


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
    if profile == "model-runner":
        from llmctl.cli.commands.model_runner import down_model_runner

        return down_model_runner(volumes=volumes, yes=yes, json_out=json_out)
    from llmctl import lifecycle
    from llmctl.names import validate_instance_name

    # Checked before Docker is contacted: a bad name is a usage error even with no engine.
    if profile is not None:
        validate_instance_name(profile, "PROFILE")
    if name is not None:
        validate_instance_name(name)
    engine = get_engine()
    if volumes:
        confirm("Remove the volumes too? The models stored in them are deleted.", yes=yes,
                what_if_no="--volumes")
    result = lifecycle.down(engine, profile, name=name, volumes=volumes)
    if json_out:
        emit_json("down", result)
        return
    print_removed(result, volumes=volumes)


def print_removed(result: Any, *, volumes: bool) -> None:
    """What was removed and kept (containers, volumes): shared with `down model-runner`."""
    for c in result.removed:
        out(f"removed container {c}")
    for v in result.volumes_removed:
        out(f"removed volume {v}")
    for v in result.volumes_kept:
        out(f"kept volume {v}" + ("" if volumes else " (remove with --volumes)"))
