"""Exposure (`exposure`): no LLM server published on 0.0.0.0 or :: (an unauthenticated API
on the network; Docker-published ports bypass host firewalls)."""

from __future__ import annotations

import re
from typing import Any

from llmctl.doctor.checks.common import UNSPECIFIED
from llmctl.doctor.env import OLLAMA_PORT, RUNNER_PORT, DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, Finding, combine, ok

LLM_IMAGE_RE = re.compile(
    r"ollama|vllm|llama[.-]?cpp|text-generation-inference|localai|model-runner|sglang|"
    r"lmdeploy|llmfake",
    re.IGNORECASE,
)
LLM_CONTAINER_PORTS = (OLLAMA_PORT, RUNNER_PORT)


@check("exposure", "no LLM server published on 0.0.0.0 or :: (unauthenticated, firewalls "
                   "bypassed)")
def check_exposure(env: DoctorEnv) -> CheckResult:
    env.require_engine()
    published = env.published()
    exposed: list[dict[str, Any]] = []
    findings: list[Finding] = []
    seen: set[tuple[str, int]] = set()
    for c, p in published:
        if p.host_ip not in UNSPECIFIED or (c.name, p.host_port) in seen:
            continue
        managed = c.labels.get("io.llmctl.managed") == "true"
        if not (managed or LLM_IMAGE_RE.search(c.image) or p.container_port in
                LLM_CONTAINER_PORTS):
            continue
        seen.add((c.name, p.host_port))
        ips = sorted({q.host_ip or "0.0.0.0" for q in c.ports if q.host_port == p.host_port})
        exposed.append({"container": c.name, "image": c.image, "host_ips": ips,
                        "host_port": p.host_port, "container_port": p.container_port,
                        "managed": managed})
        what = (f"{c.name} ({'llmctl' if managed else 'not llmctl'}, {c.image}) publishes "
                f"{'/'.join(_bind(ip) for ip in ips)}:{p.host_port}: an unauthenticated LLM "
                "API reachable from the network, and Docker-published ports bypass host "
                "firewalls (UFW, firewalld)")
        if managed:
            inst = c.labels.get("io.llmctl.instance", c.name)
            profile = c.labels.get("io.llmctl.profile", "PROFILE")
            fix = (f"Publish it on loopback only: `llmctl up {profile} --name {inst} "
                   f"--port {p.host_port} --recreate` (binds 127.0.0.1 by default).")
        else:
            fix = (f"Re-create it on loopback: `docker rm -f {c.name}`, then run it again "
                   f"with `-p 127.0.0.1:{p.host_port}:{p.container_port}`.")
        findings.append(Finding("warn", what, fix))
    if not findings:
        where = "" if env.is_local else f" (ports on {env.address_host})"
        return ok(f"no LLM server published beyond loopback{where}", exposed=[])
    return combine(findings, exposed=exposed)


def _bind(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip or "0.0.0.0"


