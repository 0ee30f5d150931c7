"""Small helpers and facts more than one check uses."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from packaging.version import Version

from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.result import SkipCheck
from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.managed import ManagedServer

DESKTOP_MODEL_RUNNER_MIN = Version("4.40")
UNSPECIFIED = ("0.0.0.0", "::", "")  # bind addresses: every interface
VM_KINDS = ("Docker Desktop", "Colima", "OrbStack", "Rancher Desktop")


def version_of(text: str | None) -> Version | None:
    """The release number at the start of a vendor's version string, or None.

    Docker's strings are not all PEP 440 (``28.5.1-rd``, ``4.49.0 (208700)``), and only the
    release number matters against a minimum, so that is what is compared."""
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    return Version(m.group(1)) if m else None


def older_than(text: str | None, minimum: Version) -> bool:
    """``text`` names a version below ``minimum``; one that names none counts as older."""
    version = version_of(text)
    return version is None or version < minimum


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
