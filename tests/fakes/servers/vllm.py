"""The fake vLLM server (reference/server-apis.md §3): stands in for vllm/vllm-openai.

uvicorn's behaviour: while ``load_seconds`` runs the port is bound but refuses connections;
``/health`` answers an empty 200 (503 when ``unhealthy``); ``/v1/*`` wants ``Authorization:
Bearer`` when ``api_key`` is set (401 ``{"error":"Unauthorized"}``); one served model
(``served_model_name`` or ``model``) with vLLM's model card; FastAPI's ``{"detail": ...}``
404/405, and an integer error ``code``. The script refuses a stray ``serve`` argument as the
real image does (llmfake.main).
"""

from __future__ import annotations

import time
import uuid
from typing import ClassVar

from .base import App, BadRequest, Request
from .wire import Handler


class VllmApp(App):
    kind = "vllm"
    default_port = 8000
    default_version = "0.11.0"
    default_model = "Qwen/Qwen3-0.6B"
    native_env: ClassVar[dict[str, str]] = {"api_key": "VLLM_API_KEY"}
    server_header = "uvicorn"
    refuse_while_loading = True

    def setup(self) -> None:
        self.created = int(time.time())
        r = self.route
        r("/health", GET=self.health)
        r("/ping", GET=self.health, POST=self.health)
        r(
            "/version",
            GET=lambda h, req: h.send_json(
                200, {"version": self.opts["version"]}, "application/json"
            ),
        )
        r("/load", GET=lambda h, req: h.send_json(200, {"server_load": 0}, "application/json"))
        r("/metrics", GET=lambda h, req: h.send_text(200, "# llmfake\nvllm:num_requests 0\n"))
        r("/v1/models", GET=self.models)
        r("/v1/chat/completions", POST=self.chat)
        r("/v1/(?:completions|embeddings|responses)", POST=self.not_implemented)

    @property
    def served(self) -> str:
        return self.opts["served_model_name"] or self.opts["model"]

    def startup_lines(self, url: str) -> list[str]:
        return [
            "INFO:     Started server process [1]",
            "INFO:     Waiting for application startup.",
            "INFO:     Application startup complete.",
            f"INFO:     Uvicorn running on {url} (Press CTRL+C to quit)",
        ]

    def loading_lines(self) -> list[str]:
        return [
            f"INFO llmfake vllm: non-default args: {{'model': '{self.opts['model']}'}}",
            "INFO llmfake vllm: Loading model weights took 0.00 GB",
        ]

    def before(self, h: Handler, req: Request) -> bool:
        key = self.opts["api_key"]
        auth = req.headers.get("Authorization", "")
        if key and req.path.startswith("/v1") and auth != f"Bearer {key}":
            h.send_json(401, {"error": "Unauthorized"}, "application/json")  # §3
            return True
        return False

    def not_found(self, h: Handler, req: Request) -> None:
        h.send_json(404, {"detail": "Not Found"}, "application/json")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.send_json(405, {"detail": "Method Not Allowed"}, "application/json")

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        # `code` is an int here (§3 ErrorInfo)
        h.send_json(
            status,
            {"error": {"message": msg, "type": etype, "param": None, "code": status}},
            "application/json",
        )

    def health(self, h: Handler, req: Request) -> None:
        h.send(503 if self.opts["unhealthy"] else 200, b"")  # empty body either way

    def models(self, h: Handler, req: Request) -> None:
        card = {
            "id": self.served,
            "object": "model",
            "created": self.created,
            "owned_by": "vllm",
            "root": self.opts["model"],
            "parent": None,
            "max_model_len": self.opts["max_model_len"],
            "permission": [
                {
                    "id": "modelperm-" + uuid.uuid4().hex,
                    "object": "model_permission",
                    "created": self.created,
                    "allow_create_engine": False,
                    "allow_sampling": True,
                    "allow_logprobs": True,
                    "allow_search_indices": False,
                    "allow_view": True,
                    "allow_fine_tuning": False,
                    "organization": "*",
                    "group": None,
                    "is_blocking": False,
                }
            ],
        }
        self.openai_model_list(h, [card])

    def chat(self, h: Handler, req: Request) -> None:
        try:
            body = req.json()
        except BadRequest as e:
            self.oai_error(h, 400, str(e), "BadRequestError")
            return
        model = body.get("model") or self.served
        if model != self.served:
            self.oai_error(h, 404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        self.openai_chat(h, body, model)
