"""What ``docker model package`` sends to the fake Model Runner (cmd/cli/desktop LoadModel,
Tag): ``POST /models/load`` with the tar archive the package command streams
(``blobs/sha256/<hex>`` + ``manifest.json``) and ``POST /models/{name}/tag?repo=&tag=``.

A mixin of ModelRunnerApp (model_runner.py), which owns the index and blobs these write to
(``root``, ``lock``, ``load_index``, ``save_index``, ``find``) and registers the routes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from typing import TYPE_CHECKING, Any

from .base import Request, sha256_hex
from .model_runner_registry import dmr_normalize

if TYPE_CHECKING:
    from .wire import Handler


class ModelRunnerImport:
    """Model loading and tagging for ModelRunnerApp."""

    def streams_body(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/models/load"

    def load_model(self, h: Handler, req: Request) -> None:
        """``POST /models/load`` with the tar archive the package command streams
        (pkg/distribution/tarball: ``blobs/sha256/<hex>`` for each layer and the config,
        then ``manifest.json``). The model is stored untagged under the id sha256(manifest);
        blobs are checked against their names. A broken stream stores nothing."""
        import io
        import tarfile

        chunks = h.body_chunks()
        delay = self.opts["upload_delay"]

        class Body(io.RawIOBase):
            pending = b""

            def readable(self) -> bool:
                return True

            def readinto(self, b: Any) -> int:
                while not self.pending:
                    try:
                        self.pending = next(chunks)
                    except StopIteration:
                        return 0
                    if delay:
                        app.stop_event.wait(delay)
                n = min(len(b), len(self.pending))
                b[:n] = self.pending[:n]
                self.pending = self.pending[n:]
                return n

        app = self
        bdir = os.path.join(self.root, "blobs", "sha256")
        os.makedirs(bdir, exist_ok=True)
        written: list[str] = []
        manifest_raw = b""
        try:
            with tarfile.open(fileobj=io.BufferedReader(Body(), 1 << 20), mode="r|") as tf:
                for member in tf:
                    if not member.isfile():
                        continue
                    src = tf.extractfile(member)
                    assert src is not None
                    if member.name == "manifest.json":
                        manifest_raw = src.read()
                        continue
                    hexd = member.name.rsplit("/", 1)[-1]
                    if not re.fullmatch(r"[0-9a-f]{64}", hexd):
                        raise ValueError(f"unexpected archive entry {member.name!r}")
                    fd, tmp = tempfile.mkstemp(prefix=".load-", dir=bdir)
                    hasher = hashlib.sha256()
                    with os.fdopen(fd, "wb") as out:
                        while piece := src.read(1 << 20):
                            hasher.update(piece)
                            out.write(piece)
                    if hasher.hexdigest() != hexd:
                        os.remove(tmp)
                        raise ValueError(f"blob {hexd[:12]} does not match its digest")
                    os.replace(tmp, os.path.join(bdir, hexd))
                    written.append(hexd)
        except (OSError, ValueError, EOFError, tarfile.TarError) as e:
            for name in os.listdir(bdir):
                if name.startswith(".load-"):
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(bdir, name))
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.go_error(400, f"invalid model archive: {e}")
            return
        try:
            man = json.loads(manifest_raw)
            with open(os.path.join(bdir, man["config"]["digest"][7:]), "rb") as f:
                cfg = json.load(f).get("config", {})
        except (OSError, ValueError, KeyError, TypeError):
            h.go_error(400, "invalid model archive: no manifest.json or config")
            return
        model_id = "sha256:" + sha256_hex(manifest_raw)
        with self.lock:
            idx = self.load_index()
            if not any(m["id"] == model_id for m in idx):
                idx.append({
                    "id": model_id,
                    "tags": [],
                    "created": int(time.time()),
                    "files": [x["digest"] for x in man.get("layers", [])]
                    + [man["config"]["digest"]],
                    "config": {k: cfg[k] for k in ("format", "quantization", "parameters",
                                                   "architecture", "size", "context_size")
                               if k in cfg},
                })
                self.save_index(idx)
        h.send_json(200, {"id": model_id}, "application/json")

    def tag_model(self, h: Handler, req: Request, name: str) -> None:
        """``POST /models/{name}/tag?repo=R&tag=T`` -> 201 {"message","target"} (§2.1)."""
        repo = (req.query.get("repo") or [""])[0]
        tag = (req.query.get("tag") or ["latest"])[0] or "latest"
        target = dmr_normalize(f"{repo}:{tag}") if repo else None
        if target is None:
            h.go_error(400, "invalid tag")
            return
        with self.lock:
            m = self.find(name)
            if not m:
                h.go_error(404, "model not found")
                return
            idx = self.load_index()
            for x in idx:  # a tag moves to the model it now names
                if target in x["tags"]:
                    x["tags"].remove(target)
                if x["id"] == m["id"]:
                    x["tags"].append(target)
            self.save_index(idx)
        h.send_json(201, {"message": "Model tagged successfully", "target": target},
                    "application/json")
