"""Every doctor check, one module per area, registered here in the order `llmctl doctor`
runs and prints them: Docker first, then the host and what runs on it, the user's
settings and files, the network, the disk. A new check: write it in the module of its
area with ``@check(name, description)`` and add it to this list."""

from __future__ import annotations

from llmctl.doctor.checks import (
    containers,
    daemon,
    disk,
    endpoint,
    exposure,
    files,
    gpu,
    model_runner,
    ollama_host,
    ports,
    proxy,
)
from llmctl.doctor.registry import register

register(
    daemon.check_docker_cli,
    daemon.check_daemon,
    daemon.check_engine,
    gpu.check_platform,
    gpu.check_ollama_gpu,
    model_runner.check_model_runner,
    ports.check_ports,
    ollama_host.check_ollama_host,
    containers.check_containers,
    endpoint.check_endpoint,
    files.check_files,
    exposure.check_exposure,
    proxy.check_proxy,
    disk.check_disk,
)
