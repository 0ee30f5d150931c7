"""The fake LocalAI server (reference/server-apis.md §5): stands in for localai/localai.

``/healthz`` always 200 (liveness), ``/readyz`` 503 while loading or ``unhealthy``; models
listed without ``created``/``owned_by`` (the ``model`` option first, then ``models``), with a
regex ``filter``; chat only for a listed model.
"""

from __future__ import annotations

import re
from typing import ClassVar

from .base import App, Request
from .wire import Handler


class LocalAIApp(App):
    kind = "localai"
    default_port = 8080
    default_version = "v3.5.0"
    default_model = "qwen2.5-0.5b-instruct"
    native_env: ClassVar[dict[str, str]] = {"data_dir": "LOCALAI_MODELS_PATH"}

    def setup(self) -> None:
        r = self.route
        r(
            "/",
            GET=lambda h, req: h.send(
                200,
                "<!DOCTYPE html><html><head><title>LocalAI"
                "</title></head><body>LocalAI</body></html>",
                "text/html; charset=utf-8",
            ),
        )
        r("/healthz", GET=lambda h, req: h.send(200, b""))  # liveness: always 200
        r("/readyz", GET=self.readyz)
        r("/version", GET=lambda h, req: h.send_json(200, {"version": self.opts["version"]}))
        r("/(?:v1/)?models", GET=self.models)
        r("/(?:v1/)?chat/completions", POST=self.chat)
        r("/(?:v1/)?(?:completions|embeddings)", POST=self.not_implemented)

    def startup_lines(self, url: str) -> list[str]:
        return [
            f"INF LocalAI API is listening! Please connect to the endpoint for API "
            f"documentation. endpoint={url}"
        ]

    def served_ids(self) -> list[str]:
        ids = [self.opts["model"]] if self.opts["model"] else []
        return ids + [m for m in self.opts["models"] if m not in ids]

    def not_found(self, h: Handler, req: Request) -> None:
        h.send_json(404, {"message": "Not Found"})

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.send_json(405, {"message": "Method Not Allowed"})

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.send_json(status, {"error": {"code": status, "message": msg, "type": etype}})

    def readyz(self, h: Handler, req: Request) -> None:
        if self.loading or self.opts["unhealthy"]:
            h.send_json(503, {"status": "starting", "reason": "startup preload in progress"})
            return
        h.send(200, b"")

    def models(self, h: Handler, req: Request) -> None:
        ids = self.served_ids()
        flt = req.query.get("filter", [""])[0]
        if flt:
            ids = [i for i in ids if re.search(flt, i)]
        # no created / owned_by (§5)
        self.openai_model_list(h, [{"id": i, "object": "model"} for i in ids])

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        model = body.get("model")
        if model not in self.served_ids():
            self.oai_error(h, 404, f"could not load model: model {model!r} not found", "")
            return
        self.openai_chat(h, body, model)
