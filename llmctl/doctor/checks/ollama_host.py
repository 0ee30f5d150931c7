"""OLLAMA_HOST (`ollama-host`) read as Ollama's own client reads it: `http://host` means
port 80, `0.0.0.0` is a bind address, and whether an Ollama answers where it points."""

from __future__ import annotations

from llmctl.doctor.checks.common import UNSPECIFIED, running_ollamas, url_of
from llmctl.doctor.env import Answer, DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, Finding, combine, ok
from llmctl.urls import parse_ollama_host


@check("ollama-host", "OLLAMA_HOST as a client reads it (http://host = port 80; 0.0.0.0 binds)")
def check_ollama_host(env: DoctorEnv) -> CheckResult:
    raw = env.environ.get("OLLAMA_HOST")
    parsed = parse_ollama_host(raw, env.ollama_port)
    data = parsed.to_dict()
    managed = running_ollamas(env)
    good_port = (managed[0].host_port if managed else None) or env.ollama_port
    if not parsed.raw:
        answer = env.answer(parsed.client_url)
        return ok(f"unset: the ollama CLI and client libraries use {parsed.client_url} "
                  f"({_answer_text(answer)})", **data)
    findings: list[Finding] = []
    if parsed.host in UNSPECIFIED:
        fixed = url_of("127.0.0.1", parsed.port).removeprefix("http://")
        findings.append(Finding(
            "warn", f"OLLAMA_HOST={raw} is a bind address (where a server listens), not an "
                    "address to connect to: the ollama CLI swaps it for 127.0.0.1, other "
                    "clients (Python and JS libraries, MCP clients) fail",
            f"For clients: `export OLLAMA_HOST={fixed}`; keep 0.0.0.0 only in the server's "
            "own environment, and only to expose it on purpose."))
    if parsed.scheme_given and not parsed.port_given:
        host = "127.0.0.1" if parsed.host in ("localhost", *UNSPECIFIED) else parsed.host
        fixed = url_of(host, good_port, parsed.scheme)
        findings.append(Finding(
            "warn", f"OLLAMA_HOST={raw} means {parsed.url}: with a scheme and no port the port "
                    f"is {parsed.default_port}, not {env.ollama_port}",
            f"Give the port: `export OLLAMA_HOST={fixed}`."))
    if parsed.port_note:
        fixed = url_of(parsed.connect_host, good_port).removeprefix("http://")
        findings.append(Finding("warn", f"OLLAMA_HOST={raw}: {parsed.port_note}",
                                f"`export OLLAMA_HOST={fixed}`."))
    answer = env.answer(parsed.client_url)
    if answer.kind != "ollama":
        fix = (f"Point it at llmctl's Ollama: `export OLLAMA_HOST=127.0.0.1:{good_port}`"
               if managed else
               "Start a server (`llmctl up ollama`), or `unset OLLAMA_HOST` for the default")
        findings.append(Finding("warn", f"no Ollama at {parsed.client_url} "
                                        f"({_answer_text(answer)})", fix + "."))
    if not findings:
        return ok(f"OLLAMA_HOST={raw} → {parsed.client_url} (Ollama answers)", **data)
    return combine(findings, **data)


def _answer_text(answer: Answer) -> str:
    return {"ollama": "Ollama answers", "model-runner": "Docker Model Runner answers",
            "none": "nothing answers"}.get(answer.kind, answer.detail)


