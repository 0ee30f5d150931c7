"""`llmctl status` (alias `ps`): every container llmctl manages, with a health answer."""

from __future__ import annotations

import typer

from llmctl.cli.options import JSON_OPTION
from llmctl.cli.output import emit_json


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("ps", hidden=True, help="Alias of status.")(status)


def status(json_out: bool = JSON_OPTION) -> None:
    """Show the LLM servers llmctl manages: state, endpoint, image, volume, health."""
    from llmctl.cli import context, render
    from llmctl.cli.output import to_jsonable
    from llmctl.targets import registry

    engine = context.get_engine()
    report = registry.status(engine)
    if json_out:
        emit_json("status", {
            "engine": {"context": engine.target.context, "host": engine.target.host},
            "servers": [render.server_document(e) for e in report.servers],
            **{key: to_jsonable(section) for key, section in report.sections.items()},
        })
        return
    render.servers_table(report.servers)
    for section in report.sections.values():
        render.status_section(section)
