"""`llmctl chat [PROMPT]`: a real completion through the configured endpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmctl.cli.options import SHORT_JSON_OPTION
from llmctl.cli.output import emit_json, err, out, write
from llmctl.errors import UsageError

if TYPE_CHECKING:
    from llmctl.endpoint import Endpoint
    from llmctl.errors import LlmctlError


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
        None, "--endpoint", "-e", help="Endpoint name from the config, or a URL (http://…)."
    ),
    api: str | None = typer.Option(
        None, "--api", help="ollama or openai (default: the endpoint's)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m",
        help="Model (default: the endpoint's, or a URL's server's only model)."
    ),
    system: str | None = typer.Option(None, "--system", "-s", help="A system prompt."),
    stream: bool = typer.Option(True, "--stream/--no-stream", help="Print tokens as they come."),
    timeout: float = typer.Option(120.0, "--timeout", "-t", help="Wall-clock seconds allowed."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="File holding a bearer token (for a URL --endpoint)."
    ),
    json_out: bool = SHORT_JSON_OPTION,
) -> None:
    """Chat once through the configured endpoint (or --endpoint), streaming the answer;
    time to first token and tokens per second go to stderr.

    With --endpoint URL: a path ending in /v1 means the OpenAI API, anything else Ollama's
    (the MCP client's rule; --api overrides). Without --model, a server that serves exactly
    one model is asked with that one."""
    from llmctl.backends.http import Deadline
    from llmctl.chat import chat
    from llmctl.cli.options import read_token_file
    from llmctl.endpoint import resolve_endpoint
    from llmctl.errors import ChatTimeout, LlmctlError
    from llmctl.inputs import check_seconds

    if api is not None and api not in ("ollama", "openai"):
        raise UsageError(f"--api must be ollama or openai, not {api!r}")
    check_seconds(timeout, say_value=False)
    deadline = Deadline(timeout)
    text = _read_prompt(prompt)
    ep = resolve_endpoint(endpoint, api)
    by_url = endpoint is not None and "://" in endpoint
    if model is not None:  # checked before anything is sent ('' is an error, not "none")
        from llmctl.names import validate_endpoint_model

        validate_endpoint_model(model, api=ep.api_type, llm_type=ep.llm_type)
    token = read_token_file(token_file)
    if token:
        ep.bearer_token = token
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    human_stream = stream and not json_out
    printed: list[bool] = []

    def on_token(token: str) -> None:
        printed.append(True)
        write(token)

    try:
        if not (model or ep.model):
            model = _only_model(ep, by_url, deadline.remaining())
        reply = chat(
            messages,
            endpoint=ep,
            model=model,
            stream=stream,
            timeout=deadline.remaining(),
            on_token=on_token if human_stream else None,
        )
    except ChatTimeout as exc:  # name the --timeout given, not what was left of it
        exc.message = (f"the answer from {ep.endpoint} did not finish within {timeout:g}s "
                       "(--timeout)")
        raise
    except LlmctlError as exc:
        if by_url and api is None and ep.api_type == "ollama" and not printed:
            _wrong_api(ep.endpoint, exc, deadline.remaining())
        raise
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


def _only_model(ep: Endpoint, by_url: bool, timeout: float) -> str:
    """The server's only model, said on stderr; else a usage error listing what it has."""
    from llmctl.chat import list_models

    if not by_url:
        raise UsageError("no model: pass --model (the endpoint has none)")
    names = list_models(ep, timeout=timeout)
    if len(names) == 1:
        err(f"note: no --model given: using {names[0]!r}, the only model at {ep.endpoint}")
        return names[0]
    have = ", ".join(names[:10]) if names else "none"
    raise UsageError(f"no model: pass --model (the server at {ep.endpoint} has: {have})",
                     "Pull one first: llmctl pull MODEL" if not names else None)


def _wrong_api(url: str, exc: LlmctlError, timeout: float) -> None:
    """A URL without /v1 is asked through Ollama's API; when the server there answers 404
    and speaks only the OpenAI API (llama.cpp, vLLM, ...), or the URL's path is wrong, say
    so and how to reach it."""
    from llmctl.probe import probe_url, server_phrase

    if exc.details.get("status") not in (404, 405) or timeout <= 0.1:
        return
    found = probe_url(url, timeout=min(timeout, 3.0))
    if not found.is_llm and found.suggestion:  # a wrong path, said as one
        raise UsageError(f"--endpoint {url}: {found.reason}", f"Use --endpoint "
                         f"{found.suggestion}.", details={"url": url,
                                                          "suggestion": found.suggestion})
    if not found.is_llm or found.server in ("ollama", "docker-model-runner") \
            or not found.base_url:
        return
    raise UsageError(
        f"{found.root} is {server_phrase(found.server)}: it speaks the OpenAI API, not "
        f"Ollama's ({exc.message})",
        f"Use --endpoint {found.base_url}, or add --api openai.",
        details={"url": url, "server": found.server, "suggestion": found.base_url},
    ) from None


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)
