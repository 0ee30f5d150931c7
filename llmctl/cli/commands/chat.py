"""`llmctl chat [PROMPT]`: a real completion through the configured endpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from llmctl.cli.output import emit_json, err, out
from llmctl.errors import UsageError


def _read_prompt(prompt: str | None) -> str:
    if prompt is not None:
        if not prompt.strip():
            raise UsageError("the prompt is empty")
        return prompt
    stdin = sys.stdin
    try:
        piped = stdin is not None and not stdin.isatty()
        text = stdin.read() if piped else ""
    except (OSError, ValueError):
        text = ""
    if not text.strip():
        raise UsageError(
            "no prompt: give one as an argument or pipe it on stdin",
            'Example: llmctl chat "Give me a fact about whales."',
        )
    return text.strip()


def chat_command(
    prompt: str | None = typer.Argument(None, help="The prompt (default: read stdin)."),
    endpoint: str | None = typer.Option(
        None, "--endpoint", "-e", help="Endpoint name from the config, or a URL."
    ),
    api: str | None = typer.Option(
        None, "--api", help="ollama or openai (default: the endpoint's)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model (default: the endpoint's)."
    ),
    system: str | None = typer.Option(None, "--system", "-s", help="A system prompt."),
    stream: bool = typer.Option(True, "--stream/--no-stream", help="Print tokens as they come."),
    timeout: float = typer.Option(120.0, "--timeout", "-t", help="Wall-clock seconds allowed."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="File holding a bearer token (for a URL --endpoint)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Chat once through the configured endpoint (or --endpoint), streaming the answer;
    time to first token and tokens per second go to stderr."""
    from llmctl.cli.commands.probe import read_token_file
    from llmctl.client import chat, resolve_endpoint

    if api is not None and api not in ("ollama", "openai"):
        raise UsageError(f"--api must be ollama or openai, not {api!r}")
    if timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    text = _read_prompt(prompt)
    ep = resolve_endpoint(endpoint, api)
    if model is not None:  # checked before anything is sent ('' is an error, not "none")
        from llmctl.names import validate_endpoint_model

        validate_endpoint_model(model, api=ep.api_type, llm_type=ep.llm_type)
    token = read_token_file(token_file)
    if token:
        ep.bearer_token = token
    if not (model or ep.model):
        raise UsageError("no model: pass --model (the endpoint has none)")
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    human_stream = stream and not json_out
    printed: list[bool] = []

    def on_token(token: str) -> None:
        printed.append(True)
        sys.stdout.write(token)
        sys.stdout.flush()

    reply = chat(
        messages,
        endpoint=ep,
        model=model,
        stream=stream,
        timeout=timeout,
        on_token=on_token if human_stream else None,
    )
    if json_out:
        emit_json("chat", {"endpoint": ep.endpoint, "api_type": ep.api_type, "reply": reply})
        return
    if printed:
        out()
    elif reply.text:
        out(reply.text)
    for call in reply.tool_calls:
        out(f"tool call: {call.name}({json.dumps(call.arguments, ensure_ascii=False)})")
    t = reply.timings
    parts = []
    if t.ttft_s is not None:
        parts.append(f"first token {t.ttft_s:.2f}s")
    if reply.usage.completion_tokens is not None:
        parts.append(f"{reply.usage.completion_tokens} tokens")
    if t.tokens_per_s is not None:
        parts.append(f"{t.tokens_per_s:.1f} tokens/s")
    if t.total_s is not None:
        parts.append(f"total {t.total_s:.2f}s")
    err(f"{reply.model or ep.model} via {ep.endpoint} ({ep.api_type}): " + ", ".join(parts))


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)
