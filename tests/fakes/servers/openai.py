"""A generic OpenAI-compatible server: stands in for any server that speaks only the OpenAI
API (``/v1/models``, ``/v1/models/{id}``, ``/v1/chat/completions``; a user's own profile of
``kind: openai``), with OpenAI's error envelopes and ``invalid_api_key`` when ``api_key`` is set.
"""

from __future__ import annotations

import time

from .base import App, Request
from .wire import Handler


class OpenAIApp(App):
    kind = "openai"
    default_port = 8000
    default_version = "1.0.0"
    default_model = "gpt-4o-mini"
    fingerprint = "fp_llmfake"

    def setup(self) -> None:
        self.created = int(time.time())
        r = self.route
        r("/health", GET=lambda h, req: h.send_json(200, {"status": "ok"}, "application/json"))
        r("/v1/models", GET=self.models)
        r("/v1/models/(?P<model>.+)", GET=self.model)
        r("/v1/chat/completions", POST=self.chat)

    def served_ids(self) -> list[str]:
        ids = [self.opts["model"]] if self.opts["model"] else []
        return ids + [m for m in self.opts["models"] if m not in ids]

    def before(self, h: Handler, req: Request) -> bool:
        key = self.opts["api_key"]
        auth = req.headers.get("Authorization", "")
        if key and req.path.startswith("/v1") and auth != f"Bearer {key}":
            h.send_json(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                "application/json",
            )
            return True
        return False

    def entry(self, mid: str) -> dict:
        return {"id": mid, "object": "model", "created": self.created, "owned_by": "openai"}

    def models(self, h: Handler, req: Request) -> None:
        self.openai_model_list(h, [self.entry(i) for i in self.served_ids()])

    def model(self, h: Handler, req: Request, model: str) -> None:
        if model not in self.served_ids():
            self.oai_error(h, 404, f"The model '{model}' does not exist", "invalid_request_error")
            return
        h.send_json(200, self.entry(model), "application/json")

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        model = body.get("model")
        if model not in self.served_ids():
            self.oai_error(h, 404, f"The model '{model}' does not exist", "invalid_request_error")
            return
        self.openai_chat(h, body, model)
