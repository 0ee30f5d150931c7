"""Exposure (`exposure`): no LLM server published beyond loopback without an authenticating
proxy in front. An LLM port on 0.0.0.0 or :: (or any other address but loopback) is an
unauthenticated API on the network, and Docker-published ports bypass host firewalls: a
failure, fixed by `llmctl expose`. llmctl's own proxy (`llmctl expose`) published there is
the protected way in: ok. A proxy whose server is gone is a warning."""

from __future__ import annotations

import re
from typing import Any

from llmctl.doctor.env import OLLAMA_PORT, RUNNER_PORT, DoctorEnv, retry_removed
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, Finding, combine, ok

LLM_IMAGE_RE = re.compile(
    r"ollama|vllm|llama[.-]?cpp|text-generation-inference|localai|model-runner|sglang|"
    r"lmdeploy|llmfake",
    re.IGNORECASE,
)
LLM_CONTAINER_PORTS = (OLLAMA_PORT, RUNNER_PORT)
LOOPBACK = ("127.0.0.1", "::1")
LABEL_ROLE = "io.llmctl.role"  # llmctl.plan: "proxy" on `llmctl expose`'s proxies


@check("exposure", "no LLM server published beyond loopback without an authenticating proxy "
                   "(`llmctl expose`)")
def check_exposure(env: DoctorEnv) -> CheckResult:
    engine = env.require_engine()
    published = env.published()
    exposed: list[dict[str, Any]] = []
    protected: list[dict[str, Any]] = []
    findings: list[Finding] = []
    seen: set[tuple[str, int]] = set()
    for c, p in published:
        if _loopback(p.host_ip) or (c.name, p.host_port) in seen:
            continue
        managed = c.labels.get("io.llmctl.managed") == "true"
        ips = sorted({q.host_ip or "0.0.0.0" for q in c.ports if q.host_port == p.host_port})
        where = f"{'/'.join(_bind(ip) for ip in ips)}:{p.host_port}"
        if managed and c.labels.get(LABEL_ROLE) == "proxy":
            seen.add((c.name, p.host_port))
            inst = c.labels.get("io.llmctl.proxy-for", c.name)
            tls = c.labels.get("io.llmctl.tls", "off")
            protected.append({"container": c.name, "instance": inst, "host_ips": ips,
                              "host_port": p.host_port, "tls": tls})
            clear = "" if tls == "internal" else " (TLS off: the key travels in clear)"
            findings.append(Finding("ok", f"{inst} is exposed on {where} through llmctl's "
                                          f"authenticating proxy {c.name}{clear}"))
            continue
        if not (managed or LLM_IMAGE_RE.search(c.image) or p.container_port in
                LLM_CONTAINER_PORTS):
            continue
        seen.add((c.name, p.host_port))
        exposed.append({"container": c.name, "image": c.image, "host_ips": ips,
                        "host_port": p.host_port, "container_port": p.container_port,
                        "managed": managed})
        what = (f"{c.name} ({'llmctl' if managed else 'not llmctl'}, {c.image}) publishes "
                f"{where} with no authentication: an LLM API anyone on the network can use, "
                "and Docker-published ports bypass host firewalls (UFW, firewalld)")
        if managed:
            inst = c.labels.get("io.llmctl.instance", c.name)
            profile = c.labels.get("io.llmctl.profile", "PROFILE")
            fix = (f"Publish it on loopback (`llmctl up {profile} --name {inst} --port "
                   f"{p.host_port} --recreate`), then put the authenticating proxy in front: "
                   f"`llmctl expose {inst} --listen {_bind(ips[0])}:PORT --tls internal`.")
        else:
            fix = (f"Re-create it on loopback (`docker rm -f {c.name}`, then run it again with "
                   f"`-p 127.0.0.1:{p.host_port}:{p.container_port}`) and put an "
                   "authenticating proxy in front (`llmctl expose` does this for the servers "
                   "llmctl runs).")
        findings.append(Finding("fail", what, fix))
    findings += _orphans(engine)
    where = "" if env.is_local else f" (ports on {env.address_host})"
    if not findings:
        return ok(f"no LLM server published beyond loopback{where}", exposed=[],
                  protected=[])
    return combine(findings, exposed=exposed, protected=protected)


def _orphans(engine: Any) -> list[Finding]:
    """llmctl's proxies whose server is gone (removed by hand): they answer 502 to anyone
    with the key, and hold a port."""
    found = []
    proxies = retry_removed(lambda: engine.list_managed(**{LABEL_ROLE: "proxy"}))
    for c in proxies:
        upstream = c.labels.get("io.llmctl.upstream")
        if upstream and engine.get(upstream) is None:
            inst = c.labels.get("io.llmctl.proxy-for", c.name)
            found.append(Finding("warn", f"llmctl's proxy {c.name} is in front of {upstream}, "
                                         "which no longer exists",
                                 f"Remove it: `llmctl unexpose {inst}`."))
    return found


def _loopback(ip: str) -> bool:
    return ip in LOOPBACK or ip.startswith("127.")


def _bind(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip or "0.0.0.0"
