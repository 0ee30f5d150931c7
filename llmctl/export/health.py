"""Health in an export, from the profile's readiness (route, time allowed).

Compose runs a healthcheck *inside* the container, so it needs a command the image has:
Ollama's image has no curl (``ollama list`` asks the server instead), vLLM's and TGI's are
Python servers (``python3`` is there), llama.cpp's, LocalAI's and Model Runner's images run
``curl`` in their own HEALTHCHECK or documented Compose files. An image llmctl does not know
(``--image`` of another repository, a user profile) gets no healthcheck, and the export says
so. Kubernetes asks over HTTP (``httpGet``): no tool in the image is needed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from llmctl.export.images import repository

if TYPE_CHECKING:
    from llmctl.export.model import Service

# image repository -> how to ask from inside the container
TOOLS = {
    "ollama/ollama": "ollama",
    "ghcr.io/ggml-org/llama.cpp": "curl",
    "localai/localai": "curl",
    "docker/model-runner": "curl",
    "vllm/vllm-openai": "python3",
    "ghcr.io/huggingface/text-generation-inference": "python3",
}
# A route cheaper than readiness for liveness, where the server has one
# (reference/server-apis.md §1.2, §5); the others reuse the readiness route.
LIVENESS_PATHS = {"ollama": "/api/version", "localai": "/healthz"}
INTERVAL = 30  # seconds between checks once started
TIMEOUT = 5
RETRIES = 3
STARTUP_PERIOD = 10  # Kubernetes' startupProbe: every 10 s until the model is loaded


def _url(service: Service) -> str:
    return f"http://127.0.0.1:{service.container_port}{service.workload.readiness.path}"


def health_command(service: Service) -> list[str] | None:
    """The healthcheck command for the service's image, or None when llmctl does not know
    which tools it has."""
    tool = TOOLS.get(repository(service.spec.image))
    if tool == "ollama":
        return ["CMD", "ollama", "list"]  # no curl in the image; the CLI asks the server
    if tool == "curl":
        return ["CMD", "curl", "-fsS", "-o", "/dev/null", _url(service)]
    if tool == "python3":
        # urlopen raises (exit 1) on a refused connection and on any HTTP error status.
        return ["CMD", "python3", "-c",
                f"import urllib.request; urllib.request.urlopen('{_url(service)}', "
                f"timeout={TIMEOUT - 1})"]
    return None


def compose_healthcheck(service: Service) -> tuple[dict[str, Any] | None, str | None]:
    """(the service's ``healthcheck``, or None and why there is none)."""
    command = health_command(service)
    if command is None:
        r = service.workload.readiness
        return None, (f"{service.name}: no healthcheck: llmctl does not know which tools the "
                      f"image {service.spec.image} has; its readiness route is GET "
                      f"{r.path} (add a `healthcheck:` with a command the image has)")
    return {
        "test": command,
        "interval": f"{INTERVAL}s",
        "timeout": f"{TIMEOUT}s",
        "retries": RETRIES,
        # Loading a model may take the profile's whole readiness time.
        "start_period": f"{math.ceil(service.workload.readiness.timeout)}s",
    }, None


def _http_get(path: str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}}


def kube_probes(service: Service) -> tuple[dict[str, Any], list[str]]:
    """startupProbe (as long as the profile's readiness time, for model loading),
    readinessProbe (the profile's route), livenessProbe (a cheap route); and what an HTTP
    probe cannot check."""
    r = service.workload.readiness
    live = LIVENESS_PATHS.get(service.kind, r.path)
    probes = {
        "startupProbe": {**_http_get(r.path), "periodSeconds": STARTUP_PERIOD,
                         "timeoutSeconds": TIMEOUT,
                         "failureThreshold": max(3, math.ceil(r.timeout / STARTUP_PERIOD))},
        "readinessProbe": {**_http_get(r.path), "periodSeconds": 10,
                           "timeoutSeconds": TIMEOUT, "failureThreshold": RETRIES},
        "livenessProbe": {**_http_get(live), "periodSeconds": INTERVAL,
                          "timeoutSeconds": TIMEOUT, "failureThreshold": RETRIES},
    }
    notes = []
    if r.status != 200:
        notes.append(f"{service.name}: readiness expects HTTP {r.status}; a Kubernetes "
                     "probe takes any status from 200 to 399")
    if r.contains:
        notes.append(f"{service.name}: the probes check the status of GET {r.path}, not that "
                     f"it says {r.contains!r} (Kubernetes' httpGet reads no body)")
    if r.models != "none" and service.workload.models:
        notes.append(f"{service.name}: the probes do not check that {r.models_path} lists "
                     f"{', '.join(service.workload.models)} (`llmctl up` does)")
    return probes, notes
