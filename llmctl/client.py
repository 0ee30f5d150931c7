"""The library face for MCP clients: load the configured endpoint and chat with it.

    from llmctl.client import chat, achat, load_endpoint

    reply = chat([{"role": "user", "content": "Hello!"}])
    print(reply.text, reply.tool_calls, reply.timings.tokens_per_s)

One normalized :class:`Reply` whatever the server speaks (Ollama ``/api/chat`` or an
OpenAI-compatible ``/v1/chat/completions``): tool-call arguments are always a ``dict``. The
exceptions below subclass :mod:`llmctl.errors`, so ``except LlmctlError`` catches them all.

The reply types and exceptions are defined here (they are the public API); the wire formats
live in :mod:`llmctl.backends.ollama` and :mod:`llmctl.backends.openai`, which this module
imports lazily so ``import llmctl.client`` stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.errors import NotFoundError, NotReadyError, ServerError

if TYPE_CHECKING:
    from llmctl.endpoint import Endpoint

DEFAULT_CHAT_TIMEOUT = 120.0

Messages = Sequence[dict[str, Any]] | str
TokenSink = Callable[[str], None]


# --- exceptions ---


class EndpointUnreachable(ServerError):
    """Nothing answered at the endpoint (refused, DNS, TLS, connect timeout)."""


class ModelNotFound(NotFoundError):
    """The server answered but does not have the model."""

    def __init__(self, model: str, server_text: str = "", *, url: str = "") -> None:
        where = f" at {url}" if url else ""
        super().__init__(
            f"model {model!r} not found{where}" + (f" ({server_text})" if server_text else ""),
            f"Pull it first: llmctl pull {model}",
            details={"model": model},
        )
        self.model = model


class ToolsNotSupported(ServerError):
    """The model (or server configuration) cannot do tool calling."""

    def __init__(self, model: str, server_text: str = "") -> None:
        super().__init__(
            f"model {model!r} does not support tools"
            + (f" ({server_text})" if server_text else ""),
            "Pick a model with tool support (for example llama3.2 or qwen2.5), or call "
            "without tools. llama.cpp needs --jinja for tools.",
            details={"model": model},
        )
        self.model = model


class ChatTimeout(ServerError):
    """The answer did not finish within the wall-clock timeout."""


class ServerLoading(NotReadyError):
    """The server is up but still loading the model (HTTP 503)."""


# --- reply types ---


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class Timings:
    ttft_s: float | None = None  # time to first token (client-measured when streaming)
    total_s: float | None = None  # whole request, client-measured
    tokens_per_s: float | None = None  # from the server's own counters where it gives them


@dataclass
class Reply:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    model: str = ""
    api_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict: Ollama sends an object, OpenAI a JSON string."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {"_raw": raw}
        return value if isinstance(value, dict) else {"_value": value}
    return {"_value": raw}


def normalize_messages(messages: Messages) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise TypeError(f"messages[{i}] must be a dict with a 'role'")
        out.append(dict(m))
    return out


# --- public API ---


def load_endpoint(name: str | None = None) -> Endpoint:
    """The named endpoint from the endpoint file, or the default one."""
    from llmctl.endpoint import load_endpoint as _load

    return _load(name)


def _resolve(endpoint: Endpoint | str | None, api: str | None) -> Endpoint:
    from llmctl.endpoint import endpoint_from_url

    if endpoint is None:
        ep = load_endpoint()
    elif isinstance(endpoint, str):
        ep = (
            endpoint_from_url(endpoint, api=api)
            if "://" in endpoint
            else load_endpoint(endpoint)
        )
    else:
        ep = endpoint
    if api and api != ep.api_type:
        from llmctl.endpoint import switch_api

        ep = switch_api(ep, api)
    return ep


def _backend(api_type: str) -> Any:
    if api_type == "ollama":
        from llmctl.backends import ollama

        return ollama
    if api_type == "openai":
        from llmctl.backends import openai

        return openai
    raise ValueError(f"unknown api_type {api_type!r} (expected 'ollama' or 'openai')")


def chat(
    messages: Messages,
    tools: list[dict[str, Any]] | None = None,
    *,
    endpoint: Endpoint | str | None = None,
    model: str | None = None,
    stream: bool = False,
    timeout: float = DEFAULT_CHAT_TIMEOUT,
    on_token: TokenSink | None = None,
    api: str | None = None,
    options: dict[str, Any] | None = None,
) -> Reply:
    """One chat completion through ``endpoint`` (a name, a URL, an Endpoint, or the default).

    ``timeout`` is a wall-clock limit for the whole answer, streaming included.
    ``on_token`` receives text pieces as they arrive when ``stream`` is true.
    """
    ep = _resolve(endpoint, api)
    backend = _backend(ep.api_type)
    from llmctl.backends.http import make_client

    with make_client(ep.endpoint, timeout=timeout, headers=ep.auth_headers()) as client:
        return backend.chat(  # type: ignore[no-any-return]
            client,
            model or ep.model,
            normalize_messages(messages),
            tools=tools,
            stream=stream,
            timeout=timeout,
            on_token=on_token,
            options=options,
        )


async def achat(
    messages: Messages,
    tools: list[dict[str, Any]] | None = None,
    *,
    endpoint: Endpoint | str | None = None,
    model: str | None = None,
    stream: bool = False,
    timeout: float = DEFAULT_CHAT_TIMEOUT,
    on_token: TokenSink | None = None,
    api: str | None = None,
    options: dict[str, Any] | None = None,
) -> Reply:
    """The async twin of :func:`chat` (httpx.AsyncClient; the timeout cancels the request)."""
    ep = _resolve(endpoint, api)
    backend = _backend(ep.api_type)
    from llmctl.backends.http import make_async_client

    async with make_async_client(
        ep.endpoint, timeout=timeout, headers=ep.auth_headers()
    ) as client:
        return await backend.achat(  # type: ignore[no-any-return]
            client,
            model or ep.model,
            normalize_messages(messages),
            tools=tools,
            stream=stream,
            timeout=timeout,
            on_token=on_token,
            options=options,
        )


__all__ = [
    "ChatTimeout",
    "EndpointUnreachable",
    "ModelNotFound",
    "Reply",
    "ServerLoading",
    "Timings",
    "ToolCall",
    "ToolsNotSupported",
    "Usage",
    "achat",
    "chat",
    "load_endpoint",
]
