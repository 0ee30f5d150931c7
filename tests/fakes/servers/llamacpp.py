"""The fake llama.cpp server (reference/server-apis.md §6): stands in for llama-server
(ghcr.io/ggml-org/llama.cpp:server).

While ``load_seconds`` runs it listens but answers 503 ``Loading model`` everywhere except the
model lists (whose ``meta`` is null), and an HTML page at ``/``; ``api_key`` guards every route
but the public ones; ``/health``, ``/props``, ``/v1/models`` with the newer Ollama-style
``models`` array, chat with ``timings``; errors as ``{"error": {"code", "message", "type"}}``.
The model id is ``alias`` or the model path.
"""

from __future__ import annotations

import time
from typing import ClassVar

from .base import App, Request
from .wire import Handler

LLAMACPP_LOADING_HTML = (
    '<!DOCTYPE html><html><head><meta http-equiv="refresh" content="5"></head>'
    '<body><div id="loading">The model is loading. Please wait.<br/>'
    "The user interface will appear soon.</div></body></html>"
)


class LlamaCppApp(App):
    kind = "llamacpp"
    default_port = 8080
    default_version = "b6000"
    default_model = "/models/model.gguf"
    native_env: ClassVar[dict[str, str]] = {
        "model": "LLAMA_ARG_MODEL",
        "alias": "LLAMA_ARG_ALIAS",
        "port": "LLAMA_ARG_PORT",
        "host": "LLAMA_ARG_HOST",
        "max_model_len": "LLAMA_ARG_CTX_SIZE",
        "api_key": "LLAMA_API_KEY",
    }
    server_header = "llama.cpp"
    sse_ctype = "text/event-stream"

    def setup(self) -> None:
        self.created = int(time.time())
        self.fingerprint = f"{self.opts['version']}-llmfake"
        r = self.route
        r("/", GET=self.index)
        r("/(?:v1/)?health", GET=self.health)
        r("/(?:v1/)?models", GET=self.models)
        r("/api/tags", GET=self.models)
        r("/props", GET=self.props, POST=self.not_implemented)
        r(
            "/metrics",
            GET=lambda h, req: self.oai_error(
                h,
                501,
                "This server does not support metrics endpoint. Start it with `--metrics`",
                "not_supported_error",
            ),
        )
        r("/(?:v1/)?chat/completions", POST=self.chat)
        r(
            "/(?:v1/)?(?:completions|embeddings)|/completion|/tokenize|/detokenize",
            POST=self.not_implemented,
        )

    @property
    def model_id(self) -> str:
        return self.opts["alias"] or self.opts["model"]

    def startup_lines(self, url: str) -> list[str]:
        return [
            f"main: server is listening on {url} - starting the main loop",
            "srv  update_slots: all slots are idle",
        ]

    def loading_lines(self) -> list[str]:
        return [f"llama_model_loader: loaded meta data from {self.opts['model']}"]

    PUBLIC = ("/health", "/v1/health", "/models", "/v1/models", "/api/tags")

    def before(self, h: Handler, req: Request) -> bool:
        if self.loading and req.path not in ("/models", "/v1/models", "/api/tags"):
            if req.path == "/":
                h.send(503, LLAMACPP_LOADING_HTML, "text/html; charset=utf-8")
            else:  # §6: every other route answers the same 503 while loading
                self.oai_error(h, 503, "Loading model", "unavailable_error")
            return True
        key = self.opts["api_key"]
        auth = req.headers.get("Authorization", "")
        if key and req.path not in self.PUBLIC and auth != f"Bearer {key}":
            self.oai_error(h, 401, "Invalid API Key", "authentication_error")
            return True
        return False

    def not_found(self, h: Handler, req: Request) -> None:
        self.oai_error(h, 404, "File Not Found", "not_found_error")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        self.oai_error(h, 405, "Method Not Allowed", "invalid_request_error")

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.send_json(
            status,
            {"error": {"code": status, "message": msg, "type": etype}},
            "application/json; charset=utf-8",
        )

    def index(self, h: Handler, req: Request) -> None:
        h.send(
            200,
            "<!DOCTYPE html><html><head><title>llama.cpp - chat</title></head>"
            '<body><div id="app"></div></body></html>',
            "text/html; charset=utf-8",
        )

    def health(self, h: Handler, req: Request) -> None:
        if self.opts["unhealthy"]:
            self.oai_error(h, 503, "Loading model", "unavailable_error")
            return
        h.send_json(200, {"status": "ok"}, "application/json; charset=utf-8")

    def models(self, h: Handler, req: Request) -> None:
        mid = self.model_id
        meta = (
            None
            if self.loading
            else {  # meta is null while loading (§6)
                "vocab_type": 2,
                "n_vocab": 32000,
                "n_ctx_train": self.opts["max_model_len"],
                "n_embd": 2048,
                "n_params": 1100048384,
                "size": 667815936,
            }
        )
        h.send_json(
            200,
            {
                # newer builds add this Ollama-style array with dummy *string* values (§6)
                "models": [
                    {
                        "name": mid,
                        "model": mid,
                        "modified_at": "",
                        "size": "",
                        "digest": "",
                        "type": "model",
                        "description": "",
                        "tags": [""],
                        "capabilities": ["completion"],
                        "parameters": "",
                        "details": {
                            "parent_model": "",
                            "format": "gguf",
                            "family": "",
                            "families": [""],
                            "parameter_size": "",
                            "quantization_level": "",
                        },
                    }
                ],
                "object": "list",
                "data": [
                    {
                        "id": mid,
                        "object": "model",
                        "created": self.created,
                        "owned_by": "llamacpp",
                        "meta": meta,
                    }
                ],
            },
            "application/json; charset=utf-8",
        )

    def props(self, h: Handler, req: Request) -> None:
        h.send_json(
            200,
            {
                "default_generation_settings": {
                    "n_ctx": self.opts["max_model_len"],
                    "params": {"temperature": 0.8, "top_k": 40},
                },
                "total_slots": 1,
                "model_path": self.opts["model"],
                "chat_template": "{{ messages }}",
                "modalities": {"vision": False},
                "build_info": f"{self.opts['version']}-llmfake",
            },
        )

    def chat_extra(self, prompt_tokens: int, completion_tokens: int) -> dict:
        return {
            "timings": {
                "prompt_n": prompt_tokens,
                "prompt_ms": 1.0,
                "predicted_n": completion_tokens,
                "predicted_ms": 2.0,
            }
        }

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        # the single loaded model answers whatever `model` says
        self.openai_chat(h, body, body.get("model") or self.model_id)
