"""Docker Model Runner (`model-runner`): where it lives (Docker Desktop, or a runner
container on Docker Engine and Desktop for Linux), `docker model status`, and whether its
TCP port answers as a runner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmctl.doctor.checks.common import DESKTOP_MODEL_RUNNER_MIN, older_than, url_of
from llmctl.doctor.env import Answer, DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, ok, skip, warn
from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.engine.model import EngineFacts


@check("model-runner", "Docker Model Runner: CLI plugins, runner status, TCP port answering")
def check_model_runner(env: DoctorEnv) -> CheckResult:
    """Through llmctl.targets.model_runner when the daemon answers; MODEL_RUNNER_HOST (the user
    names the runner's URL) and an unreachable daemon are asked at the URL instead."""
    engine = env.engine_or_none()
    if engine is not None and not env.environ.get("MODEL_RUNNER_HOST"):
        return _model_runner_from_core(env, engine)
    return _model_runner_at_url(env, engine)


def _unavailable(facts: EngineFacts, desktop: bool) -> CheckResult | None:
    """A skip when this engine can have no Model Runner: Podman, or a Desktop (``desktop``)
    older than 4.40 or of unknown version."""
    if facts.kind == "Podman":
        return skip("Docker Model Runner needs Docker Desktop or Docker Engine, not Podman")
    if desktop and older_than(facts.desktop_version, DESKTOP_MODEL_RUNNER_MIN):
        return skip(f"Docker Desktop {facts.desktop_version or '(unknown version)'} has no "
                    "Model Runner (4.40 or newer needed, see `engine`)")
    return None


def _model_runner_from_core(env: DoctorEnv, engine: Any) -> CheckResult:
    """Through llmctl.targets.model_runner: where the runner lives (Desktop on macOS/Windows/WSL2,
    a container elsewhere, Desktop for Linux included), its container and its answer."""
    from llmctl.engine.docker_cli import DockerCli
    from llmctl.targets.model_runner.runner import ModelRunner

    facts = env.facts()
    desktop_mode = facts.kind == "Docker Desktop" and env.host_os in ("darwin", "win32")
    unavailable = _unavailable(facts, desktop_mode)
    if unavailable is not None:
        return unavailable
    path = env.docker_cli()
    cli = DockerCli(engine.target, docker=path or "docker", desktop=desktop_mode,
                    runner=env.cli_runner)
    runner = ModelRunner(engine, cli, os_name=env.host_os)
    st = runner.status(timeout=env.http_timeout)
    data: dict[str, Any] = {
        "kind": st.kind, "running": st.running, "installed": st.installed,
        "endpoint": st.endpoint, "endpoint_container": st.endpoint_container,
        "container": st.container, "backends": st.backends, "models": st.models,
        "notes": st.notes}
    notes = "".join(f"; {n}" for n in st.notes)
    where = f"{st.kind}" + (f" (container {st.container})" if st.container else "")
    if st.running and not st.problem:
        backends = ", ".join(f"{k}: {v}" for k, v in st.backends.items())
        models = "models unknown" if st.models is None else \
            f"{st.models} model{'' if st.models == 1 else 's'}"
        return ok(f"{where}: answering at {st.endpoint} ({models}"
                  f"{'; ' + backends if backends else ''}){notes}", **data)
    if st.running:
        return warn(f"{where}: {st.problem}{notes}", st.fix, **data)
    if not st.installed:
        if desktop_mode:  # Desktop new enough but `docker model` missing or not reporting
            return warn(f"{where}: {st.problem}{notes}", st.fix, **data)
        url = url_of("127.0.0.1", env.runner_port)
        answer = env.answer(url) if env.is_local else Answer("none", "")
        if answer.kind in ("http", "silent", "ollama"):
            return warn(f"port {env.runner_port} answers, but not as a Model Runner: "
                        f"{answer.detail}",
                        f"Free the port, or use another one: `llmctl up model-runner --tcp "
                        f"{env.runner_port + 1}`.", **data)
        return skip(f"not set up (optional): {st.problem}{notes}",
                    f"To use it: `llmctl up model-runner --tcp {env.runner_port}`.", **data)
    if desktop_mode and not (st.problem or "").startswith("host-side"):
        return skip(f"{where}: {st.problem}{notes}", st.fix, **data)
    return warn(f"{where}: {st.problem}{notes}", st.fix, **data)


def _model_runner_at_url(env: DoctorEnv, engine: Any) -> CheckResult:
    """With MODEL_RUNNER_HOST, or when the daemon is unreachable: the runner's answer at that
    URL (or the default port), and `docker model status` when the daemon answers."""
    facts = env.facts() if engine is not None else None
    desktop = facts is not None and facts.kind == "Docker Desktop"
    unavailable = _unavailable(facts, desktop) if facts is not None else None
    if unavailable is not None:
        return unavailable
    url = (env.environ.get("MODEL_RUNNER_HOST") or
           url_of(env.address_host, env.runner_port)).rstrip("/")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:  # both bounded by their own timeouts
        probe_job = pool.submit(_runner_probe, url, env.http_timeout)
        if engine is None:  # the plugin asks the same daemon: nothing to learn from it
            status, plugin_note = None, "`docker model` not asked (the daemon is not reachable)"
        else:
            status, plugin_note = _runner_cli_status(env, engine, desktop)
        probe = probe_job.result()
    data: dict[str, Any] = {"url": url, "probe": probe, "cli": plugin_note}
    if status is not None:
        data["cli_status"] = {"running": status.running, "kind": status.kind,
                              "backends": status.backends}
    enable = f"`docker desktop enable model-runner --tcp {env.runner_port}`"
    if probe["running"] and probe["reason"] == "ok":
        backends = ", ".join(f"{k}: {v}" for k, v in (probe.get("backends") or {}).items())
        return ok(f"answering at {url} ({probe['detail']}"
                  f"{'; ' + backends if backends else ''}); {plugin_note}", **data)
    if probe["running"]:
        return warn(f"the runner at {url} answers but is unhealthy: {probe['detail']}",
                    "See `docker model status` and `docker model logs`; "
                    "`docker model restart-runner` on Docker Engine.", **data)
    if probe["reason"] not in ("refused", "timeout", "unreachable"):
        other = env.runner_port + 1
        move = (f"`docker desktop enable model-runner --tcp {other}`" if desktop
                else f"`llmctl up model-runner --tcp {other}`")
        return warn(f"port {urlsplit(url).port} answers, but not as a Model Runner: "
                    f"{probe['detail']}", f"Free the port, or use another one: {move}.", **data)
    if status is not None and status.running:
        if desktop:
            return warn(f"Model Runner is on in Docker Desktop but nothing answers at {url}: "
                        "host-side TCP is off", f"Turn it on: {enable}.", **data)
        return warn(f"`docker model status` says the runner runs, but nothing answers at "
                    f"{url}: {probe['detail']}",
                    "Check its port with `docker model status --json` (endpointHost) or "
                    "reinstall it: `docker model reinstall-runner --port "
                    f"{env.runner_port}`.", **data)
    if desktop:
        if status is None and "not installed" in plugin_note:
            return warn(f"Docker Desktop {facts.desktop_version if facts else ''} should ship "
                        f"`docker model` but it is missing; {plugin_note}",
                        "Update Docker Desktop, then turn Model Runner on in Settings > AI > "
                        "Enable Docker Model Runner.", **data)
        return skip(f"Model Runner is off in Docker Desktop (nothing at {url}); {plugin_note}",
                    f"To use it: {enable} (or Settings > AI > Enable Docker Model Runner, "
                    "with host-side TCP support).", **data)
    return skip(f"not set up (optional; nothing at {url}); {plugin_note}",
                f"To use it: `llmctl up model-runner --tcp {env.runner_port}`.", **data)


def _runner_probe(url: str, timeout: float) -> dict[str, Any]:
    from llmctl.backends import runner_status

    p = runner_status.probe(url, timeout=timeout)
    return {"running": p.running, "reason": p.reason, "detail": p.detail,
            "version": p.version, "backends": p.backends,
            "models": len(p.models) if p.models is not None else None}


def _runner_cli_status(env: DoctorEnv, engine: Any, desktop: bool) -> tuple[Any, str]:
    """`docker model status --json` through the CLI: (status or None, what was found)."""
    path = env.docker_cli()
    if not path:
        return None, "the docker CLI is not on PATH"
    from llmctl.engine.docker_cli import DockerCli, PluginMissing

    cli = DockerCli(engine.target if engine is not None else None, docker=path,
                    desktop=desktop, runner=env.cli_runner)
    try:
        status = cli.model_status(timeout=env.cli_timeout)
    except PluginMissing:
        return None, "the `docker model` plugin is not installed"
    except LlmctlError as exc:
        return None, f"`docker model status` failed: {exc.message}"
    note = "`docker model status`: " + ("running" if status.running else "not running")
    if status.kind:
        note += f" ({status.kind})"
    return status, note


