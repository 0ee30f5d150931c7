"""What llmctl manages: labelled containers seen as LLM servers with endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmctl.engine.model import ContainerInfo
from llmctl.plan import (
    LABEL_API,
    LABEL_INSTANCE,
    LABEL_PORT,
    LABEL_PROFILE,
    LABEL_ROLE,
    LOOPBACK_BINDS,
)

if TYPE_CHECKING:
    from llmctl.engine.model import Engine

UNSPECIFIED = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class ManagedServer:
    instance: str
    profile: str
    api: str  # ollama | openai
    container: str
    state: str
    image: str
    volumes: tuple[str, ...]
    host_ip: str | None
    host_port: int | None
    endpoint: str | None  # for processes on this machine
    endpoint_container: str | None  # for other containers on the llmctl network
    exposed: bool

    @property
    def base_url(self) -> str | None:
        """Where the API lives: OpenAI-kind servers are used through /v1."""
        if not self.endpoint:
            return None
        return self.endpoint + ("/v1" if self.api == "openai" else "")


def endpoint_host(host_ip: str, address_host: str) -> str:
    """The host to reach a published port on. A remote daemon's ports are on its host."""
    if address_host not in ("127.0.0.1", "localhost"):
        return address_host
    if host_ip in UNSPECIFIED or host_ip in LOOPBACK_BINDS:
        return "127.0.0.1" if host_ip != "::1" else "[::1]"
    return f"[{host_ip}]" if ":" in host_ip else host_ip


def server_from(info: ContainerInfo, address_host: str) -> ManagedServer:
    labels = info.labels
    cport = int(labels.get(LABEL_PORT) or 0)
    port = next((p for p in info.ports if p.container_port == cport), None)
    if port is None and info.ports:
        port = info.ports[0]
    endpoint = None
    if port is not None:
        endpoint = f"http://{endpoint_host(port.host_ip, address_host)}:{port.host_port}"
    return ManagedServer(
        instance=labels.get(LABEL_INSTANCE, info.name),
        profile=labels.get(LABEL_PROFILE, "?"),
        api=labels.get(LABEL_API, "openai"),
        container=info.name,
        state=info.state,
        image=info.image,
        volumes=info.volumes,
        host_ip=port.host_ip if port else None,
        host_port=port.host_port if port else None,
        endpoint=endpoint,
        endpoint_container=f"http://{info.name}:{cport}" if cport else None,
        exposed=bool(port and port.host_ip not in LOOPBACK_BINDS),
    )


def list_servers(engine: Engine, **labels: str) -> list[ManagedServer]:
    """The LLM servers llmctl manages (not the proxies `llmctl expose` puts in front)."""
    infos = [i for i in engine.list_managed(**labels) if LABEL_ROLE not in i.labels]
    return sorted((server_from(i, engine.address_host) for i in infos),
                  key=lambda s: (s.profile, s.instance))
