"""Disk (`disk`): free space where Docker keeps images and volumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmctl.doctor.checks.common import VM_KINDS, gb
from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, ok, skip, warn

DISK_WARN_BYTES = 10 * 1024**3


@check("disk", "free space where Docker keeps images and volumes (warn under 10 GB)")
def check_disk(env: DoctorEnv) -> CheckResult:
    env.require_engine()
    info, _ = env.docs()
    facts = env.facts()
    root = str(info.get("DockerRootDir") or "/var/lib/docker")
    data: dict[str, Any] = {"docker_root_dir": root}
    if not env.is_local:
        return skip(f"Docker keeps its data at {root} on the remote host {env.address_host}; "
                    "its free space cannot be read from here",
                    "On that host: `df -h " + root + "`; `docker system df` shows what Docker "
                    "uses.", **data)
    if facts.kind in VM_KINDS or not env.host_os.startswith("linux"):
        tip = {"Docker Desktop": "Docker Desktop: Settings > Resources > Advanced > Disk usage "
                                 "limit",
               "Colima": "Colima: `colima start --disk SIZE`"}.get(facts.kind, "the VM settings")
        return skip(f"Docker keeps its data at {root} inside the {env.kind()} VM; its free "
                    "space cannot be read from here",
                    f"`docker system df` shows what Docker uses; to grow the disk: {tip}.",
                    **data)
    path = Path(root)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        usage = env.disk_usage(str(path))
    except OSError as exc:
        return skip(f"cannot read free space at {root}: {exc.strerror or exc}", **data)
    data.update(free_bytes=int(usage.free), total_bytes=int(usage.total), path=str(path))
    found = f"{gb(usage.free)} free of {gb(usage.total)} at {root}"
    if usage.free < DISK_WARN_BYTES:
        return warn(found + " (under 10 GB: image and model pulls may fail)",
                    "See what uses it: `docker system df`; free unused images and build cache: "
                    "`docker image prune -a` and `docker builder prune`.", **data)
    return ok(found, **data)
