"""The library face for MCP clients: load the configured endpoint and chat with it.

    from llmctl.client import chat, achat, load_endpoint

    reply = chat([{"role": "user", "content": "Hello!"}])
    print(reply.text, reply.tool_calls, reply.timings.tokens_per_s)

One normalized :class:`Reply` whatever the server speaks (Ollama ``/api/chat`` or an
OpenAI-compatible ``/v1/chat/completions``): tool-call arguments are always a ``dict``. The
exceptions below subclass :mod:`llmctl.errors`, so ``except LlmctlError`` catches them all.

This module only gathers the public names; nothing in llmctl imports it. The reply types
live in :mod:`llmctl.backends.chat`, ``chat``/``achat``/``list_models`` in :mod:`llmctl.chat`,
the exceptions in :mod:`llmctl.errors`, the endpoint file in :mod:`llmctl.endpoint` (loaded
on first use, with httpx, so ``import llmctl.client`` stays cheap).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl.backends.chat import Reply, Timings, ToolCall, Usage
from llmctl.chat import DEFAULT_CHAT_TIMEOUT as DEFAULT_CHAT_TIMEOUT
from llmctl.chat import achat, chat, list_models
from llmctl.errors import (
    ChatTimeout,
    EndpointUnreachable,
    ModelNotFound,
    ServerLoading,
    ToolsNotSupported,
)

if TYPE_CHECKING:
    from llmctl.endpoint import Endpoint


def load_endpoint(name: str | None = None) -> Endpoint:
    """The named endpoint from the endpoint file, or the default one."""
    from llmctl.endpoint import load_endpoint as load

    return load(name)


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
    "list_models",
    "load_endpoint",
]
