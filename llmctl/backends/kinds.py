"""The kinds of LLM server llmctl tells apart, in the order their fingerprints are tried, and
their names in sentences. Each kind lives next to its backend; see
:mod:`llmctl.backends.fingerprint` for how their signs are weighed.
"""

from __future__ import annotations

from llmctl.backends import ollama, runner_status
from llmctl.backends.fingerprint import ServerKind
from llmctl.backends.openai_servers import LLAMACPP, LOCALAI, OPENAI_COMPATIBLE, TGI, VLLM

# The order only breaks ties between equally telling signs: a page naming two servers names
# the first, a model list owned by both "vllm" and "docker" is vLLM's, an unnamed OpenAI
# model list is LocalAI's before it is a plain OpenAI-compatible server's.
KINDS: tuple[ServerKind, ...] = (
    ollama.SERVER,
    VLLM,
    LLAMACPP,
    runner_status.SERVER,
    TGI,
    LOCALAI,
    OPENAI_COMPATIBLE,
)
BY_NAME = {k.name: k for k in KINDS}
SERVER_NAMES = {k.name: k.title for k in KINDS}


def server_phrase(server: str | None) -> str:
    """``an Ollama server``, ``a vLLM server``, ``a Docker Model Runner``: for sentences."""
    name = SERVER_NAMES.get(server or "", server or "unknown")
    if not name.endswith(("server", "Runner")):
        name += " server"
    return ("an " if name[0].lower() in "aeiou" else "a ") + name
