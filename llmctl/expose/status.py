"""What `llmctl status` says about exposure: every proxy `llmctl expose` made, where it
listens, with TLS or not, how old its key is, and whether it authenticates (a request
without the key must get 401)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmctl.expose.plan import (
    LABEL_API_PATH,
    LABEL_KEY_CREATED,
    LABEL_PROXY_FOR,
    LABEL_TLS,
    LABEL_UPSTREAM,
    LABEL_URL_HOST,
)
from llmctl.expose.proxy import ca_path, status_code
from llmctl.plan import LABEL_ROLE, LOOPBACK_BINDS, ROLE_PROXY

if TYPE_CHECKING:
    from llmctl.engine.model import Engine


@dataclass
class ProxyStatus:
    instance: str
    proxy: str
    state: str
    health: str  # ok (401 without a key) | open (answers without a key!) | down | stopped | unknown
    detail: str
    listen: str | None
    exposed: bool
    tls: str
    url: str | None
    image: str
    upstream: str
    upstream_state: str  # the server's container: running, exited, ..., missing
    key_created: str | None
    key_age_s: float | None


@dataclass
class ProxiesStatus:
    """`status`'s section on exposure: every proxy `llmctl expose` made."""

    proxies: list[ProxyStatus]

    def to_dict(self) -> list[dict[str, Any]]:
        return [vars(p) for p in self.proxies]


def status(engine: Engine, *, health_timeout: float = 1.5) -> ProxiesStatus:
    """Every proxy and whether it authenticates: a request without the key must get 401."""
    from datetime import datetime, timezone

    from llmctl.managed import endpoint_host

    found: list[ProxyStatus] = []
    for info in engine.list_managed(**{LABEL_ROLE: ROLE_PROXY}):
        labels = info.labels
        instance = labels.get(LABEL_PROXY_FOR, info.name)
        tls = labels.get(LABEL_TLS, "off")
        port = next(iter(info.ports), None)
        listen = url = None
        exposed = False
        if port is not None:
            where = f"[{port.host_ip}]" if ":" in port.host_ip else port.host_ip
            listen = f"{where}:{port.host_port}"
            exposed = port.host_ip not in LOOPBACK_BINDS
            host = labels.get(LABEL_URL_HOST) or endpoint_host(port.host_ip,
                                                               engine.address_host)
            host = f"[{host}]" if ":" in host and not host.startswith("[") else host
            scheme = "https" if tls == "internal" else "http"
            url = f"{scheme}://{host}:{port.host_port}"
        created = labels.get(LABEL_KEY_CREATED)
        age = None
        if created:
            with contextlib.suppress(ValueError):
                then = datetime.fromisoformat(created)
                age = max(0.0, (datetime.now(timezone.utc) - then).total_seconds())
        upstream = labels.get(LABEL_UPSTREAM, "")
        up = engine.get(upstream) if upstream else None
        found.append(ProxyStatus(
            instance=instance, proxy=info.name, state=info.state, health="unknown",
            detail="", listen=listen, exposed=exposed, tls=tls,
            url=url + labels.get(LABEL_API_PATH, "") if url else None, image=info.image,
            upstream=upstream, upstream_state=up.state if up is not None else "missing",
            key_created=created, key_age_s=age))

    def health(p: ProxyStatus) -> ProxyStatus:
        if p.state != "running":
            return replace(p, health="stopped", detail=p.state)
        if p.url is None:
            return replace(p, health="down", detail="no published port")
        if not engine.target.is_local and not p.exposed:
            return replace(p, detail="published on the remote host's loopback")
        ca = str(ca_path(p.instance)) if p.tls == "internal" else None
        root = p.url.split("/", 3)
        answer = status_code("/".join(root[:3]), None, ca if ca and Path(ca).exists()
                            else None, health_timeout)
        if answer == 401:
            return replace(p, health="ok", detail="401 without the key")
        if isinstance(answer, int):
            return replace(p, health="open", detail=f"answers HTTP {answer} without the key")
        return replace(p, health="down", detail=answer)

    if not found:
        return ProxiesStatus([])
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(found))) as pool:
        checked = list(pool.map(health, found))
    return ProxiesStatus(sorted(checked, key=lambda p: p.instance))


def key_age_text(seconds: float | None) -> str:
    """``3 d``, ``5 h``, ``12 min``, ``40 s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"
