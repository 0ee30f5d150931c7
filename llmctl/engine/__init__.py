"""The Docker engine: the only package that imports `docker`.

``connect()`` resolves the daemon the way the docker CLI does and returns an
:class:`~llmctl.engine.model.Engine` that applies container specs, pulls images and lists
what llmctl owns (by label). ``docker_cli`` runs the docker CLI against the same daemon.
"""

from llmctl.engine.connect import connect, resolve_target
from llmctl.engine.model import ContainerInfo, DaemonTarget, Engine, EngineFacts

__all__ = [
    "ContainerInfo",
    "DaemonTarget",
    "Engine",
    "EngineFacts",
    "connect",
    "resolve_target",
]
