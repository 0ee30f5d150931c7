"""The fake Docker Model Runner (reference/server-apis.md §2): stands in for the runner
Docker Desktop starts and for the docker/model-runner container on Docker Engine.

Go net/http behaviour (plain-text errors, §2.1), ``/models`` create (pull with progress
lines, HTML-escaped unless ``Accept: application/json`` exactly, §2.3), list, inspect,
delete with docker-rmi semantics; ``/engines/...`` status, ps, df, unload; the OpenAI routes
under ``/engines[/{backend}]/v1`` and ``/v1`` (only llama.cpp installed: 412 for the other
known backends); an Ollama-shaped ``/api/tags``. Storage: ``<data_dir>/models.json`` (the
index) and ``<data_dir>/blobs/sha256/<hex>``. What ``create`` finds is in
model_runner_registry.py; what ``docker model package`` loads, in model_runner_import.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any, ClassVar

from .base import (
    App,
    BadRequest,
    Layer,
    Request,
    blob_content,
    dumps,
    go_html_escape,
    human_bytes,
    parse_revisions,
    revision_seed,
    rfc3339,
    sha256_hex,
)
from .model_runner_import import ModelRunnerImport
from .model_runner_registry import DMR_CATALOGUE, dmr_normalize
from .wire import Handler

DMR_BACKENDS = ("llama.cpp", "vllm", "sglang", "mlx", "diffusers")


class ModelRunnerApp(ModelRunnerImport, App):
    kind = "model-runner"
    default_port = 12434
    default_version = "v1.0.9"
    script_data_dir = "/models"
    native_env: ClassVar[dict[str, str]] = {"port": "MODEL_RUNNER_PORT", "data_dir": "MODELS_PATH"}

    def setup(self) -> None:
        self.catalogue = dict(DMR_CATALOGUE)
        for extra in self.opts["models"]:
            norm = dmr_normalize(extra)
            if norm and not norm.startswith("sha256:"):
                self.catalogue.setdefault(
                    norm,
                    dict(
                        artifact=norm,
                        arch="llama",
                        params="1.00 B",
                        quant="Q4_0",
                        size=64 << 10,
                        ctx=4096,
                    ),
                )
        self.revisions: dict[str, int] = {}  # normalized name -> the registry's revision
        for name, rev in parse_revisions(self.opts["revisions"]).items():
            norm = dmr_normalize(name)
            if norm is None:
                raise ValueError(f"revisions: {name!r} is not a model reference")
            self.revisions[norm] = rev
        self.root = self.opts["data_dir"]
        self.index_path = os.path.join(self.root, "models.json")
        self.running: dict[str, dict] = {}
        for name in self.opts["pulled"]:
            norm = dmr_normalize(name)
            if norm not in self.catalogue:
                raise ValueError(f"pulled: {name!r} is not in the model-runner catalogue")
            for _ in self.pull_lines(norm, self.catalogue[norm]):
                pass
        r = self.route
        r("/", GET=self.root_text)
        r(
            "/version",
            GET=lambda h, req: h.send_json(
                200, {"version": self.opts["version"]}, "application/json"
            ),
        )
        r("/metrics", GET=lambda h, req: h.send_text(200, "# HELP llmfake 1\nllmfake_up 1\n"))
        r("/models", GET=self.list_models)
        r("/models/create", POST=self.create)
        r("/models/(?P<name>.+)", GET=self.get_model, DELETE=self.delete_model)
        r("/engines/status", GET=self.engines_status)
        r("/engines/ps", GET=self.engines_ps)
        r("/engines/df", GET=self.engines_df)
        r("/engines/unload", POST=self.engines_unload)
        eng = r"/engines(?:/(?P<backend>[^/]+))?/v1"
        for prefix in (eng, "/v1"):
            r(prefix + "/models", GET=self.oai_models)
            r(prefix + "/models/(?P<name>.+)", GET=self.oai_model)
            r(prefix + "/chat/completions", POST=self.oai_chat)
            r(prefix + "/(?:completions|embeddings)", POST=self.not_implemented)
        r("/api/tags", GET=self.api_tags)
        for p in ("/api/show", "/api/chat", "/api/generate", "/api/embeddings"):
            r(p, POST=self.not_implemented)
        r("/models/load", POST=self.load_model)
        r("/models/(?P<name>.+)/tag", POST=self.tag_model)
        r("/llmfake/registry", POST=self.set_revision)

    def startup_lines(self, url: str) -> list[str]:
        return [
            f'time={rfc3339(time.time_ns())} level=info msg="Listening on '
            f'{url.rsplit(":", 1)[1]}" component=model-runner'
        ]

    # --- Go net/http texts; errors are plain text (§2.1)
    def not_found(self, h: Handler, req: Request) -> None:
        h.go_error(404, "404 page not found")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.go_error(405, "Method Not Allowed")

    def bad_request(self, h: Handler, msg: str) -> None:
        h.go_error(400, msg)

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.go_error(status, msg)

    def not_implemented(self, h: Handler, req: Request, **_: Any) -> None:
        h.go_error(501, f"llmfake: {req.method} {req.path} is not implemented")

    # --- storage: <data-dir>/models.json index + <data-dir>/blobs/sha256/<hex>
    def load_index(self) -> list[dict]:
        try:
            with open(self.index_path) as f:
                return json.load(f).get("index", [])
        except (OSError, ValueError):
            return []

    def save_index(self, idx: list[dict]) -> None:
        os.makedirs(self.root, exist_ok=True)
        tmp = self.index_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"index": idx}, f)
        os.replace(tmp, self.index_path)

    def find(self, ref: str, partial: bool = False) -> dict | None:
        norm = dmr_normalize(ref)
        if norm is None:
            return None
        idx = self.load_index()
        for m in idx:
            if norm.startswith("sha256:"):
                if m["id"] == norm or m["id"].startswith(norm):
                    return m
            elif norm in m.get("tags", []):
                return m
        if partial:  # §2.2: "smollm2" finds "ai/smollm2:latest"
            bare = ref.strip().lower()
            for m in idx:
                for t in m.get("tags", []):
                    if bare in t.lower():
                        return m
        return None

    @staticmethod
    def layers(spec: dict, revision: int = 1) -> list[Layer]:
        art = revision_seed(spec["artifact"], revision)
        raw = [
            ("application/vnd.docker.ai.gguf.v3", blob_content("GGUF " + art, spec["size"])),
            ("application/vnd.docker.ai.license", blob_content("LICENSE " + art, 1100)),
        ]
        return [Layer(mt, d, sha256_hex(d)) for mt, d in raw]

    @staticmethod
    def config(spec: dict, total: int) -> dict:
        return {
            "format": "gguf",
            "quantization": spec["quant"],
            "parameters": spec["params"],
            "architecture": spec["arch"],
            "size": human_bytes(total),
            "context_size": spec["ctx"],
        }

    @classmethod
    def model_id(cls, spec: dict, revision: int = 1) -> str:
        layers = cls.layers(spec, revision)
        return "sha256:" + sha256_hex(("|".join(x.hex for x in layers)).encode())

    def by_digest(self, norm: str, digest: str) -> tuple[dict, int] | None:
        """The catalogue entry and revision the registry keeps under ``norm@digest``: any
        revision up to the current one (a registry keeps the old manifests)."""
        spec = self.catalogue.get(norm)
        if spec is None:
            return None
        for rev in range(1, self.revisions.get(norm, 1) + 1):
            if self.model_id(spec, rev) == digest:
                return spec, rev
        return None

    def pull_lines(self, norm: str, spec: dict, revision: int | None = None,
                   tag: bool = True):
        """A pull of ``norm`` (its current revision, or ``revision``); ``tag`` False: a pull
        by digest, stored untagged (docker/model-distribution#37)."""
        layers = self.layers(spec, self.revisions.get(norm, 1) if revision is None else revision)
        total = sum(len(x.data) for x in layers)
        model_id = "sha256:" + sha256_hex(("|".join(x.hex for x in layers)).encode())
        control = spec.get("control")

        def msg(typ: str, message: str, lid: str | None = None, size: int = 0, cur: int = 0) -> str:
            layer: dict[str, Any] = {"size": size, "current": cur}
            if lid:
                layer = {"id": lid, **layer}
            return dumps(
                {"type": typ, "message": message, "total": total, "layer": layer, "mode": "pull"}
            )

        with self.lock:
            idx = self.load_index()
            existing = next((m for m in idx if m["id"] == model_id), None)
            if existing:
                if tag and norm not in existing["tags"]:
                    existing["tags"].append(norm)
                    self.save_index(idx)
                yield msg("success", f"Using cached model: {human_bytes(total)}")
                return
        nlines = max(1, self.opts["progress_lines"])
        delay = self.opts["pull_delay"]
        bdir = os.path.join(self.root, "blobs", "sha256")
        os.makedirs(bdir, exist_ok=True)
        downloaded = 0
        for li, layer in enumerate(layers):
            size = len(layer.data)
            for i in range(nlines):
                if control and control != "nosuccess" and li == 0 and i == max(1, nlines // 2):
                    if control == "error":
                        yield dumps(
                            {
                                "type": "error",
                                "message": "Error: unexpected EOF while reading layer",
                            }
                        )
                        return
                    yield ("control", control)
                    return
                cur = size * (i + 1) // nlines
                yield msg(
                    "progress",
                    f"Downloaded: {(downloaded + cur) / 1e6:.2f} MB",
                    layer.digest,
                    size,
                    cur,
                )
                if delay:
                    self.stop_event.wait(delay)
            downloaded += size
            with open(os.path.join(bdir, layer.hex), "wb") as f:
                f.write(layer.data)
        if control == "nosuccess":
            return
        with self.lock:
            idx = self.load_index()
            for m in idx if tag else ():  # a tag moves to the new model
                if norm in m["tags"]:
                    m["tags"].remove(norm)
            idx.append(
                {
                    "id": model_id,
                    "tags": [norm] if tag else [],
                    "created": int(time.time()),
                    "files": [x.digest for x in layers],
                    "config": self.config(spec, total),
                    "mode": spec.get("mode"),
                }
            )
            self.save_index(idx)
        yield msg("success", "Model pulled successfully")

    # --- routes
    def root_text(self, h: Handler, req: Request) -> None:
        h.send_text(200, "Docker Model Runner is running")

    @staticmethod
    def model_obj(m: dict) -> dict:
        o: dict[str, Any] = {"id": m["id"]}
        if m.get("tags"):  # omitempty
            o["tags"] = m["tags"]
        o.update(created=m["created"], config=m["config"])
        return o

    def list_models(self, h: Handler, req: Request) -> None:
        # §2.2: a bare array, [] when empty
        h.send_json(200, [self.model_obj(m) for m in self.load_index()], "application/json")

    def get_model(self, h: Handler, req: Request, name: str) -> None:
        if req.query.get("remote", [""])[0] == "true":
            norm = dmr_normalize(name)
            spec = self.catalogue.get(norm or "")
            if not spec:
                h.go_error(404, "Model not found")
                return
            layers = self.layers(spec, self.revisions.get(norm or "", 1))
            total = sum(len(x.data) for x in layers)
            mid = "sha256:" + sha256_hex(("|".join(x.hex for x in layers)).encode())
            h.send_json(
                200,
                {"id": mid, "tags": [norm], "created": 0, "config": self.config(spec, total)},
                "application/json",
            )
            return
        m = self.find(name, partial=True)
        if not m:
            h.go_error(404, "model not found")
            return
        h.send_json(200, self.model_obj(m), "application/json")

    def create(self, h: Handler, req: Request) -> None:
        try:
            body = req.json()
        except BadRequest:
            h.go_error(400, "Invalid request body")
            return
        raw = body.get("from") if isinstance(body, dict) else None
        norm = dmr_normalize(raw)
        if norm is None:
            h.go_error(400, "Invalid model reference")
            return
        revision, tag = None, True
        _, at, digest = raw.strip().partition("@") if isinstance(raw, str) else ("", "", "")
        if at:  # repo@sha256:...: that manifest, stored untagged
            found = self.by_digest(norm, digest)
            spec, revision, tag = (found[0], found[1], False) if found else (None, None, False)
        else:
            spec = self.catalogue.get(norm)
        if spec is None:  # before anything is streamed: plain-text status (§2.3)
            h.go_error(404, "Model not found")
            return
        # §2.3: raw JSON only with "Accept: application/json" exactly
        raw_json = req.headers.get("Accept") == "application/json"
        s = h.stream(
            200,
            "application/json" if raw_json else "text/plain",
            flush_each=bool(self.opts["pull_delay"]),
        )
        for line in self.pull_lines(norm, spec, revision, tag):
            if isinstance(line, tuple):
                s.flush()
                if line[1] == "stall":
                    self.stop_event.wait()
                    h.close_connection = True
                else:
                    s.abort()
                return
            s.write((line if raw_json else go_html_escape(line)) + "\n")
        s.close()

    def set_revision(self, h: Handler, req: Request) -> None:
        """Test control (not the runner's API): ``{"model", "revision"}`` -> the registry
        now serves that revision under the model's tag (a re-push)."""
        try:
            body = req.json()
        except BadRequest:
            body = None
        norm = dmr_normalize(body.get("model") if isinstance(body, dict) else None)
        rev = body.get("revision") if isinstance(body, dict) else None
        if norm is None or not isinstance(rev, int) or rev < 1:
            h.go_error(400, "want {\"model\": NAME, \"revision\": N >= 1}")
            return
        with self.lock:
            self.revisions[norm] = rev
        h.send_json(200, {"model": norm, "revision": rev}, "application/json")

    def delete_model(self, h: Handler, req: Request, name: str) -> None:
        with self.lock:
            m = self.find(name)
            if not m:
                h.go_error(404, "model not found")
                return
            norm = dmr_normalize(name) or ""
            force = req.query.get("force", [""])[0] == "true"
            if len(m.get("tags", [])) > 1 and not force:
                if norm.startswith("sha256:"):  # docker-rmi semantics (not in the reference)
                    h.go_error(
                        409,
                        f"unable to delete {name!r} (must be forced) due to "
                        "multiple tag references",
                    )
                    return
                idx = self.load_index()
                for x in idx:
                    if x["id"] == m["id"]:
                        x["tags"].remove(norm)
                self.save_index(idx)
                self.running.pop(norm, None)
                h.send_json(200, [{"Untagged": norm}], "application/json")
                return
            idx = [x for x in self.load_index() if x["id"] != m["id"]]
            self.save_index(idx)
            bdir = os.path.join(self.root, "blobs", "sha256")
            for d in m.get("files", []):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(bdir, d[7:]))
            for t in m.get("tags", []):
                self.running.pop(t, None)
        # capitalized keys (§2.1 DeleteModelAction)
        out = [{"Untagged": t} for t in m.get("tags", [])] + [{"Deleted": m["id"]}]
        h.send_json(200, out, "application/json")


    def engines_status(self, h: Handler, req: Request) -> None:
        h.send_json(
            200,
            {
                "llama.cpp": "Running: llama.cpp latest-cpu (sha256:"
                + sha256_hex(b"llama.cpp")[:12]
                + ") b6000",
                "vllm": "Not Installed",
                "sglang": "Not Installed",
                "mlx": "Not Installed",
                "diffusers": "Not Installed",
            },
            "application/json",
        )

    def engines_ps(self, h: Handler, req: Request) -> None:
        with self.lock:
            h.send_json(200, list(self.running.values()), "application/json")

    def engines_df(self, h: Handler, req: Request) -> None:
        total = 0
        bdir = os.path.join(self.root, "blobs", "sha256")
        for f in os.listdir(bdir) if os.path.isdir(bdir) else []:
            total += os.path.getsize(os.path.join(bdir, f))
        h.send_json(
            200, {"models_disk_usage": total, "default_backend_disk_usage": 0}, "application/json"
        )

    def engines_unload(self, h: Handler, req: Request) -> None:
        body = req.json() if req.body.strip() else {}
        with self.lock:
            if body.get("all"):
                n = len(self.running)
                self.running.clear()
            else:
                names = [dmr_normalize(x) for x in body.get("models") or []]
                n = sum(1 for x in names if self.running.pop(x or "", None))
        h.send_json(200, {"unloaded_runners": n}, "application/json")

    def check_backend(self, h: Handler, backend: str | None) -> bool:
        if backend is None or backend == "llama.cpp":
            return True
        if backend in DMR_BACKENDS:
            h.go_error(
                412,
                f'backend "{backend}" is not installed; run: docker model '
                f"install-runner --backend {backend}",
            )
        else:
            h.go_error(404, "backend not found")
        return False

    def oai_entry(self, m: dict) -> dict:
        tags = m.get("tags") or []
        c = m.get("config")
        o: dict[str, Any] = {
            "id": tags[0] if tags else m["id"],
            "object": "model",
            "created": m["created"],
            "owned_by": "docker",
        }
        if c:
            o["dmr"] = {
                "context_window": c.get("context_size"),
                "architecture": c.get("architecture"),
                "parameters": c.get("parameters"),
                "quantization": c.get("quantization"),
                "size": c.get("size"),
            }
        return o

    def oai_models(self, h: Handler, req: Request, backend: str | None = None) -> None:
        if backend is not None and backend not in DMR_BACKENDS:
            h.go_error(404, "backend not found")
            return
        # data is never null here (§2.2 ToOpenAIList)
        self.openai_model_list(h, [self.oai_entry(m) for m in self.load_index()])

    def oai_model(self, h: Handler, req: Request, name: str, backend: str | None = None) -> None:
        m = self.find(name)
        if not m:
            h.go_error(404, "model not found")
            return
        h.send_json(200, self.oai_entry(m), "application/json")

    def oai_chat(self, h: Handler, req: Request, backend: str | None = None) -> None:
        if not self.check_backend(h, backend):
            return
        try:
            body = req.json()
        except BadRequest:
            h.go_error(400, "invalid request body")
            return
        if not body.get("model"):
            h.go_error(400, "model is required")
            return
        m = self.find(body["model"])
        if not m:
            h.go_error(404, f"model not found: {body['model']}")
            return
        tag = (m.get("tags") or [m["id"]])[0]
        with self.lock:
            self.running[tag] = {
                "backend_name": "llama.cpp",
                "model_name": tag,
                "mode": m.get("mode") or "completion",
                "last_used": rfc3339(time.time_ns()),
            }
        self.openai_chat(h, body, body["model"])

    def api_tags(self, h: Handler, req: Request) -> None:
        out = []
        for m in self.load_index():
            name = (m.get("tags") or [m["id"]])[0]
            c = m.get("config") or {}
            out.append(
                {
                    "name": name,
                    "model": name,
                    "modified_at": rfc3339(m["created"] * 10**9),
                    "size": sum(
                        os.path.getsize(os.path.join(self.root, "blobs", "sha256", d[7:]))
                        for d in m.get("files", [])
                        if os.path.exists(os.path.join(self.root, "blobs", "sha256", d[7:]))
                    ),
                    "digest": m["id"][7:],
                    "details": {
                        "format": "gguf",
                        "family": c.get("architecture", ""),
                        "parameter_size": c.get("parameters", ""),
                        "quantization_level": c.get("quantization", ""),
                    },
                }
            )
        h.send_json(200, {"models": out})
