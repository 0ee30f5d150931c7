"""The runner container on Docker Engine: its fixed facts and the spec llmctl runs.

The same facts as `docker model install-runner` (reference/server-apis.md §2.5): image
``docker/model-runner:VERSION[-cuda|-rocm]``, volume ``docker-model-runner-models`` at
``/models``, labels ``com.docker.desktop.service=model-runner`` and
``com.docker.model-runner.role=controller``, published on 127.0.0.1. Pure: no I/O.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from llmctl import __version__
from llmctl.errors import UsageError
from llmctl.plan import (
    LABEL_API,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_PORT,
    LABEL_PROFILE,
    LABEL_VERSION,
    RUNNER_ROLE_LABEL,
    ContainerSpec,
    PortBinding,
    VolumeMount,
    validate_port,
)
from llmctl.urls import MODEL_RUNNER_PORT

if TYPE_CHECKING:
    from llmctl.engine.model import ContainerInfo, Engine, EngineFacts

NAME = "model-runner"  # the target's name: `llmctl up|down model-runner`
DEFAULT_PORT = MODEL_RUNNER_PORT
CONTAINER_PORT = MODEL_RUNNER_PORT  # the image's MODEL_RUNNER_PORT; only the host port moves
CONTAINER_NAME = "docker-model-runner"
VOLUME_NAME = "docker-model-runner-models"
MODELS_PATH = "/models"
IMAGE_REPO = "docker/model-runner"
# v1.2.6: named in the Docker Desktop 4.83.0 release notes (2026-07-20); confirmed there,
# not pulled. Pinned, never latest; the plugin's tags are VERSION[-cuda|-rocm].
IMAGE_VERSION = "v1.2.6"
IMAGE_ENV = "LLMCTL_MODEL_RUNNER_IMAGE"  # tests (and mirrors) replace the image
LABEL_SERVICE = "com.docker.desktop.service"
SERVICE = "model-runner"
LABEL_ROLE = RUNNER_ROLE_LABEL
ROLE_CONTROLLER = "controller"
GPU_CHOICES = ("auto", "none", "cuda", "rocm")
DEFAULT_TIMEOUT = 120.0


def check_options(port: int, gpu: str) -> None:
    """``--tcp`` and ``--gpu``, checked once where a request enters (the target, or
    :class:`~llmctl.targets.model_runner.runner.ModelRunner` called as a library)."""
    validate_port(port, "--tcp")
    if gpu not in GPU_CHOICES:
        raise UsageError(f"--gpu {gpu!r} is not one of {', '.join(GPU_CHOICES)}")


def resolve_gpu(gpu: str, facts: EngineFacts) -> str:
    """none | cuda | rocm, from a checked --gpu (auto: cuda when the engine has the NVIDIA
    runtime)."""
    if gpu == "auto":
        return "cuda" if facts.gpu_runtime else "none"
    return gpu


def runner_image(variant: str) -> str:
    override = os.environ.get(IMAGE_ENV)
    if override:
        return override
    return f"{IMAGE_REPO}:{IMAGE_VERSION}" + ("" if variant == "none" else f"-{variant}")


def plan_runner_container(
    port: int, variant: str, image: str | None = None, gateway: str | None = None
) -> ContainerSpec:
    """The container `docker model install-runner --port PORT` would make, plus llmctl's
    labels. Pure: what `up` applies and what the tests check. Like the plugin, it is also
    published on the docker0 gateway IP (``gateway``, not on rootless engines) so containers
    on the default bridge reach it at http://GATEWAY:PORT (§2.5)."""
    validate_port(port, "--tcp")
    if variant == "rocm":
        raise UsageError(
            "--gpu rocm needs the `docker model` plugin (it passes /dev/kfd and /dev/dri)",
            "Install docker-model-plugin, or use --gpu none or --gpu cuda.",
        )
    labels = {
        LABEL_SERVICE: SERVICE,
        LABEL_ROLE: ROLE_CONTROLLER,
        LABEL_MANAGED: "true",
        LABEL_PROFILE: NAME,
        LABEL_INSTANCE: NAME,
        LABEL_API: "openai",
        LABEL_PORT: str(CONTAINER_PORT),
        LABEL_VERSION: __version__,
    }
    return ContainerSpec(
        name=CONTAINER_NAME, instance=NAME, profile=NAME, api="openai",
        image=image or runner_image(variant), command=(),
        env={"MODEL_RUNNER_PORT": str(CONTAINER_PORT), "MODELS_PATH": MODELS_PATH},
        ports=(PortBinding("127.0.0.1", port, CONTAINER_PORT),
               *([PortBinding(gateway, port, CONTAINER_PORT)] if gateway else [])),
        volumes=(VolumeMount(VOLUME_NAME, MODELS_PATH),),
        gpus=variant == "cuda", labels=labels, restart="always",
    )


def is_runner_container(info: ContainerInfo) -> bool:
    return info.labels.get(LABEL_ROLE) == ROLE_CONTROLLER


def find_runners(engine: Engine) -> list[ContainerInfo]:
    """Runner containers on ``engine`` (llmctl's or the plugin's), by the controller label."""
    return [c for c in engine.list_all() if is_runner_container(c)]


def local_url(port: int) -> str:
    """The runner published on ``port`` of this machine's loopback."""
    return f"http://127.0.0.1:{port}"


def host_port_of(info: ContainerInfo) -> int | None:
    """The host port the runner is reached on from this machine (loopback first)."""
    best = None
    for p in info.ports:
        if p.host_ip in ("127.0.0.1", "0.0.0.0", "::1", "::", ""):
            return p.host_port
        best = best or p.host_port
    return best


def container_endpoint(info: ContainerInfo) -> str:
    """How other containers reach an Engine runner: the bridge gateway binding the plugin
    adds (e.g. http://172.17.0.1:12434); llmctl's own runner is on the `llmctl` network."""
    for p in info.ports:
        if p.host_ip not in ("127.0.0.1", "0.0.0.0", "::1", "::", ""):
            return f"http://{p.host_ip}:{p.host_port}"
    if info.labels.get(LABEL_MANAGED) == "true":
        return f"http://{info.name}:{CONTAINER_PORT}"
    return f"http://172.17.0.1:{host_port_of(info) or DEFAULT_PORT}"
