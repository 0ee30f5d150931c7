"""Ports (`ports`): who listens on 11434, 11435, 12434 and every managed port, a stopped
instance's port taken by another program, and the ollama CLI mix-up (the host `ollama`
CLI talking to another server than llmctl's container)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmctl.doctor.checks.common import UNSPECIFIED, is_loopback, running_ollamas, url_of
from llmctl.doctor.env import Answer, DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, Finding, SkipCheck, combine
from llmctl.errors import LlmctlError
from llmctl.ports import who_holds
from llmctl.urls import parse_ollama_host


@dataclass(frozen=True)
class PortOwner:
    port: int
    kind: str  # free | llmctl | model-runner | container | host-ollama | process | unknown
    holder: str
    answer: str
    container: str | None = None
    instance: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def port_owner(env: DoctorEnv, port: int) -> PortOwner:
    """Who listens on ``port`` on this machine (:func:`llmctl.ports.who_holds`, asked with
    what doctor can know), worded for doctor's table."""
    published: Any = ()
    if env.is_local:  # a remote daemon's published ports are not this machine's
        try:
            published = env.published()
        except (SkipCheck, LlmctlError):
            published = ()
    held = who_holds(
        port, published=published,
        process=env.holder_process if env.host_os.startswith("linux") else None,
        identify=lambda p: env.answer(url_of("127.0.0.1", p)), identify_containers=True,
    )
    detail = held.answer.detail if isinstance(held.answer, Answer) else ""
    c = held.container
    if c is not None:
        if held.kind == "llmctl":
            return PortOwner(port, "llmctl", f"llmctl instance {held.instance} (container "
                                             f"{c.name})", detail, c.name, held.instance)
        if held.kind == "model-runner":
            return PortOwner(port, "model-runner", f"Docker Model Runner (container "
                                                   f"{c.name})", detail, c.name)
        return PortOwner(port, "container", f"container {c.name} ({c.image})", detail, c.name)
    by = f" ({held.process})" if held.process else ""
    wording = {
        "free": "free",
        "host-ollama": f"an Ollama server on the host{by}",
        "model-runner": f"Docker Model Runner{by or ' (Docker Desktop)'}",
        "process": f"host process {held.process}",
    }
    return PortOwner(port, held.kind, wording.get(held.kind, "another program"), detail)


@check("ports", "who listens on 11434, 11435, 12434 and every managed port; the ollama CLI "
                "mix-up")
def check_ports(env: DoctorEnv) -> CheckResult:
    try:
        servers = env.servers()
    except (SkipCheck, LlmctlError):
        servers = []
    local_servers = [s for s in servers if s.host_port] if env.is_local else []
    ports = sorted({env.ollama_port, env.alt_ollama_port, env.runner_port,
                    *(s.host_port for s in local_servers if s.host_port)})
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(ports))) as pool:
        owners = dict(zip(ports, pool.map(lambda p: port_owner(env, p), ports), strict=True))
    findings = [Finding("ok", f"{p}: {o.holder}" + (
        f" [{o.answer}]" if o.kind in ("process", "unknown", "container") and o.answer else ""))
        for p, o in owners.items()]
    for s in local_servers:
        owner = owners[s.host_port or 0]
        if s.state != "running" and owner.kind != "free" and owner.container != s.container:
            from llmctl.ports import next_free

            free = next_free((s.host_port or 0) + 1, "127.0.0.1", ports)
            findings.append(Finding(
                "warn", f"port {s.host_port} of the stopped instance {s.instance} is taken by "
                        f"{owner.holder}: `llmctl up` cannot start it",
                f"Stop that program, or move the instance: `llmctl up {s.profile} --name "
                f"{s.instance} --port {free or 'PORT'} --recreate`."))
    findings.extend(_ollama_cli_mixup(env, owners))
    if not env.is_local:
        findings.append(Finding("ok", f"the daemon is remote: its published ports are on "
                                      f"{env.address_host}, not checked here"))
    return combine(findings, ports=[o.to_dict() for o in owners.values()])


def _ollama_cli_mixup(env: DoctorEnv, owners: dict[int, PortOwner]) -> list[Finding]:
    """The host `ollama` CLI talks to OLLAMA_HOST (unset: 127.0.0.1:11434); is that the
    server the user thinks (llmctl's container) or another one?"""
    managed = [s for s in running_ollamas(env) if env.is_local]
    if not managed:
        return []
    raw = env.environ.get("OLLAMA_HOST")
    target = parse_ollama_host(raw, env.ollama_port)
    if not is_loopback(target.connect_host) and target.connect_host not in UNSPECIFIED:
        return []
    ports = {s.host_port for s in managed}
    said = f"OLLAMA_HOST={raw}" if raw else "OLLAMA_HOST unset"
    who = ", ".join(f"{s.instance} on port {s.host_port}" for s in managed)
    use = managed[0]
    if target.port in ports:
        return [Finding("ok", f"the host `ollama` CLI ({said} → {target.client_url}) talks to "
                              f"llmctl's {use.instance}")]
    answer = owners.get(target.port)
    kind = answer.kind if answer else env.answer(target.client_url).kind
    fix = (f"Point the CLI at the container: `export OLLAMA_HOST=127.0.0.1:{use.host_port}` "
           f"(or `docker exec -it {use.container} ollama list`).")
    if kind in ("host-ollama", "ollama"):
        return [Finding("warn", f"mix-up: the host `ollama` CLI ({said} → "
                                f"{target.client_url}) talks to an Ollama server on the host, "
                                f"not to llmctl's {who}: `ollama list`/`ollama pull` there "
                                "neither see nor fill the container's models", fix)]
    if env.which("ollama"):
        return [Finding("warn", f"the host `ollama` CLI ({said} → {target.client_url}) reaches "
                                f"no Ollama server; llmctl's runs at {who}", fix)]
    return []


