"""`llmctl models` (alias `ls`): every model on every backend llmctl can reach."""

from __future__ import annotations

import typer

from llmctl.cli.options import JSON_OPTION
from llmctl.cli.output import emit_json, err, out, table, warn


def register(app: typer.Typer) -> None:
    app.command("models")(models_cmd)
    app.command("ls", hidden=True, help="Alias of models.")(models_cmd)


def models_cmd(
    backend: str | None = typer.Option(None, "--backend", "-b",
                                       help="Only this backend: ollama | model-runner."),
    endpoint: str | None = typer.Option(
        None, "--endpoint", "-e",
        help="Only the server at this URL (Ollama, Model Runner or any OpenAI-compatible)."),
    timeout: float = typer.Option(10.0, "--timeout", "-t", help="Wall-clock seconds allowed."),
    json_out: bool = JSON_OPTION,
) -> None:
    """List models: name, backend, size, parameters, quantization, modified.

    Sources: the Ollama containers llmctl manages, OLLAMA_HOST (or 127.0.0.1:11434), Docker
    Model Runner (MODEL_RUNNER_HOST, 127.0.0.1:12434 or the `docker model` plugin) and the
    configured endpoints. Sources that do not answer are reported on stderr; the command
    fails only when none does.
    """
    from llmctl import models
    from llmctl.cli.context import docker_cli, get_engine
    from llmctl.names import check_backend

    check_backend(backend)
    listing = models.list_models(backend=backend, endpoint=endpoint, engine_factory=get_engine,
                                 warn=warn, timeout=timeout, docker=docker_cli)
    for s in listing.sources:
        if not s.ok:
            say = err if s.source == "default" else warn
            prefix = "note: " if s.source == "default" else ""
            say(f"{prefix}{models.BACKEND_LABELS[s.backend]} at {s.endpoint} ({s.source}) "
                f"did not answer: {s.error}")
    if json_out:
        emit_json("models", listing)
        return
    if not listing.models:
        out("no models (pull one with `llmctl pull llama3.2` or `llmctl pull ai/smollm2`)")
        return
    endpoints = {m.endpoint for m in listing.models}
    headers = ["name", "backend", "size", "parameters", "quantization", "modified"]
    if len(endpoints) > 1:
        headers.append("endpoint")
    rows = []
    for m in listing.models:
        row = [m.name, m.backend, m.size_text or "-", m.parameters or "-",
               m.quantization or "-", _when(m.modified)]
        if len(endpoints) > 1:
            row.append(m.endpoint)
        rows.append(row)
    table(headers, rows)


def _when(stamp: str | None) -> str:
    """``2026-11-25T13:15:31.28Z`` → ``2026-11-25 13:15``."""
    if not stamp:
        return "-"
    return stamp[:16].replace("T", " ")
