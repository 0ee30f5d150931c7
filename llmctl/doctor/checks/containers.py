"""llmctl's own containers (`containers`): running, answering, their volumes and images
present."""

from __future__ import annotations

from llmctl.doctor.env import DoctorEnv, retry_removed
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, Finding, combine, ok


@check("containers", "llmctl-managed containers are running and answer; volumes and images "
                     "present")
def check_containers(env: DoctorEnv) -> CheckResult:
    engine = env.require_engine()
    from llmctl import lifecycle

    entries = retry_removed(lambda: lifecycle.status(engine,
                                                     health_timeout=env.http_timeout + 0.5))
    if not entries:
        return ok("no llmctl-managed containers (start one with `llmctl up ollama`)",
                  servers=[])
    findings: list[Finding] = []
    rows = []
    for e in entries:
        s = e.server
        label = f"{s.instance} ({s.profile}, container {s.container})"
        rows.append({"instance": s.instance, "container": s.container, "state": s.state,
                     "health": e.health, "detail": e.detail, "endpoint": s.base_url})
        if s.state in ("restarting", "dead"):
            findings.append(Finding("fail", f"{label} is {s.state}: it keeps crashing",
                                    f"See why: `docker logs --tail 50 {s.container}`; then "
                                    f"`llmctl up {s.profile} --name {s.instance} --recreate`."))
        elif e.health == "stopped":
            info = engine.get(s.container) if hasattr(engine, "get") else None
            code = f", exit code {info.exit_code}" if info and info.exit_code is not None \
                else ""
            findings.append(Finding("warn", f"{label} is {s.state}{code}",
                                    f"Start it: `llmctl up {s.profile} --name {s.instance}`."))
        elif e.health == "ok":
            findings.append(Finding("ok", f"{label} answers at {s.base_url}"))
        elif e.health == "down":
            findings.append(Finding("fail", f"{label} runs but does not answer at "
                                            f"{s.endpoint or '(no published port)'}: {e.detail}",
                                    f"See why: `docker logs --tail 50 {s.container}`; then "
                                    f"`llmctl up {s.profile} --name {s.instance} --recreate`."))
        else:
            findings.append(Finding("ok", f"{label}: {e.health} ({e.detail})"))
        if s.state == "removing":
            continue
        for vol in s.volumes:
            if engine.volume_labels(vol) is None:
                findings.append(Finding("fail", f"{label}: its volume {vol} is missing",
                                        f"`llmctl up {s.profile} --name {s.instance} "
                                        "--recreate` creates it (models must be pulled again)."))
        if s.image and not engine.image_present(s.image):
            findings.append(Finding("warn", f"{label}: its image {s.image} is no longer present "
                                            "locally (a recreate would pull it)",
                                    f"`docker pull {s.image}`."))
    return combine(findings, servers=rows)


