"""Chat, below the backends: the reply types, the parser interface each API implements,
what a server's error means, and the one POST that runs a chat request (streamed or not).

:mod:`llmctl.backends.ollama` and :mod:`llmctl.backends.openai` provide the wire format
(``build_chat_request`` and a :class:`ChatParser`); :func:`arun_chat` sends the request and
feeds the answer through the parser within a wall-clock timeout. The public face,
:mod:`llmctl.client`, re-exports the reply types; :mod:`llmctl.chat` puts it together.
httpx is imported inside the functions that use it, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from llmctl.errors import (
    ChatTimeout,
    EndpointUnreachable,
    LlmctlError,
    ModelNotFound,
    ServerError,
    ServerLoading,
    ToolsNotSupported,
)

Messages = Sequence[dict[str, Any]] | str
TokenSink = Callable[[str], None]


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


# --- what the backends share: error classification, the chat request and its stream ---

MAX_ERROR_BODY = 64 * 1024
MAX_REPLY_BODY = 32 * 1024 * 1024


def classify_error(
    status: int | None, text: str, *, model: str, url: str = "", api: str = ""
) -> LlmctlError:
    """Map a server's error (HTTP status + its own text) to the library's exceptions.

    Covers Ollama ``404 model 'x' not found`` / ``400 ... does not support tools``, Model
    Runner's plain-text ``404 model not found``, OpenAI-style envelopes (vLLM ``The model `x`
    does not exist``), llama.cpp ``tools param requires --jinja`` and 503 while loading.
    """
    low = text.lower()
    where = f" at {url}" if url else ""
    if (
        "does not support tools" in low
        or "requires --jinja" in low
        or ("tool" in low and "not support" in low)
    ):
        return ToolsNotSupported(model, text)
    if (
        (status in (404, None) or status == 400)
        and ("not found" in low or "does not exist" in low)
        and "model" in low
    ):
        return ModelNotFound(model, text, url=url)
    if status == 404 and not low.strip():
        return ModelNotFound(model, "HTTP 404", url=url)
    if status in (401, 403):
        return ServerError(
            f"the server{where} rejected the request (HTTP {status}: {text})",
            "Give the right token with --token-file (the token is never printed).",
        )
    if status == 503:
        return ServerLoading(
            f"the server{where} is not ready (HTTP 503: {text or 'no details'})",
            "It may still be loading the model; try again shortly (llmctl probe shows it).",
        )
    if status is not None and 300 <= status < 400:
        return ServerError(
            f"the server{where} answered with a redirect (HTTP {status}: {text})",
            "Use the final URL of the API directly.",
        )
    prefix = f"HTTP {status}: " if status is not None else "error in the stream: "
    return ServerError(f"{api or 'the'} server{where} failed ({prefix}{text})",
                       details={"status": status, "api": api} if status is not None else None)


class LineSplitter:
    """Bytes in, complete lines out; keeps the partial tail."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buf += chunk
        if b"\n" not in self._buf:
            if len(self._buf) > MAX_REPLY_BODY:
                raise ServerError("the server sent an over-long line in its stream")
            return []
        *lines, self._buf = self._buf.split(b"\n")
        return [ln.rstrip(b"\r") for ln in lines]

    def tail(self) -> list[bytes]:
        rest, self._buf = self._buf.strip(), b""
        return [rest] if rest else []


class ChatParser:
    """What a backend provides to :func:`arun_chat`: the wire format of one API."""

    api = ""
    done = False
    saw_any = False

    def feed_line(self, line: bytes) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self) -> Reply:  # pragma: no cover - interface
        raise NotImplementedError

    def parse_document(self, doc: Any) -> Reply:  # pragma: no cover - interface
        raise NotImplementedError


def _request_timeout(timeout: float) -> Any:
    import httpx

    return httpx.Timeout(timeout, connect=min(timeout, 5.0))


def transport_error(exc: Exception, url: str, timeout: float) -> ServerError:
    import httpx

    from llmctl.backends.http import describe_transport_error

    reason = describe_transport_error(exc)
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol)):
        return EndpointUnreachable(
            f"cannot reach {url}: {reason}",
            "Check the server is running: llmctl probe " + url,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ChatTimeout(f"no answer from {url} within {timeout:g}s ({reason})")
    return ServerError(f"{url}: {reason}")


def _finish_timings(reply: Reply, t0: float, ttft: float | None, stream: bool) -> Reply:
    import time

    total = time.monotonic() - t0
    reply.timings.total_s = round(total, 4)
    if stream and ttft is not None:
        reply.timings.ttft_s = round(ttft, 4)
    if reply.timings.tokens_per_s is None and reply.usage.completion_tokens:
        gen = total - (ttft or 0.0) if stream and ttft is not None else total
        if gen > 0:
            reply.timings.tokens_per_s = round(reply.usage.completion_tokens / gen, 2)
    return reply


def _decode_document(body: bytes, url: str, ctype: str, what: str) -> Any:
    from llmctl.backends.http import media_type, not_api_error, not_api_reason, snippet

    try:
        return json.loads(body)
    except ValueError:
        if "json" in media_type(ctype):
            raise ServerError(
                f"{url} answered with truncated or invalid JSON, not a chat reply "
                f"({snippet(body)!r})",
                "Check that the endpoint URL points at the LLM server's API.",
            ) from None
        reason = not_api_reason(200, ctype, None, body, expect_json=True)
        assert reason is not None
        raise not_api_error(reason, url, what) from None


async def arun_chat(
    client: Any,
    path: str,
    body: dict[str, Any],
    parser: ChatParser,
    *,
    model: str,
    stream: bool,
    timeout: float,
    on_token: TokenSink | None = None,
) -> Reply:
    """POST a chat request and parse it with ``parser``; the wall-clock ``timeout`` cancels
    the request outright (a server that trickles bytes or streams forever is cut off)."""
    import asyncio
    import time

    import httpx

    from llmctl.backends.http import (
        body_error_text,
        first_line_reason,
        not_api_error,
        not_api_reason,
    )

    url = str(client.base_url).rstrip("/")
    what = f"POST {client.base_url.path.rstrip('/')}/{path.lstrip('/')}"
    t0 = time.monotonic()
    ttft: list[float] = []

    async def go() -> Reply:
        async with client.stream(
            "POST", path, json=body, timeout=_request_timeout(timeout)
        ) as resp:
            ctype = resp.headers.get("content-type")
            if resp.status_code != 200:
                data = b""
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_ERROR_BODY:
                        break
                # a redirect or a web page is said as probe says it; else the server's text
                reason = not_api_reason(resp.status_code, ctype, resp.headers.get("location"),
                                        data)
                if reason is not None:
                    raise not_api_error(reason, url, what)
                text = body_error_text(data, 200)
                raise classify_error(resp.status_code, text, model=model, url=url, api=parser.api)
            if not_api_reason(resp.status_code, ctype) is not None:
                first = b""
                async for chunk in resp.aiter_bytes():  # the start of the page, for the message
                    first = chunk
                    break
                raise not_api_error(not_api_reason(resp.status_code, ctype, None, first) or "",
                                    url, what)
            if not stream:
                data = b""
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_REPLY_BODY:
                        raise ServerError(f"{url}: the reply is over 32 MiB")
                doc = _decode_document(data, url, ctype or "", what)
                return parser.parse_document(doc)
            splitter = LineSplitter()
            head: bytes | None = b""  # until the first line is seen: is it an API's answer?
            async for chunk in resp.aiter_bytes():
                if head is not None:
                    head += chunk
                    if b"\n" not in head.lstrip() and len(head) < 4096:
                        continue
                    reason = first_line_reason(head, resp.status_code, ctype)
                    if reason is not None:
                        raise not_api_error(reason, url, what)
                    chunk, head = head, None
                for line in splitter.feed(chunk):
                    for token in parser.feed_line(line):
                        if not ttft:
                            ttft.append(time.monotonic() - t0)
                        if on_token and token:
                            on_token(token)
                if parser.done:
                    break
            else:
                if head:
                    reason = first_line_reason(head, resp.status_code, ctype)
                    if reason is not None:
                        raise not_api_error(reason, url, what)
                    splitter.feed(head)
                for line in splitter.tail():
                    for token in parser.feed_line(line):
                        if on_token and token:
                            on_token(token)
            return parser.finish()

    try:
        reply = await asyncio.wait_for(go(), timeout)
    except asyncio.TimeoutError:
        raise ChatTimeout(
            f"the answer from {url} did not finish within {timeout:g}s",
            "Raise the timeout, or check the server is not stuck.",
        ) from None
    except httpx.HTTPError as exc:
        raise transport_error(exc, url, timeout) from exc
    return _finish_timings(reply, t0, ttft[0] if ttft else None, stream)
