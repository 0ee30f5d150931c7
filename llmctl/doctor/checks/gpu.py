"""The host and its GPU: the platform and the GPU runtime Docker offers (`platform`), and
whether managed Ollama servers run their models on the GPU (`ollama-gpu`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmctl.doctor.checks.common import VM_KINDS, running_ollamas
from llmctl.doctor.env import NO_ENGINE, DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, Finding, combine, ok, skip, warn

if TYPE_CHECKING:
    from llmctl.managed import ManagedServer


@check("platform", "host platform and GPU: Apple Silicon, NVIDIA runtime or CDI devices")
def check_platform(env: DoctorEnv) -> CheckResult:
    host = {"darwin": "macOS", "linux": "Linux", "win32": "Windows"}.get(env.host_os,
                                                                         env.host_os)
    found = f"{host} {env.host_arch}"
    if env.host_os == "darwin":
        if env.host_arch in ("arm64", "aarch64"):
            return ok(found + ": Apple Silicon; containers get no GPU (no Metal inside "
                      "containers): Docker Model Runner runs models on the host with Metal "
                      "(`llmctl up model-runner`)", gpu="metal-host-only")
        return ok(found + ": Intel Mac; containers run models on the CPU", gpu="none")
    engine = env.engine_or_none()
    if engine is None:
        return skip(found + f"; GPU support {NO_ENGINE}")
    facts = env.facts()
    info, _ = env.docs()
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    cdi = [str(d.get("ID") if isinstance(d, dict) else d)
           for d in info.get("DiscoveredDevices") or []]
    data = {"runtimes": runtimes, "cdi_devices": cdi, "gpu_runtime": facts.gpu_runtime}
    if env.host_os == "win32" and facts.kind == "Docker Desktop":
        return ok(found + ": Docker Desktop passes NVIDIA GPUs to containers through WSL2 "
                  "(the runtime list does not show it); `--gpus all` works with the NVIDIA "
                  "Windows driver installed", **data)
    where = "" if env.is_local else f" on the remote host {env.address_host}"
    if facts.gpu_runtime:
        how = ("NVIDIA runtime" if "nvidia" in runtimes else "NVIDIA CDI devices")
        listed = f" (runtimes: {', '.join(runtimes)})" if "nvidia" in runtimes else \
            f" ({', '.join(cdi)})"
        return ok(f"{found}: {how} available{where}{listed}", **data)
    if env.is_local and facts.kind not in VM_KINDS and env.nvidia_on_host():
        return warn(
            f"{found}: an NVIDIA GPU is present but Docker has no NVIDIA runtime or CDI "
            f"device (runtimes: {', '.join(runtimes) or 'none'}): containers run on the CPU",
            "Install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure "
            "--runtime=docker && sudo systemctl restart docker`.", **data)
    return ok(f"{found}: no GPU runtime{where} (runtimes: {', '.join(runtimes) or 'none'}); "
              "containers run on the CPU", **data)


@check("ollama-gpu", "managed Ollama servers run their models on the GPU (/api/ps)")
def check_ollama_gpu(env: DoctorEnv) -> CheckResult:
    env.require_engine()
    servers = [s for s in running_ollamas(env) if s.endpoint]
    if not servers:
        return skip("no running llmctl-managed Ollama")
    facts = env.facts()
    gpu_expected = facts.gpu_runtime or (env.host_os == "win32" and
                                         facts.kind == "Docker Desktop")
    findings: list[Finding] = []
    loaded: dict[str, list[dict[str, Any]]] = {}
    for s in servers:
        assert s.endpoint is not None
        models = _ollama_ps(s.endpoint, env.http_timeout)
        if models is None:
            findings.append(Finding("skip", f"{s.instance}: /api/ps did not answer"))
            continue
        loaded[s.instance] = models
        if not models:
            findings.append(Finding("skip", f"{s.instance}: no model loaded right now (ask it "
                                            "something, e.g. `llmctl chat`, then run doctor "
                                            "again)"))
            continue
        for m in models:
            findings.append(_gpu_finding(env, s, m, gpu_expected))
    if all(f.status == "skip" for f in findings):
        return CheckResult("", "skip", "; ".join(f.text for f in findings), None,
                           {"loaded": loaded})
    return combine([f for f in findings if f.status != "skip"] or findings, loaded=loaded)


def _ollama_ps(endpoint: str, timeout: float) -> list[dict[str, Any]] | None:
    import httpx

    from llmctl.backends.http import make_client

    try:
        with make_client(endpoint, timeout=timeout, connect_timeout=timeout) as client:
            r = client.get("/api/ps")
        doc = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    return [m for m in doc.get("models") or [] if isinstance(m, dict)]


def _gpu_finding(env: DoctorEnv, s: ManagedServer, m: dict[str, Any],
                 gpu_expected: bool) -> Finding:
    name = str(m.get("name") or m.get("model") or "?")
    size = int(m.get("size") or 0)
    vram = int(m.get("size_vram") or 0)
    share = vram / size if size else 0.0
    label = f"{s.instance}: {name}"
    if size and vram >= size:
        return Finding("ok", f"{label} 100% on the GPU")
    if vram > 0:
        return Finding("warn", f"{label} only {share:.0%} in GPU memory, the rest on the CPU "
                               "(slow)",
                       "Use a smaller model or quantization (or a GPU with more memory).")
    if env.host_os == "darwin":
        return Finding("ok", f"{label} on the CPU (containers on a Mac get no GPU; for Metal "
                             "use `llmctl up model-runner` or a host Ollama)")
    if gpu_expected:
        return Finding("warn", f"{label} runs on the CPU although this engine has a GPU "
                               "runtime",
                       f"Recreate it with the GPU: `llmctl up {s.profile} --name {s.instance} "
                       "--gpus all --recreate`.")
    return Finding("ok", f"{label} on the CPU (no GPU runtime)")


