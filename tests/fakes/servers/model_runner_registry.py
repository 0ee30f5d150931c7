"""What the fake Model Runner pulls from, standing in for Docker Hub's ``ai/`` models: model
references as the runner normalizes them (distribution/client.go normalizeModelName,
reference/server-apis.md §2.2) and the catalogue of pullable models.

Catalogue: ``ai/smollm2:latest`` (the same artifact as ``ai/smollm2:360M-Q4_K_M``),
``ai/qwen3:0.6B-Q4_0``, ``ai/gemma3:latest``, ``ai/llama3.2:latest``,
``ai/mxbai-embed-large:latest`` (embedding), and the test-control models
``llmfake/{stall,drop,nosuccess,error}:latest``; the server adds the ``models`` option's
names. Layers are a few KB..2 MB.
"""

from __future__ import annotations

import re
from typing import Any

from .base import CONTROL_MODELS

_DMR_COMP = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DMR_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"  # noqa: E501
_DMR_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DMR_HEXID = re.compile(r"(?:sha256:)?([0-9a-f]{64}|[0-9a-f]{12})")


def dmr_normalize(raw: Any) -> str | None:
    """distribution/client.go normalizeModelName (§2.2); returns "repo:tag" or
    "sha256:<hex>" for ID references, None when invalid."""
    if not isinstance(raw, str):
        return None
    s = raw.strip()
    if not s:
        return None
    if _DMR_HEXID.fullmatch(s):
        return "sha256:" + _DMR_HEXID.fullmatch(s).group(1)
    if s.startswith("hf.co/"):
        s = "huggingface.co/" + s[len("hf.co/") :]
    s = s.split("@", 1)[0]
    name, tag = s, "latest"
    i, j = s.rfind(":"), s.rfind("/")
    if i > j:
        name, tag = s[:i], s[i + 1 :]
    name = name.lower()  # the name part is lower-cased, the tag is not
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if "/" not in name:
        name = "ai/" + name
    parts = name.split("/")
    first = parts[0]
    if "." in first or ":" in first or first == "localhost":
        if not re.fullmatch(_DMR_DOMAIN, first):
            return None
        parts = parts[1:]
    if not parts or not all(re.fullmatch(_DMR_COMP, p) for p in parts):
        return None
    if len(name) > 255 or not _DMR_TAG.fullmatch(tag):
        return None
    return f"{name}:{tag}"


# normalized name -> artifact key, config strings, parameter bytes, mode
DMR_CATALOGUE: dict[str, dict[str, Any]] = {
    "ai/smollm2:latest": dict(
        artifact="smollm2-360m-q4km",
        arch="llama",
        params="361.82 M",
        quant="IQ2_XXS/Q4_K_M",
        size=1 << 20,
        ctx=8192,
    ),
    "ai/smollm2:360M-Q4_K_M": dict(
        artifact="smollm2-360m-q4km",
        arch="llama",
        params="361.82 M",
        quant="IQ2_XXS/Q4_K_M",
        size=1 << 20,
        ctx=8192,
    ),
    "ai/qwen3:0.6B-Q4_0": dict(
        artifact="qwen3-0.6b-q40",
        arch="qwen3",
        params="751.63 M",
        quant="Q4_0",
        size=512 << 10,
        ctx=40960,
    ),
    "ai/gemma3:latest": dict(
        artifact="gemma3-4b",
        arch="gemma3",
        params="3.88 B",
        quant="IQ2_XXS/Q4_K_M",
        size=2 << 20,
        ctx=131072,
    ),
    "ai/llama3.2:latest": dict(
        artifact="llama3.2-3b",
        arch="llama",
        params="3.21 B",
        quant="IQ2_XXS/Q4_K_M",
        size=2 << 20,
        ctx=131072,
    ),
    "ai/mxbai-embed-large:latest": dict(
        artifact="mxbai",
        arch="bert",
        params="334.09 M",
        quant="F16",
        size=256 << 10,
        ctx=512,
        mode="embedding",
    ),
}
for _c in CONTROL_MODELS:
    DMR_CATALOGUE[f"llmfake/{_c}:latest"] = dict(
        artifact=f"control-{_c}",
        arch="llama",
        params="1.00 M",
        quant="Q4_0",
        size=64 << 10,
        ctx=2048,
        control=_c,
    )
