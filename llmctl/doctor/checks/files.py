"""llmctl's own files (`files`): the config folder, the endpoint file and its lock, the
profiles folder: yours, readable and writable (a `sudo llmctl ...` can leave them to root)."""

from __future__ import annotations

import os
from pathlib import Path

from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, Finding, combine, ok


@check("files", "llmctl's own files (config folder, endpoint file and its lock, profiles "
                "folder): yours, readable and writable")
def check_files(env: DoctorEnv) -> CheckResult:
    """After a `sudo llmctl ...` the config folder or the lock can belong to root: every
    later write fails. Says which file, who owns it, and the chown that fixes it."""
    from llmctl import files
    from llmctl.endpoint import endpoints_path
    from llmctl.profiles import config_dir

    folder, path = config_dir(), endpoints_path()
    items = [(folder, False), (folder / "profiles", False), (path.parent, False),
             (path, False), (Path(f"{path}.lock"), True)]
    findings: list[Finding] = []
    seen: set[str] = set()
    for item, lock in items:
        if not (os.path.lexists(item) or item in (folder, path)):
            continue
        problem = files.access_problem(item, lock=lock)
        if problem is not None and problem.message not in seen:
            seen.add(problem.message)
            findings.append(Finding("fail", problem.message, problem.hint))
    data = {"config_dir": str(folder), "endpoints_file": str(path)}
    if findings:
        return combine(findings, **data)
    stale = files.stale_temps(path)
    if stale:
        return ok(f"{folder} and {path} are yours and writable; {len(stale)} temp file(s) left "
                  "by an interrupted write, removed by the next write", **data,
                  stale_temp_files=[str(p) for p in stale])
    return ok(f"{folder} and {path} are yours and writable", **data)

