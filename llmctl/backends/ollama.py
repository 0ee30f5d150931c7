"""Ollama's native API (reference/server-apis.md §1): a module of functions.

Each function takes an httpx client built by :func:`llmctl.backends.http.make_client` with the
server root as ``base_url`` (``http://127.0.0.1:11434``), so callers control timeouts and
transports. Sections: version, models (tags/show/capabilities), chat, and how a probe tells
Ollama apart (``SERVER``). Pulls, deletes and imports live in ``ollama_models.py`` and
``ollama_import.py``.
"""

from __future__ import annotations

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
from llmctl.backends.fingerprint import Answers, ServerKind, Sign, Tell
from llmctl.backends.http import error_text, json_or_error
from llmctl.errors import ServerError

if TYPE_CHECKING:
    import httpx

API = "ollama"
RUNNING_TEXT = "Ollama is running"


def _raise_for_status(response: httpx.Response, what: str, model: str = "") -> None:
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


# --- version ---


def version(client: httpx.Client) -> str:
    """``GET /api/version`` → ``"0.5.1"``."""
    response = client.get("/api/version")
    _raise_for_status(response, "version")
    doc = json_or_error(response, "GET /api/version")
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str):
        raise ServerError(f"GET /api/version: unexpected answer {str(doc)[:80]!r}")
    return str(doc["version"])


# --- models: tags, show, capabilities ---


def parse_tags(doc: Any) -> list[str]:
    """Model names from a ``/api/tags`` body (``{"models": [...]}``; null/absent = none)."""
    if not isinstance(doc, dict):
        raise ServerError("GET /api/tags: expected a JSON object")
    models = doc.get("models") or []
    if not isinstance(models, list):
        raise ServerError("GET /api/tags: 'models' is not a list")
    names = []
    for m in models:
        if isinstance(m, dict):
            name = m.get("name") or m.get("model")
            if isinstance(name, str) and name:
                names.append(name)
    return names


def list_tags(client: httpx.Client) -> list[str]:
    """The local model names (``GET /api/tags``), e.g. ``["llama3.2:latest"]``."""
    response = client.get("/api/tags")
    _raise_for_status(response, "tags")
    return parse_tags(json_or_error(response, "GET /api/tags"))


def show(client: httpx.Client, model: str) -> dict[str, Any]:
    """``POST /api/show``; raises :class:`llmctl.errors.ModelNotFound` on 404."""
    response = client.post("/api/show", json={"model": model, "verbose": False})
    _raise_for_status(response, "show", model)
    doc = json_or_error(response, "POST /api/show")
    if not isinstance(doc, dict):
        raise ServerError("POST /api/show: expected a JSON object")
    return doc


def capabilities(client: httpx.Client, model: str) -> list[str] | None:
    """The model's capabilities (``completion``, ``tools``, ``vision``, ...), or None when
    the server does not say (older Ollama omits the field)."""
    caps = show(client, model).get("capabilities")
    if isinstance(caps, list):
        return [str(c) for c in caps]
    return None


def supports_tools(client: httpx.Client, model: str) -> bool | None:
    caps = capabilities(client, model)
    return None if caps is None else "tools" in caps


# --- chat ---


def _ollama_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-shaped history → Ollama: tool-call arguments as objects, ``tool_name``."""
    out = []
    for m in messages:
        m = dict(m)
        calls = m.get("tool_calls")
        if isinstance(calls, list):
            fixed = []
            for c in calls:
                fn = dict(c.get("function") or {}) if isinstance(c, dict) else {}
                if isinstance(fn.get("arguments"), str):
                    fn["arguments"] = parse_arguments(fn["arguments"])
                fixed.append({**c, "function": fn} if isinstance(c, dict) else c)
            m["tool_calls"] = fixed
        if m.get("content") is None:
            m["content"] = ""
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
    body: dict[str, Any] = {
        "model": model,
        "messages": _ollama_messages(messages),
        "stream": stream,
    }
    if tools:
        body["tools"] = tools
    if options:
        body["options"] = options
    return "/api/chat", body


def make_parser(model: str) -> ChatParser:
    class OllamaChatParser(ChatParser):
        api = API

        def __init__(self) -> None:
            self.parts: list[str] = []
            self.calls: list[ToolCall] = []
            self.final: dict[str, Any] | None = None
            self.done = False

        def _absorb(self, doc: Any) -> list[str]:
            if not isinstance(doc, dict):
                raise ServerError(f"Ollama sent an unexpected chunk: {str(doc)[:80]!r}")
            if doc.get("error"):
                raise classify_error(None, str(doc["error"]), model=model, api=API)
            msg = doc.get("message") or {}
            tokens = []
            text = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(text, str) and text:
                self.parts.append(text)
                tokens.append(text)
            for i, call in enumerate(
                (msg.get("tool_calls") or []) if isinstance(msg, dict) else []
            ):
                fn = (call.get("function") or {}) if isinstance(call, dict) else {}
                call = call if isinstance(call, dict) else {}
                self.calls.append(
                    ToolCall(
                        id=str(call.get("id") or f"call_{len(self.calls) + i}"),
                        name=str(fn.get("name") or ""),
                        arguments=parse_arguments(fn.get("arguments")),
                    )
                )
                tokens.append("")
            if doc.get("done"):
                self.done = True
                self.final = doc
            return tokens

        def feed_line(self, line: bytes) -> list[str]:
            line = line.strip()
            if not line:
                return []
            try:
                doc = json.loads(line)
            except ValueError:
                from llmctl.backends.http import snippet

                raise ServerError(f"the server sent a line that is not JSON in its Ollama chat "
                                  f"stream ({snippet(line)!r})") from None
            return self._absorb(doc)

        def finish(self) -> Reply:
            if not self.done:
                raise ServerError('the Ollama stream ended before the final chunk ("done": true)')
            return self._reply()

        def parse_document(self, doc: Any) -> Reply:
            self._absorb(doc)
            return self._reply()

        def _reply(self) -> Reply:
            final = self.final or {}
            usage = Usage(
                prompt_tokens=_int(final.get("prompt_eval_count")),
                completion_tokens=_int(final.get("eval_count")),
            )
            timings = Timings()
            eval_ns = _int(final.get("eval_duration"))
            if usage.completion_tokens and eval_ns:
                timings.tokens_per_s = round(usage.completion_tokens / (eval_ns / 1e9), 2)
            finish = final.get("done_reason") or ("stop" if self.done else None)
            if self.calls and finish == "stop":
                finish = "tool_calls"
            return Reply(
                text="".join(self.parts),
                tool_calls=self.calls,
                finish_reason=finish,
                usage=usage,
                timings=timings,
                model=str(final.get("model") or model),
                api_type=API,
            )

    return OllamaChatParser()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- how a probe tells Ollama apart (llmctl.backends.fingerprint) ---


def fingerprint(answers: Answers) -> list[Sign]:
    """Ollama's own ``GET /api/version`` (its ``GET /`` text is read for every kind)."""
    doc = answers.json("/api/version")
    if isinstance(doc, dict) and isinstance(doc.get("version"), str):
        return [Sign(Tell.NATIVE_API, f"GET /api/version → {doc['version']}")]
    return []


def probed_models(answers: Answers) -> list[str]:
    """The names in ``GET /api/tags`` (else what ``/v1/models`` lists)."""
    tags = answers.json("/api/tags")
    try:
        return parse_tags(tags) if isinstance(tags, dict) else answers.model_ids
    except Exception:
        return answers.model_ids


def probed_version(answers: Answers) -> str | None:
    doc = answers.json("/api/version")
    return str(doc.get("version")) if isinstance(doc, dict) else None


SERVER = ServerKind(
    "ollama", "Ollama", fingerprint, api=API, running_text=RUNNING_TEXT,
    paths=("/api/version", "/api/tags"), models=probed_models, version=probed_version,
)
