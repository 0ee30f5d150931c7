"""`llmctl probe [URL ...]`: what LLM servers answer, which API, which models."""

from __future__ import annotations

from pathlib import Path

import typer

from llmctl.cli.options import SHORT_JSON_OPTION
from llmctl.cli.output import emit_json, err, out, table
from llmctl.errors import ExitCode

STATUS_TEXT = {
    "ready": "ready",
    "loading": "loading",
    "unhealthy": "unhealthy",
    "not-llm": "not an LLM API",
    "no-answer": "no answer",
    "unreachable": "unreachable",
}


def _models_cell(models: list[str]) -> str:
    if not models:
        return "-"
    head = ", ".join(models[:3])
    return head + (f" (+{len(models) - 3})" if len(models) > 3 else "")


def probe_command(
    urls: list[str] = typer.Argument(
        None, help="Server URLs (http://host:port, host:port, or an API URL ending in /v1)."
    ),
    timeout: float = typer.Option(
        3.0, "--timeout", "-t", help="Wall-clock seconds allowed per target."
    ),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="File holding a bearer token for servers that need one."
    ),
    json_out: bool = SHORT_JSON_OPTION,
) -> None:
    """Detect what answers at URLs (default: this machine's usual ports, the servers
    llmctl runs in containers and the configured endpoints): server kind with evidence,
    API, base URL, version, models, ready or loading, latency. Without a Docker engine the
    managed servers are skipped with a note.

    Exit code 0 when every URL given is an LLM server (or, with no URL, when one was
    found), 1 otherwise.
    """
    from llmctl.cli import managed_targets
    from llmctl.cli.options import read_token_file
    from llmctl.endpoint import api_base
    from llmctl.probe import probe

    report = probe(
        urls or None,
        timeout=timeout,
        api_key=read_token_file(token_file),
        managed_lookup=None if urls else managed_targets.managed_targets,
    )
    if json_out:
        emit_json("probe", report)
        for note in report.notes:
            err(f"note: {note}")
    else:
        rows = [
            [
                r.root,
                r.server_name or "-",
                STATUS_TEXT.get(r.status, r.status),
                r.base_url or "-",
                r.version or "-",
                _models_cell(r.models),
                f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "-",
            ]
            for r in report.results
        ]
        table(["target", "server", "status", "use", "version", "models", "latency"], rows)
        out()
        for r in report.results:
            if r.is_llm:
                detail = "; ".join(r.evidence[:3])
                out(f"{r.root}: {r.server_name} ({r.api_type} API) — {detail}")
            else:
                out(f"{r.root}: {r.reason}")
            if r.managed is not None:
                m = r.managed
                where = ""
                if m.endpoint_container:
                    inside = m.endpoint_container
                    if r.api_type:
                        inside = api_base(inside, r.api_type, r.server or "")
                    where = f"; other containers use {inside}"
                out(f"  managed by llmctl: instance {m.instance} ({m.profile}){where}")
            for note in r.notes:
                out(f"  note: {note}")
        for note in report.notes:
            err(f"note: {note}")
        if not report.found:
            err("no LLM server answered")
        else:
            err(f"{len(report.found)} LLM server(s) found in {report.elapsed_ms / 1000:.2f}s")
    ok = all(r.is_llm for r in report.results) if urls else bool(report.found)
    if not ok:
        raise typer.Exit(int(ExitCode.FAILURE))


def register(app: typer.Typer) -> None:
    app.command("probe")(probe_command)
