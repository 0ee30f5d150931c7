"""The Docker engine: the only package that imports `docker`.

``connect()`` resolves the daemon the way the docker CLI does and returns an :class:`Engine`
that applies container specs, pulls images and lists what llmctl owns (by label).
"""

from llmctl.engine.connect import DaemonTarget, connect, resolve_target
from llmctl.engine.model import ContainerInfo, EngineFacts, PortHolder

__all__ = [
    "ContainerInfo",
    "DaemonTarget",
    "EngineFacts",
    "PortHolder",
    "connect",
    "resolve_target",
]
