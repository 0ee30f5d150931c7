"""The fake LLM servers, one module per kind (each says what it stands in for), on a shared
base (base.py: helpers and ``App``; wire.py: the HTTP handler and server).

``APPS`` maps a kind to its application class, in the order ``KINDS`` lists them. Standard
library only. The modules import each other relatively, so the package works both as
``tests.fakes.servers`` (in-process, under pytest) and as ``servers`` beside ``llmfake.py``
when that runs as a script (the image, the fake docker plugins, the benchmarks).
"""

from __future__ import annotations

from .base import App
from .llamacpp import LlamaCppApp
from .localai import LocalAIApp
from .model_runner import ModelRunnerApp
from .ollama import OllamaApp
from .openai import OpenAIApp
from .tgi import TgiApp
from .vllm import VllmApp

APPS: dict[str, type[App]] = {
    "ollama": OllamaApp,
    "model-runner": ModelRunnerApp,
    "vllm": VllmApp,
    "llamacpp": LlamaCppApp,
    "tgi": TgiApp,
    "localai": LocalAIApp,
    "openai": OpenAIApp,
}
KINDS = tuple(APPS)
