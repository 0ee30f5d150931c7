"""`llmctl status` (alias `ps`): every container llmctl manages, with a health answer."""

from __future__ import annotations

import typer

from llmctl.cli.common import JSON_OPTION, get_engine
from llmctl.cli.output import emit_json, out, table


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("ps", hidden=True, help="Alias of status.")(status)


def status(json_out: bool = JSON_OPTION) -> None:
    """Show the LLM servers llmctl manages: state, endpoint, image, volume, health."""
    from llmctl import lifecycle
    from llmctl.cli.commands import model_runner as mr

    engine = get_engine()
    entries = mr.without_runner(lifecycle.status(engine))
    runner = mr.runner_status(engine)
    if json_out:
        emit_json("status", {
            "engine": {"context": engine.target.context, "host": engine.target.host},
            "servers": [{**vars(e.server), "base_url": e.server.base_url, "health": e.health,
                         "health_detail": e.detail} for e in entries],
            "model_runner": mr.runner_status_doc(runner),
        })
        return
    if not entries:
        out("no llmctl-managed servers (start one with `llmctl up ollama`)")
    else:
        table(
            ["name", "profile", "state", "health", "endpoint", "image", "volume"],
            [[e.server.instance, e.server.profile, e.server.state, e.health,
              (e.server.base_url or "-") + (" (EXPOSED)" if e.server.exposed else ""),
              e.server.image, ", ".join(e.server.volumes) or "-"] for e in entries],
        )
    mr.render_runner_status(runner)
