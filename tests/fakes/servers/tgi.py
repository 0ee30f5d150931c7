"""The fake Text Generation Inference server (reference/server-apis.md §4): stands in for
ghcr.io/huggingface/text-generation-inference (which sets PORT=80).

While ``load_seconds`` runs the port refuses connections; ``/health`` 200 (503 JSON when
``unhealthy``), ``/info`` with the router's fields, ``/v1/models`` (``owned_by`` is the model
id), chat and ``/generate``; empty-bodied 404/405 and 422 for bad requests.
"""

from __future__ import annotations

from typing import ClassVar

from .base import App, Request
from .wire import Handler


class TgiApp(App):
    kind = "tgi"
    default_port = 80
    default_version = "3.3.5"
    default_model = "bigscience/bloom-560m"
    native_env: ClassVar[dict[str, str]] = {"model": "MODEL_ID", "port": "PORT"}
    refuse_while_loading = True

    def setup(self) -> None:
        self.fingerprint = f"{self.opts['version']}-sha-llmfake"
        r = self.route
        r("/(?:health|ping)", GET=self.health)
        r("/info", GET=self.info)
        r("/v1/models", GET=self.models)
        r("/v1/chat/completions", POST=self.chat)
        r("/generate", POST=self.generate)
        r(
            "/|/v1/completions|/generate_stream|/tokenize|/invocations|/vertex",
            POST=self.not_implemented,
        )
        r("/metrics", GET=lambda h, req: h.send_text(200, "tgi_request_count 0\n"))

    def startup_lines(self, url: str) -> list[str]:
        return [
            f'INFO text_generation_router::server: Serving revision for "{self.opts["model"]}"',
            "INFO text_generation_router::server: Connected",
        ]

    def loading_lines(self) -> list[str]:
        return [f"INFO text_generation_launcher: Starting shard rank=0 model={self.opts['model']}"]

    def not_found(self, h: Handler, req: Request) -> None:
        h.send(404, b"")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.send(405, b"")

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.send_json(status, {"error": msg, "error_type": etype}, "application/json")

    def bad_request(self, h: Handler, msg: str) -> None:
        self.oai_error(h, 422, msg, "validation")

    def health(self, h: Handler, req: Request) -> None:
        if self.opts["unhealthy"]:
            h.send_json(
                503, {"error": "unhealthy", "error_type": "healthcheck"}, "application/json"
            )
            return
        h.send(200, b"")

    def info(self, h: Handler, req: Request) -> None:
        ctx = self.opts["max_model_len"]
        h.send_json(
            200,
            {
                "model_id": self.opts["model"],
                "model_sha": None,
                "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": 128,
                "max_best_of": 2,
                "max_stop_sequences": 4,
                "max_input_tokens": ctx - 1,
                "max_total_tokens": ctx,
                "validation_workers": 2,
                "max_client_batch_size": 4,
                "router": "text-generation-router",
                "version": self.opts["version"],
                "sha": "llmfake",
                "docker_label": "sha-llmfake",
            },
            "application/json",
        )

    def models(self, h: Handler, req: Request) -> None:
        mid = self.opts["model"]
        self.openai_model_list(
            h, [{"id": mid, "object": "model", "created": 0, "owned_by": mid}]
        )  # owned_by = model_id (§4)

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        self.openai_chat(h, body, self.opts["model"])

    def generate(self, h: Handler, req: Request) -> None:
        req.json()
        h.send_json(200, {"generated_text": self.opts["reply"]}, "application/json")
