"""Small helpers and facts more than one check uses."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.result import SkipCheck
from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.managed import ManagedServer

DESKTOP_MODEL_RUNNER_MIN = (4, 40)
UNSPECIFIED = ("0.0.0.0", "::", "")  # bind addresses: every interface
VM_KINDS = ("Docker Desktop", "Colima", "OrbStack", "Rancher Desktop")


def version_tuple(text: str) -> tuple[int, ...]:
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()


def gb(n: float) -> str:
    return f"{n / 1024**3:.1f} GB"


def first_line(text: str) -> str:
    return next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")


def url_of(host: str, port: int, scheme: str = "http") -> str:
    host = host.strip("[]")
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def is_loopback(host: str) -> bool:
    from llmctl.backends.http import is_loopback_host

    return is_loopback_host(host)


def running_ollamas(env: DoctorEnv) -> list[ManagedServer]:
    try:
        servers = env.servers()
    except (SkipCheck, LlmctlError):
        return []
    return [s for s in servers if s.api == "ollama" and s.state == "running" and s.host_port]
