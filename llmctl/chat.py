"""One chat completion, or the model list, through an endpoint: resolve it (a name, a URL,
an :class:`~llmctl.endpoint.Endpoint` or the default), pick the backend for its API, run it.

What :mod:`llmctl.client` offers library users, and what ``llmctl chat`` calls. The wire
formats live in :mod:`llmctl.backends.ollama` and :mod:`llmctl.backends.openai`, the request
itself in :mod:`llmctl.backends.chat`. The endpoint file's module, httpx and the backend are
imported when a call runs, so ``import llmctl.client`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmctl.backends.chat import (
    Messages,
    Reply,
    TokenSink,
    arun_chat,
    normalize_messages,
    transport_error,
)

if TYPE_CHECKING:
    from llmctl.endpoint import Endpoint

DEFAULT_CHAT_TIMEOUT = 120.0


def list_models(
    endpoint: Endpoint | str | None = None,
    *,
    api: str | None = None,
    timeout: float = 10.0,
) -> list[str]:
    """The model names the endpoint's server offers through its API (Ollama ``/api/tags``,
    OpenAI ``…/models``), within ``timeout`` seconds (wall clock)."""
    import httpx

    from llmctl.backends.http import hard_deadline, make_client
    from llmctl.endpoint import resolve_endpoint
    from llmctl.urls import connectable

    ep = resolve_endpoint(endpoint, api)
    url = connectable(ep.endpoint)
    base = url if ep.api_type == "ollama" else url.rstrip("/") + "/"
    try:
        with hard_deadline(timeout, "listing models", ep.endpoint) as cutter, make_client(
                base, timeout=timeout, connect_timeout=min(timeout, 5.0),
                headers=ep.auth_headers(), cutter=cutter, ca_file=ep.ca_file) as client:
            if ep.api_type == "ollama":
                from llmctl.backends import ollama

                return ollama.list_tags(client)
            from llmctl.backends import openai

            return openai.list_models(client)
    except httpx.HTTPError as exc:
        raise transport_error(exc, ep.endpoint, timeout) from exc


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

    ``timeout`` is a hard wall-clock limit for the whole answer, streaming included (it
    runs :func:`achat` on a private event loop, so even a server that trickles its headers
    is cut off). ``on_token`` receives text pieces as they arrive when ``stream`` is true.
    """
    from llmctl.backends.http import run_sync

    return run_sync(achat(messages, tools, endpoint=endpoint, model=model, stream=stream,
                          timeout=timeout, on_token=on_token, api=api, options=options))


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
    from llmctl.endpoint import resolve_endpoint

    ep = resolve_endpoint(endpoint, api)
    backend = _backend(ep.api_type)
    from llmctl.backends.http import make_async_client
    from llmctl.urls import connectable

    base = connectable(ep.endpoint)  # localhost in a hand-written file is 127.0.0.1 too
    async with make_async_client(base, timeout=timeout, headers=ep.auth_headers(),
                                 ca_file=ep.ca_file) as client:
        name = model or ep.model
        path, body = backend.build_chat_request(
            name, normalize_messages(messages), tools, stream=stream, options=options)
        return await arun_chat(client, path, body, backend.make_parser(name), model=name,
                               stream=stream, timeout=timeout, on_token=on_token)
