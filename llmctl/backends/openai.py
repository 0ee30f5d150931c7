"""OpenAI-compatible APIs (Ollama /v1, Model Runner /engines/v1, vLLM, llama.cpp, TGI,
LocalAI): list models, chat (stream and not), error envelopes.

Functions take an httpx client whose ``base_url`` is the API base ending in ``/v1``
(``http://127.0.0.1:12434/engines/v1``); paths here are relative to it.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from llmctl.backends.chat import (
    ChatParser,
    Reply,
    Timings,
    ToolCall,
    Usage,
    classify_error,
    parse_arguments,
)
from llmctl.backends.http import error_text, json_or_error
from llmctl.errors import ServerError

if TYPE_CHECKING:
    import httpx

API = "openai"


def _raise_for_status(response: httpx.Response, model: str = "") -> None:
    if response.status_code == 200:
        return
    from llmctl.backends.http import check_api_answer

    check_api_answer(response, body=response.content)

    raise classify_error(
        response.status_code,
        error_text(response),
        model=model,
        url=str(response.request.url),
        api=API,
    )


# --- models ---


def parse_models(doc: Any) -> list[dict[str, Any]]:
    """The ``data`` entries of a ``/v1/models`` body (Ollama sends ``data: null`` when empty)."""
    if not isinstance(doc, dict):
        raise ServerError("GET /v1/models: expected a JSON object")
    data = doc.get("data") or []
    if not isinstance(data, list):
        raise ServerError("GET /v1/models: 'data' is not a list")
    return [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]


def list_models(client: httpx.Client) -> list[str]:
    """Model ids from ``GET models`` under the base URL."""
    response = client.get("models")
    _raise_for_status(response)
    return [m["id"] for m in parse_models(json_or_error(response, "GET /v1/models"))]


# --- chat ---


def _openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History with tool-call arguments as JSON strings, as OpenAI servers expect."""
    out = []
    for m in messages:
        m = dict(m)
        calls = m.get("tool_calls")
        if isinstance(calls, list):
            fixed = []
            for i, c in enumerate(calls):
                if not isinstance(c, dict):
                    continue
                fn = dict(c.get("function") or {})
                if not isinstance(fn.get("arguments"), str):
                    fn["arguments"] = json.dumps(fn.get("arguments") or {})
                fixed.append({"id": c.get("id") or f"call_{i}", "type": "function", "function": fn})
            m["tool_calls"] = fixed
        if m.get("role") == "tool" and "tool_name" in m and "name" not in m:
            m["name"] = m.pop("tool_name")
        out.append(m)
    return out


def build_chat_request(
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    stream: bool = False,
    options: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {"model": model, "messages": _openai_messages(messages)}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = tools
    if options:
        body.update(options)
    return "chat/completions", body


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def make_parser(model: str) -> ChatParser:
    class OpenAIChatParser(ChatParser):
        api = API

        def __init__(self) -> None:
            self.parts: list[str] = []
            self.calls: dict[int, dict[str, Any]] = {}
            self.finish_reason: str | None = None
            self.usage = Usage()
            self.server_tps: float | None = None
            self.model = model
            self.done = False

        def _check(self, doc: Any) -> dict[str, Any]:
            if not isinstance(doc, dict):
                raise ServerError(f"unexpected chunk: {str(doc)[:80]!r}")
            if doc.get("error"):
                err = doc["error"]
                text = str(err.get("message") or err) if isinstance(err, dict) else str(err)
                code = err.get("code") if isinstance(err, dict) else None
                raise classify_error(
                    code if isinstance(code, int) else None, text, model=model, api=API
                )
            return doc

        def _meta(self, doc: dict[str, Any]) -> None:
            if isinstance(doc.get("model"), str):
                self.model = doc["model"]
            usage = doc.get("usage")
            if isinstance(usage, dict):
                self.usage = Usage(
                    prompt_tokens=_int(usage.get("prompt_tokens")),
                    completion_tokens=_int(usage.get("completion_tokens")),
                )
            timings = doc.get("timings")  # llama.cpp's own counters
            if isinstance(timings, dict) and isinstance(
                timings.get("predicted_per_second"), (int, float)
            ):
                self.server_tps = round(float(timings["predicted_per_second"]), 2)

        def feed_line(self, line: bytes) -> list[str]:
            line = line.strip()
            if not line or line.startswith(b":"):
                return []
            if not line.startswith(b"data:"):
                # Not SSE: some servers answer a stream request with a plain JSON error.
                with contextlib.suppress(ValueError):
                    self._check(json.loads(line))
                return []
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                return []
            try:
                doc = self._check(json.loads(payload))
            except ValueError:
                from llmctl.backends.http import snippet

                raise ServerError(f"the stream sent invalid JSON ({snippet(payload)!r})"
                                  ) from None
            self._meta(doc)
            tokens: list[str] = []
            for choice in doc.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if isinstance(text, str) and text:
                    self.parts.append(text)
                    tokens.append(text)
                for tc in delta.get("tool_calls") or []:
                    idx = tc.get("index", len(self.calls))
                    slot = self.calls.setdefault(idx, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = tc.get("id") or slot["id"]
                    fn = tc.get("function") or {}
                    slot["name"] = fn.get("name") or slot["name"]
                    args = fn.get("arguments")
                    if isinstance(args, str):
                        slot["arguments"] += args
                    elif isinstance(args, dict):
                        slot["arguments"] = json.dumps(args)
                    tokens.append("")
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]
            return tokens

        def finish(self) -> Reply:
            if not self.done and self.finish_reason is None:
                raise ServerError("the stream ended before the answer was complete")
            return self._reply()

        def parse_document(self, doc: Any) -> Reply:
            doc = self._check(doc)
            self._meta(doc)
            choices = doc.get("choices")
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                raise ServerError(f"the reply has no choices: {str(doc)[:80]!r}")
            msg = choices[0].get("message") or {}
            content = msg.get("content")
            if isinstance(content, str):
                self.parts.append(content)
            for i, tc in enumerate(msg.get("tool_calls") or []):
                fn = tc.get("function") or {}
                args = fn.get("arguments")
                self.calls[i] = {
                    "id": tc.get("id") or "",
                    "name": fn.get("name") or "",
                    "arguments": args if isinstance(args, str) else json.dumps(args or {}),
                }
            self.finish_reason = choices[0].get("finish_reason")
            self.done = True
            return self._reply()

        def _reply(self) -> Reply:
            calls = [
                ToolCall(
                    id=c["id"] or f"call_{i}",
                    name=c["name"],
                    arguments=parse_arguments(c["arguments"]),
                )
                for i, c in sorted(self.calls.items())
            ]
            return Reply(
                text="".join(self.parts),
                tool_calls=calls,
                finish_reason=self.finish_reason,
                usage=self.usage,
                timings=Timings(tokens_per_s=self.server_tps),
                model=self.model,
                api_type=API,
            )

    return OpenAIChatParser()
