"""The fake Ollama server (reference/server-apis.md §1): stands in for ollama/ollama.

Its native API (version, tags, ps, pull with NDJSON progress, show, delete, chat, generate,
embed), the OpenAI-compatible routes (§1.10), the Host-header check when bound to loopback
(§1.1) and gin's plain-text 404/405. Models live on disk as in the real server,
``<data_dir>/models/{manifests,blobs}``, so a restarted fake (or a container on the same
volume) still has them. What ``pull`` finds is in ollama_registry.py; create-from-file
(blobs, ``/api/create`` with GGUF files) in ollama_import.py.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import time
import uuid
from datetime import datetime
from typing import Any

from .base import (
    App,
    BadRequest,
    Request,
    count_prompt_tokens,
    dumps,
    fake_tool_call,
    parse_revisions,
    rfc3339,
    sha256_hex,
    split_tokens,
)
from .ollama_import import OllamaImport
from .ollama_registry import OLLAMA_CATALOGUE, OName, ollama_layers, parse_ollama_name
from .wire import ChunkStream, Handler


class OllamaApp(OllamaImport, App):
    kind = "ollama"
    default_port = 11434
    default_version = "0.17.1"
    script_data_dir = "/root/.ollama"
    fingerprint = "fp_ollama"
    sse_ctype = "text/event-stream"

    def setup(self) -> None:
        self.catalogue = dict(OLLAMA_CATALOGUE)
        for extra in self.opts["models"]:
            n = parse_ollama_name(extra)
            if n:
                self.catalogue.setdefault(
                    n.shortest,
                    dict(
                        family="llama",
                        params="1B",
                        quant="Q4_0",
                        caps=["completion"],
                        size=64 << 10,
                        ctx=4096,
                    ),
                )
        self.revisions: dict[str, int] = {}  # OName.key -> the registry's revision
        for name, rev in parse_revisions(self.opts["revisions"]).items():
            n = parse_ollama_name(name)
            if n is None:
                raise ValueError(f"revisions: {name!r} is not a model name")
            self.revisions[n.key] = rev
        self.root = os.path.join(self.opts["data_dir"], "models")
        self.loaded: dict[str, float] = {}  # full key -> expires (epoch)
        self.create_ends: list[str] = []  # each streamed create: success | error | client gone
        for name in self.opts["pulled"]:
            n = parse_ollama_name(name)
            spec = self.lookup_catalogue(n) if n else None
            if n is None or spec is None:
                raise ValueError(f"pulled: {name!r} is not in the ollama catalogue")
            for _ in self.pull_lines(n, spec):
                pass
        r = self.route
        r("/", GET=self.root_text, HEAD=self.root_text)
        r("/api/version", GET=self.version, HEAD=self.version)
        r("/api/status", GET=self.status)
        r("/api/tags", GET=self.tags, HEAD=self.tags)
        r("/api/ps", GET=self.ps)
        r("/api/pull", POST=self.pull)
        r("/api/show", POST=self.show)
        r("/api/delete", DELETE=self.delete)
        r("/api/chat", POST=self.chat)
        r("/api/generate", POST=self.generate)
        r("/api/embed", POST=self.embed)
        for p in (
            "/api/push",
            "/api/copy",
            "/api/embeddings",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/responses",
            "/v1/audio/transcriptions",
            "/v1/messages",
        ):
            r(p, POST=self.not_implemented)
        r("/api/blobs/(?P<digest>[^/]+)", HEAD=self.blob_head, POST=self.blob_post)
        r("/api/create", POST=self.create_model)
        r("/v1/models", GET=self.v1_models)
        r("/v1/models/(?P<model>.+)", GET=self.v1_model)
        r("/v1/chat/completions", POST=self.v1_chat)
        r("/llmfake/registry", POST=self.set_revision)

    def startup_lines(self, url: str) -> list[str]:
        now = datetime.now().astimezone().isoformat(timespec="milliseconds")
        port = url.rsplit(":", 1)[1]
        return [
            f'time={now} level=INFO source=routes.go:1500 msg="Listening on '
            f'{self.opts["host"]}:{port} (version {self.opts["version"]})"'
        ]

    # --- §1.1 Host-header check, only when bound to loopback
    def before(self, h: Handler, req: Request) -> bool:
        try:
            bound_loopback = ipaddress.ip_address(self.opts["host"]).is_loopback
        except ValueError:
            bound_loopback = self.opts["host"] == "localhost"
        if bound_loopback and not self.host_allowed(req.headers.get("Host", "")):
            h.send(403, b"")
            return True
        return False

    @staticmethod
    def host_allowed(host: str) -> bool:
        host = host.strip()
        if host.startswith("["):
            host = host[1:].split("]", 1)[0]
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        if not host:
            return True
        try:
            ip = ipaddress.ip_address(host)
            return ip.is_loopback or ip.is_private or ip.is_unspecified
        except ValueError:
            pass
        h = host.lower()
        return h in ("localhost", socket.gethostname().lower()) or h.endswith(
            (".localhost", ".local", ".internal")
        )

    # --- errors: gin texts
    def not_found(self, h: Handler, req: Request) -> None:
        h.send_text(404, "404 page not found", "text/plain")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        # §1.2: HandleMethodNotAllowed = true
        h.send_text(405, "405 method not allowed", "text/plain")

    def bad_request(self, h: Handler, msg: str) -> None:
        h.send_json(400, {"error": msg})

    # --- storage
    def manifest_path(self, n: OName) -> str:
        return os.path.join(self.root, "manifests", n.host, n.namespace, n.model, n.tag)

    def blob_path(self, hexd: str) -> str:
        return os.path.join(self.root, "blobs", "sha256-" + hexd)  # ':' -> '-' (§1.1)

    def installed(self) -> list[tuple[OName, str]]:
        base = os.path.join(self.root, "manifests")
        out = []
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, base).split(os.sep)
            if len(rel) != 3:
                continue
            for f in files:
                out.append((OName(rel[0], rel[1], rel[2], f), os.path.join(dirpath, f)))
        return out

    def find(self, n: OName) -> tuple[OName, str] | None:
        for name, path in self.installed():
            if name.key == n.key:
                return name, path
        return None

    def read_model(self, name: OName, path: str) -> dict:
        with open(path, "rb") as f:
            raw = f.read()
        man = json.loads(raw)
        try:
            with open(self.blob_path(man["config"]["digest"][7:]), "rb") as f:
                cfg = json.loads(f.read())
        except (OSError, ValueError):
            cfg = {}
        size = man["config"]["size"] + sum(x["size"] for x in man["layers"])
        extra = cfg.get("llmfake", {})
        details = {
            "parent_model": "",
            "format": cfg.get("model_format", "gguf"),
            "family": cfg.get("model_family", ""),
            "families": cfg.get("model_families"),
            "parameter_size": cfg.get("model_type", ""),
            "quantization_level": cfg.get("file_type", ""),
        }
        return {
            "name": name,
            "path": path,
            "digest": sha256_hex(raw),
            "size": size,
            "mtime_ns": os.stat(path).st_mtime_ns,
            "details": details,
            "caps": extra.get("capabilities", ["completion"]),
            "ctx": extra.get("context_length", 4096),
        }

    def lookup_catalogue(self, n: OName) -> dict | None:
        for key, spec in self.catalogue.items():
            cn = parse_ollama_name(key)
            if cn and cn.key == n.key:
                return spec
        return None

    # --- pull (§1.6)
    def pull_lines(self, n: OName, spec: dict | None):
        """Yield NDJSON lines (no newline); ('control', what) tuples for control models."""
        yield '{"status":"pulling manifest"}'
        if spec is None:
            # registry 404 -> os.ErrNotExist, right after "pulling manifest" (§1.6)
            yield '{"error":"pull model manifest: file does not exist"}'
            return
        control = spec.get("control")
        layers = ollama_layers(n, spec, self.revisions.get(n.key, 1))
        nlines = max(1, self.opts["progress_lines"])
        delay = self.opts["pull_delay"]
        os.makedirs(os.path.join(self.root, "blobs"), exist_ok=True)
        for idx, layer in enumerate(layers):
            short, total, digest = layer.hex[:12], len(layer.data), layer.digest
            path = self.blob_path(layer.hex)
            if os.path.exists(path) and os.path.getsize(path) == total:
                # cache hit: reported once with completed == total
                yield (
                    f'{{"status":"pulling {short}","digest":"{digest}","total":{total},'
                    f'"completed":{total}}}'
                )
                continue
            steps = max(1, (nlines + 1) // 2)
            for i in range(nlines):
                if control and control != "nosuccess" and idx == 0 and i == max(1, nlines // 2):
                    if control == "error":
                        yield '{"error":"max retries exceeded: unexpected EOF"}'
                        return
                    yield ("control", control)
                    return
                # each value is sent twice: the real server repeats identical lines (~60 ms)
                done = total if i == nlines - 1 else total * (i // 2) // max(1, steps - 1)
                if done:
                    yield (
                        f'{{"status":"pulling {short}","digest":"{digest}","total":{total},'
                        f'"completed":{done}}}'
                    )
                else:  # completed is omitempty (§1.6)
                    yield f'{{"status":"pulling {short}","digest":"{digest}","total":{total}}}'
                if delay:
                    self.stop_event.wait(delay)
            tmp = f"{path}-partial-{uuid.uuid4().hex[:6]}"
            with open(tmp, "wb") as f:
                f.write(layer.data)
            os.replace(tmp, path)
        yield '{"status":"verifying sha256 digest"}'
        yield '{"status":"writing manifest"}'
        if control == "nosuccess":
            return
        config, body = layers[-1], layers[:-1]
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": config.media_type,
                "digest": config.digest,
                "size": len(config.data),
            },
            "layers": [
                {"mediaType": x.media_type, "digest": x.digest, "size": len(x.data)} for x in body
            ],
        }
        mpath = self.manifest_path(n)
        with self.lock:
            old = self.find(n)
            if old and old[1] != mpath:
                os.remove(old[1])
            os.makedirs(os.path.dirname(mpath), exist_ok=True)
            with open(mpath, "w") as f:
                f.write(dumps(manifest))
        yield '{"status":"success"}'

    def pull(self, h: Handler, req: Request) -> None:
        body = req.json()
        raw = body.get("model") or body.get("name")  # legacy "name" still accepted
        n = parse_ollama_name(raw)
        if n is None:
            h.send_json(400, {"error": "invalid model name"})
            return
        spec = self.lookup_catalogue(n)
        delay = self.opts["pull_delay"]
        if body.get("stream", True) is False:
            last = None
            for line in self.pull_lines(n, spec):
                if isinstance(line, tuple):
                    self.control(h, None, line[1])
                    return
                last = line
                if last.startswith('{"error"'):
                    h.send(500, last, "application/json; charset=utf-8")  # §1.6 waitForStream
                    return
            h.send(200, last or "{}", "application/json; charset=utf-8")
            return
        s = h.stream(200, "application/x-ndjson", flush_each=bool(delay))
        for line in self.pull_lines(n, spec):
            if isinstance(line, tuple):
                self.control(h, s, line[1])
                return
            s.write(line + "\n")
        s.close()

    def set_revision(self, h: Handler, req: Request) -> None:
        """Test control (not Ollama's API): ``{"model", "revision"}`` -> the registry now
        serves that revision of the model (a re-push under the same name)."""
        body = req.json()
        n = parse_ollama_name(body.get("model"))
        rev = body.get("revision")
        if n is None or not isinstance(rev, int) or rev < 1:
            h.send_json(400, {"error": "want {\"model\": NAME, \"revision\": N >= 1}"})
            return
        with self.lock:
            self.revisions[n.key] = rev
        h.send_json(200, {"model": n.shortest, "revision": rev})

    def control(self, h: Handler, s: ChunkStream | None, what: str) -> None:
        if s is not None:
            s.flush()
        if what == "stall":
            self.stop_event.wait()  # keep the connection open, send nothing
            h.close_connection = True
        else:  # drop
            (s or ChunkStream(h, True)).abort()

    # --- simple routes
    def root_text(self, h: Handler, req: Request) -> None:
        h.send_text(200, "Ollama is running")

    def version(self, h: Handler, req: Request) -> None:
        h.send_json(200, {"version": self.opts["version"]})

    def status(self, h: Handler, req: Request) -> None:
        h.send_json(200, {"cloud": {"disabled": False, "source": "default"}})

    def tag_entry(self, m: dict) -> dict:
        short = m["name"].shortest
        return {
            "name": short,
            "model": short,
            "modified_at": rfc3339(m["mtime_ns"]),
            "size": m["size"],
            "digest": m["digest"],
            "details": m["details"],
        }

    def models(self) -> list[dict]:
        ms = []
        for name, path in self.installed():
            try:
                ms.append(self.read_model(name, path))
            except (OSError, ValueError, KeyError):
                continue
        ms.sort(key=lambda m: -m["mtime_ns"])
        return ms

    def tags(self, h: Handler, req: Request) -> None:
        # §1.3: {"models":[]} when empty, never null
        h.send_json(200, {"models": [self.tag_entry(m) for m in self.models()]})

    def ps(self, h: Handler, req: Request) -> None:
        now = time.time()
        out = []
        with self.lock:
            live = {k: v for k, v in self.loaded.items() if v > now}
            self.loaded = live
        by_key = {m["name"].key: m for m in self.models()}
        for key, expires in sorted(live.items(), key=lambda kv: -kv[1]):  # longest first
            m = by_key.get(key)
            if not m:
                continue
            e = self.tag_entry(m)
            del e["modified_at"]
            e.update(
                expires_at=rfc3339(int(expires * 1e9)),
                size_vram=0,
                context_length=min(m["ctx"], self.opts["max_model_len"]),
            )
            out.append(e)
        h.send_json(200, {"models": out})

    def show(self, h: Handler, req: Request) -> None:
        body = req.json()
        raw = body.get("model") or body.get("name")
        if not raw:
            h.send_json(400, {"error": "model is required"})
            return
        n = parse_ollama_name(raw)
        found = self.find(n) if n else None
        if not found:
            shown = n.shortest if n else raw
            h.send_json(404, {"error": f"model '{shown}' not found"})
            return
        m = self.read_model(*found)
        d = m["details"]
        fam = d["family"] or "llama"
        out = {
            "license": "Fake license",
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {m["path"]}\n',
            "parameters": 'stop                           "<|eot_id|>"',
            "template": "{{ .System }}\n{{ .Prompt }}",
            "details": d,
            "model_info": {
                "general.architecture": fam,
                "general.parameter_count": 1000000,
                f"{fam}.context_length": m["ctx"],
            },
            "tensors": [],
            "capabilities": m["caps"],
            "modified_at": rfc3339(m["mtime_ns"]),
        }
        h.send_json(200, out)

    def delete(self, h: Handler, req: Request) -> None:
        body = req.json()
        raw = body.get("model") or body.get("name")
        n = parse_ollama_name(raw)
        if n is None:
            h.send_json(400, {"error": f"name {dumps(raw)} is invalid"})
            return
        with self.lock:
            found = self.find(n)
            if not found:
                h.send_json(404, {"error": f"model '{raw}' not found"})  # as given (§1.9)
                return
            os.remove(found[1])
            self.loaded.pop(n.key, None)
            self.prune_blobs()
        h.send(200, b"")

    def prune_blobs(self) -> None:
        used = set()
        for _name, path in self.installed():
            with open(path) as f:
                man = json.load(f)
            used.update(x["digest"][7:] for x in [man["config"], *man["layers"]])
        bdir = os.path.join(self.root, "blobs")
        for f in os.listdir(bdir) if os.path.isdir(bdir) else []:
            if f.startswith("sha256-") and f[7:] not in used:
                os.remove(os.path.join(bdir, f))

    # --- inference
    def resolve_for_inference(
        self, raw: Any, tools: Any, *, chat: bool = True
    ) -> tuple[int, str, dict | None]:
        """(status, error message, model) for the native and OpenAI chat routes."""
        if not raw:
            return 400, "model is required", None
        n = parse_ollama_name(raw)
        found = self.find(n) if n else None
        if not found:
            return 404, f"model '{raw}' not found", None
        m = self.read_model(*found)
        if chat and "completion" not in m["caps"]:
            return 400, f"{dumps(raw)} does not support chat", None
        if tools and "tools" not in m["caps"]:
            # the name in this message is fully qualified (§1.8)
            return 400, f"{m['name'].full} does not support tools", None
        return 200, "", m

    def mark_loaded(self, m: dict, keep_alive: Any) -> None:
        with self.lock:
            if keep_alive in (0, "0", "0s", "0m"):
                self.loaded.pop(m["name"].key, None)
            else:
                self.loaded[m["name"].key] = time.time() + 300

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        status, err, m = self.resolve_for_inference(body.get("model"), body.get("tools"))
        if m is None:
            h.send_json(status, {"error": err})
            return
        self.mark_loaded(m, body.get("keep_alive"))
        self.native_respond(h, body, "message")

    def generate(self, h: Handler, req: Request) -> None:
        body = req.json()
        status, err, m = self.resolve_for_inference(body.get("model"), None)
        if m is None:
            h.send_json(status, {"error": err})
            return
        self.mark_loaded(m, body.get("keep_alive"))
        self.native_respond(h, body, "response")

    def native_respond(self, h: Handler, body: dict, field: str) -> None:
        model = body.get("model")
        tokens = split_tokens(self.opts["reply"])
        tool_calls = None
        if field == "message" and body.get("tools"):
            name, args = fake_tool_call(body["tools"])
            # native API: arguments is an object, not a string (§1.8)
            tool_calls = [
                {
                    "id": "call_" + uuid.uuid4().hex[:8],
                    "function": {"index": 0, "name": name, "arguments": args},
                }
            ]
            tokens = []
        prompt_n = count_prompt_tokens(body.get("messages") or [{"content": body.get("prompt")}])
        eval_n = max(1, len(tokens))
        metrics = {
            "total_duration": 0,
            "load_duration": 1_234_567,
            "prompt_eval_count": prompt_n,
            "prompt_eval_duration": prompt_n * 2_000_000,
            "eval_count": eval_n,
            "eval_duration": eval_n * 10_000_000,
        }
        metrics["total_duration"] = (
            metrics["load_duration"] + metrics["prompt_eval_duration"] + metrics["eval_duration"]
        )

        def obj(content: str, done: bool, calls: Any = None) -> dict:
            o: dict[str, Any] = {"model": model, "created_at": rfc3339(time.time_ns(), utc=True)}
            if field == "message":
                msg: dict[str, Any] = {"role": "assistant", "content": content}
                if calls:
                    msg["tool_calls"] = calls
                o["message"] = msg
            else:
                o["response"] = content
            o["done"] = done
            if done:
                o["done_reason"] = "stop"
                o.update(metrics)
            return o

        if body.get("stream", True) is False:
            h.send_json(200, obj("".join(tokens), True, tool_calls))
            return
        s = h.stream(200, "application/x-ndjson")
        if tool_calls:  # tool calls come in a non-final chunk with content "" (§1.8)
            s.write(dumps(obj("", False, tool_calls)) + "\n")
        for t in tokens:
            s.write(dumps(obj(t, False)) + "\n")
            if self.opts["token_delay"]:
                self.stop_event.wait(self.opts["token_delay"])
        s.write(dumps(obj("", True)) + "\n")  # final chunk: content "" + metrics
        s.close()

    def embed(self, h: Handler, req: Request) -> None:
        body = req.json()
        status, err, m = self.resolve_for_inference(body.get("model"), None, chat=False)
        if m is None:
            h.send_json(status, {"error": err})
            return
        if "embedding" not in m["caps"]:
            h.send_json(400, {"error": f"{dumps(body['model'])} does not support embeddings"})
            return
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        vecs = [[round((hash((str(x), i)) % 2000) / 1000 - 1, 6) for i in range(8)] for x in inputs]
        h.send_json(200, {"model": body["model"], "embeddings": vecs})

    # --- OpenAI compatibility (§1.10)
    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.send_json(status, {"error": {"message": msg, "type": etype, "param": None, "code": None}})

    def v1_entry(self, m: dict) -> dict:
        return {
            "id": m["name"].shortest,
            "object": "model",
            "created": m["mtime_ns"] // 10**9,
            "owned_by": m["name"].namespace,
        }  # owned_by = namespace (§1.10)

    def v1_models(self, h: Handler, req: Request) -> None:
        data = [self.v1_entry(m) for m in self.models()]
        # §1.10: `var data []Model` without omitempty: null, not [], when empty
        self.openai_model_list(h, data or None)

    def v1_model(self, h: Handler, req: Request, model: str) -> None:
        n = parse_ollama_name(model)
        found = self.find(n) if n else None
        if not found:
            self.oai_error(h, 404, f"model '{model}' not found", "not_found_error")
            return
        h.send_json(200, self.v1_entry(self.read_model(*found)), "application/json")

    def v1_chat(self, h: Handler, req: Request) -> None:
        try:
            body = req.json()
        except BadRequest as e:
            self.oai_error(h, 400, str(e), "invalid_request_error")
            return
        status, err, m = self.resolve_for_inference(body.get("model"), body.get("tools"))
        if m is None:
            etype = "not_found_error" if status == 404 else "invalid_request_error"
            self.oai_error(h, status, err, etype)
            return
        self.mark_loaded(m, None)
        self.openai_chat(h, body, body["model"])
