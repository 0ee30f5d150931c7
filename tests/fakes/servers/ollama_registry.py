"""What the fake Ollama pulls from, standing in for registry.ollama.ai: model names as
Ollama parses them (types/model/name.go, reference/server-apis.md §1.11), the catalogue of
pullable models and their deterministic layers.

Catalogue: ``tinyllama:latest`` (completion), ``qwen2.5:0.5b`` (completion, tools),
``llama3.2:latest`` (completion, tools), ``smollm2:135m`` (completion, tools), ``qwen3:0.6b``
(completion, tools, thinking), ``nomic-embed-text:latest`` (embedding only), and the
test-control models ``llmfake/{stall,drop,nosuccess,error}:latest``; the server adds the
``models`` option's names (completion). Layers are a few KB..2 MB.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .base import CONTROL_MODELS, Layer, blob_content, dumps, revision_seed, sha256_hex


class OName(NamedTuple):
    host: str
    namespace: str
    model: str
    tag: str

    @property
    def shortest(self) -> str:
        """DisplayShortest: drops the default host and library/, keeps the tag (§1.11)."""
        if self.host.lower() == "registry.ollama.ai":
            if self.namespace.lower() == "library":
                return f"{self.model}:{self.tag}"
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def full(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def key(self) -> str:
        return self.full.lower()  # comparison is case-insensitive (§1.11)


_O_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}")
_O_NS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_O_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")


def parse_ollama_name(raw: Any) -> OName | None:
    """types/model/name.go ParseName + IsValid (§1.11); None when invalid."""
    if not isinstance(raw, str) or not raw:
        return None
    s = raw.split("://", 1)[1] if "://" in raw else raw
    s = s.split("@", 1)[0]
    tag = "latest"
    i, j = s.rfind(":"), s.rfind("/")
    if i > j:  # ':' is the tag separator only after the last '/'
        s, tag = s[:i], s[i + 1 :]
    parts = s.split("/")
    if len(parts) > 3:
        return None
    model = parts[-1]
    ns = parts[-2] if len(parts) >= 2 else "library"
    host = parts[-3] if len(parts) == 3 else "registry.ollama.ai"
    if not (
        _O_HOST.fullmatch(host)
        and _O_NS.fullmatch(ns)
        and _O_PART.fullmatch(model)
        and _O_PART.fullmatch(tag)
    ):
        return None
    return OName(host, ns, model, tag)


# name -> family, parameter size, quantization, capabilities, model layer bytes, context length
OLLAMA_CATALOGUE: dict[str, dict[str, Any]] = {
    "tinyllama:latest": dict(
        family="llama", params="1B", quant="Q4_0", caps=["completion"], size=1 << 20, ctx=2048
    ),
    "qwen2.5:0.5b": dict(
        family="qwen2",
        params="494.03M",
        quant="Q4_K_M",
        caps=["completion", "tools"],
        size=512 << 10,
        ctx=32768,
    ),
    "llama3.2:latest": dict(
        family="llama",
        params="3.2B",
        quant="Q4_K_M",
        caps=["completion", "tools"],
        size=2 << 20,
        ctx=131072,
    ),
    "smollm2:135m": dict(
        family="llama",
        params="134.52M",
        quant="F16",
        caps=["completion", "tools"],
        size=128 << 10,
        ctx=8192,
    ),
    "qwen3:0.6b": dict(
        family="qwen3",
        params="751.63M",
        quant="Q4_K_M",
        caps=["completion", "tools", "thinking"],
        size=256 << 10,
        ctx=40960,
    ),
    "nomic-embed-text:latest": dict(
        family="nomic-bert", params="137M", quant="F16", caps=["embedding"], size=64 << 10, ctx=2048
    ),
}
for _c in CONTROL_MODELS:
    OLLAMA_CATALOGUE[f"llmfake/{_c}:latest"] = dict(
        family="llama",
        params="1M",
        quant="Q4_0",
        caps=["completion"],
        size=64 << 10,
        ctx=2048,
        control=_c,
    )


def ollama_layers(name: OName, spec: dict, revision: int = 1) -> list[Layer]:
    """Deterministic layers (model, template, license, params, then config last); another
    ``revision`` has other model bytes (a re-push under the same name)."""
    seed = revision_seed(name.key, revision)
    raw = [
        ("application/vnd.ollama.image.model", blob_content("GGUF " + seed, spec["size"])),
        ("application/vnd.ollama.image.template", b"{{ .System }}\n{{ .Prompt }}"),
        ("application/vnd.ollama.image.license", blob_content("LICENSE " + seed, 1100)),
        ("application/vnd.ollama.image.params", dumps({"stop": ["<|eot_id|>"]}).encode()),
    ]
    layers = [Layer(mt, d, sha256_hex(d)) for mt, d in raw]
    config = {
        "model_format": "gguf",
        "model_family": spec["family"],
        "model_families": [spec["family"]],
        "model_type": spec["params"],
        "file_type": spec["quant"],
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [x.digest for x in layers]},
        # llmfake extension so a restarted fake knows capabilities without its catalogue
        "llmfake": {"capabilities": spec["caps"], "context_length": spec["ctx"]},
    }
    cdata = dumps(config).encode()
    layers.append(Layer("application/vnd.docker.container.image.v1+json", cdata, sha256_hex(cdata)))
    return layers
