"""The fake Ollama's create-from-file routes (reference/real-servers.md "Ollama's
create-from-file API"): ``HEAD/POST /api/blobs/sha256:HEX`` (the body is streamed to disk and
hashed; 400 ``digest mismatch`` as the real server) and ``POST /api/create`` with ``files``:
the GGUF header, metadata and tensor shapes are read for family, parameter count,
quantization, context length and the chat template; ``/api/tags`` then lists the model.

A mixin of OllamaApp (ollama.py), which owns the store it writes to (``root``, ``lock``,
``blob_path``, ``manifest_path``, ``find``) and registers these routes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import uuid
from typing import TYPE_CHECKING, Any

from .base import Request, dumps, sha256_hex
from .gguf import GGUF_FILE_TYPES, gguf_info
from .ollama_registry import OName, parse_ollama_name

if TYPE_CHECKING:
    from .wire import Handler


class OllamaImport:
    """Blob upload and create-from-files for OllamaApp."""

    def blob_head(self, h: Handler, req: Request, digest: str) -> None:
        ok = os.path.exists(self.blob_path(digest.replace("sha256:", "")))
        h.send(200 if ok else 404, b"")

    def streams_body(self, method: str, path: str) -> bool:
        return method == "POST" and path.startswith("/api/blobs/")

    def blob_post(self, h: Handler, req: Request, digest: str) -> None:
        """routes.go CreateBlobHandler: 200 without reading when the blob exists; else the
        body is written to a temporary file while hashed, renamed to its real digest, and
        compared with the URL's (400 "digest mismatch"); 201 when they agree. A body cut
        short leaves nothing (the temporary file is removed)."""
        m = re.fullmatch(r"sha256[:-]([0-9a-fA-F]{64})", digest)
        if not m:
            h.close_connection = True
            h.send_json(400, {"error": "invalid digest format"})
            return
        if os.path.exists(self.blob_path(m.group(1))):
            h.close_connection = True  # the body is not read
            h.send(200, b"")
            return
        bdir = os.path.join(self.root, "blobs")
        os.makedirs(bdir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="sha256-", dir=bdir)
        hasher = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as f:
                for piece in h.body_chunks():
                    hasher.update(piece)
                    f.write(piece)
                    if self.opts["upload_delay"]:
                        self.stop_event.wait(self.opts["upload_delay"])
        except (OSError, ValueError):  # the client went away mid-body
            with contextlib.suppress(OSError):
                os.remove(tmp)
            h.close_connection = True
            return
        got = hasher.hexdigest()
        with self.lock:
            if os.path.exists(self.blob_path(got)):
                os.remove(tmp)
            else:
                os.replace(tmp, self.blob_path(got))
        if "sha256:" + got != digest:
            h.send_json(400, {"error": f'digest mismatch, expected "{digest}", '
                                       f'got "sha256:{got}"'})
            return
        h.send(201, b"")

    def create_model(self, h: Handler, req: Request) -> None:
        """server/create.go CreateHandler for ``files`` (GGUF): checks before streaming
        (400), then NDJSON status lines; the manifest is written last, and not at all once
        the client is gone (the request context is cancelled)."""
        body = req.json()
        files = body.get("files")
        if files is not None and not isinstance(files, dict):
            h.send_json(400, {"error": "json: cannot unmarshal files into map[string]string"})
            return
        for fp, dg in (files or {}).items():
            parts = str(fp).split("/")
            if (fp in ("", ".") or str(fp).startswith("/") or ".." in parts or "" in parts
                    or "\\" in fp or ":" in fp):
                h.send_json(400, {"error": f"file path must be relative: {fp}"})
                return
            if not isinstance(dg, str) or not re.fullmatch(r"sha256[:-][0-9a-fA-F]{64}", dg):
                h.send_json(400, {"error": f"invalid digest for {fp}: invalid digest format"})
                return
        n = parse_ollama_name(body.get("model") or body.get("name"))
        if n is None:
            h.send_json(400, {"error": "invalid model name"})
            return
        lines = self.create_lines(h, n, files or {}, bool(body.get("from")))
        if body.get("stream", True) is False:  # routes.go waitForStream
            last: dict = {}
            for doc in lines:
                if "error" in doc:
                    h.send_json(doc.get("status", 500), {"error": doc["error"]})
                    return
                last = doc
            h.send_json(200, last)
            return
        s = h.stream(200, "application/x-ndjson")
        end = "client gone"  # what became of each streamed create, for tests (create_ends)
        try:
            for doc in lines:
                s.write(dumps(doc) + "\n")
                end = "success" if doc.get("status") == "success" else \
                    ("error" if "error" in doc else end)
                if self.opts["create_delay"]:
                    self.stop_event.wait(self.opts["create_delay"])
            s.close()
        finally:
            self.create_ends.append(end)

    def create_lines(self, h: Handler, n: OName, files: dict, has_from: bool):
        if not files:
            if has_from:
                yield {"error": "llmfake: create FROM a model is not implemented"}
            else:
                yield {"error": "neither 'from' or 'files' was specified", "status": 400}
            return
        yield {"status": "parsing GGUF"}
        layers: list[dict] = []
        info: dict[str, Any] = {}
        for fp in sorted(files):
            hexd = files[fp][7:].lower()
            path = self.blob_path(hexd)
            if not os.path.exists(path):
                yield {"error": f"open {path}: no such file or directory"}
                return
            try:
                info = gguf_info(path)
            except (OSError, ValueError) as e:
                yield {"error": str(e)}
                return
            layers.append({"mediaType": "application/vnd.ollama.image.model",
                           "digest": "sha256:" + hexd, "size": os.path.getsize(path),
                           "from": fp})
            yield {"status": f"using existing layer sha256:{hexd}"}
        meta = info.get("metadata", {})
        arch = str(meta.get("general.architecture") or "")
        template = chat_template_name(meta.get("tokenizer.chat_template"))
        if template:
            yield {"status": f"using autodetected template {template}"}
            data = CHAT_TEMPLATES[template].encode()
            hexd = sha256_hex(data)
            with open(self.blob_path(hexd), "wb") as f:
                f.write(data)
            layers.append({"mediaType": "application/vnd.ollama.image.template",
                           "digest": "sha256:" + hexd, "size": len(data)})
            yield {"status": f"creating new layer sha256:{hexd}"}
        caps = ["completion"]
        if "tools" in str(meta.get("tokenizer.chat_template") or ""):
            caps.append("tools")
        config = {
            "model_format": "gguf",
            "model_family": arch,
            "model_families": [arch] if arch else None,
            "model_type": human_number(int(info.get("parameters") or 0)),
            "file_type": GGUF_FILE_TYPES.get(meta.get("general.file_type"), "unknown"),
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]},
            "llmfake": {"capabilities": caps,
                        "context_length": int(meta.get(f"{arch}.context_length") or 4096)},
        }
        cdata = dumps(config).encode()
        chex = sha256_hex(cdata)
        with open(self.blob_path(chex), "wb") as f:
            f.write(cdata)
        yield {"status": "writing manifest"}
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "digest": "sha256:" + chex, "size": len(cdata)},
            "layers": layers,
        }
        if h.client_gone():  # create.go: ctx.Err() before WriteManifest
            return
        with self.lock:
            old = self.find(n)  # routes.go getExistingName: an existing name keeps its case
            mpath = old[1] if old else self.manifest_path(n)
            os.makedirs(os.path.dirname(mpath), exist_ok=True)
            # beside the manifests tree, not in it: installed() never sees a half file
            tmp = os.path.join(self.root, "manifests", f".tmp-{uuid.uuid4().hex[:6]}")
            with open(tmp, "w") as f:
                f.write(dumps(manifest))
            os.replace(tmp, mpath)
        yield {"status": "success"}


def human_number(n: int) -> str:
    """Ollama format.HumanNumber: 134515008 -> 134.52M, 3212749888 -> 3.2B."""
    for unit, div, prec in (("B", 1e9, 1), ("M", 1e6, 2), ("K", 1e3, 2)):
        if n >= div:
            v = n / div
            return f"{int(v)}{unit}" if v == int(v) else f"{v:.{prec}f}{unit}"
    return str(n)


def chat_template_name(template: Any) -> str | None:
    """The template Ollama's autodetection would name, for the few families tests use."""
    if not isinstance(template, str) or not template:
        return None
    if "<|im_start|>" in template:
        return "chatml"
    if "<|start_header_id|>" in template:
        return "llama3-instruct"
    if "<start_of_turn>" in template:
        return "gemma-instruct"
    return None


CHAT_TEMPLATES = {
    "chatml": "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n",
    "llama3-instruct": "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>"
    "\n\n{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
    "gemma-instruct": "{{- range .Messages }}<start_of_turn>{{ .Role }}\n{{ .Content }}"
    "<end_of_turn>\n{{ end }}<start_of_turn>model\n",
}
