"""`llmctl up|down model-runner` and the runner's part of `llmctl status`.

Not a command module of its own: ``up``, ``down`` and ``status`` call these functions when
the target is ``model-runner`` (Docker Model Runner is not a container profile: on Desktop
it is a Desktop feature, on Engine a container with fixed facts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmctl.cli.common import confirm, get_engine
from llmctl.cli.output import emit_json, err, out, warn

if TYPE_CHECKING:
    from llmctl.engine.model import Engine
    from llmctl.lifecycle import StatusEntry
    from llmctl.targets.model_runner.results import RunnerStatus
    from llmctl.targets.model_runner.runner import ModelRunner

PROFILE = "model-runner"


def _runner(engine: Engine, *, quiet: bool = False) -> ModelRunner:
    from llmctl.targets.model_runner.runner import ModelRunner

    def notify(message: str) -> None:
        if not quiet and message.strip():
            err(message if message.startswith(("running", "pulling", "removing"))
                else f"  {message}")

    return ModelRunner(engine, notify=notify)


def up_model_runner(
    *, tcp: int | None, gpu: str = "auto", yes: bool = False, json_out: bool = False,
    wait: bool = True, timeout: float | None = None, dry_run: bool = False,
) -> None:
    """`llmctl up model-runner [--tcp PORT] [--gpu auto|none|cuda|rocm] [--yes] [--json]
    [--dry-run]`."""
    from llmctl.errors import UsageError
    from llmctl.plan import validate_port
    from llmctl.targets.model_runner.container import DEFAULT_PORT, DEFAULT_TIMEOUT, GPU_CHOICES

    port = validate_port(tcp, "--tcp") if tcp is not None else DEFAULT_PORT
    if gpu not in GPU_CHOICES:
        raise UsageError(f"--gpu {gpu!r} is not one of {', '.join(GPU_CHOICES)}")
    if timeout is not None and timeout <= 0:
        raise UsageError(f"--timeout {timeout:g} must be more than 0 seconds")
    if dry_run:
        return _dry_run(port, gpu, recreate=yes, json_out=json_out)
    runner = _runner(get_engine())
    result = runner.up(port, gpu=gpu, wait=wait, timeout=timeout or DEFAULT_TIMEOUT,
                       recreate=yes)
    for note in result.notes:
        warn(note)
    if json_out:
        emit_json("up", result)
        return
    if result.kind == "Docker Desktop":
        what = {"enabled": "enabled in Docker Desktop",
                "reused": "already on in Docker Desktop"}.get(result.action, result.action)
    else:
        verb = {"created": "started container", "installed": "installed container",
                "reused": "already running:", "started": "restarted container",
                "recreated": "recreated container"}.get(result.action, result.action)
        what = f"{verb} {result.container} ({result.image}) via {result.method}"
    ready = "not checked" if result.ready is None else \
        f"ready in {result.ready_seconds or 0:.1f} s"
    out(f"model-runner: {what}, {ready}")
    out(f"  endpoint (this machine):   {result.base_url}")
    out(f"  endpoint (containers):     {result.endpoint_container}")
    if result.backends:
        out(f"  backends: {_backends(result.backends)}")
    if result.ready:
        out(f"  models: {len(result.models)}" + (f" ({', '.join(result.models[:5])})"
                                                  if result.models else ""))


def _dry_run(port: int, gpu: str, *, recreate: bool, json_out: bool) -> None:
    """`up model-runner --dry-run`: the plan, and what would be run, pulled and created."""
    from llmctl.errors import EngineUnavailable
    from llmctl.targets.model_runner.container import plan_runner_container
    from llmctl.targets.model_runner.results import RunnerDryRun

    try:
        plan = _runner(get_engine(), quiet=True).plan_up(port, gpu=gpu, recreate=recreate)
    except EngineUnavailable as exc:
        # Where the runner lives depends on the engine: show the Docker Engine container.
        url = f"http://127.0.0.1:{port}"
        plan = RunnerDryRun(
            kind="unknown", method="unknown", port=port, container="unknown", endpoint=url,
            base_url=url + "/engines/v1",
            spec=plan_runner_container(port, "cuda" if gpu == "cuda" else "none"),
            warnings=[f"{exc.message}; planning the Docker Engine runner container without "
                      "the engine (on Docker Desktop, Desktop runs the runner itself)"])
    for w in plan.warnings:
        warn(w)
    if json_out:
        emit_json("up", plan)
        return
    out(f"# llmctl up model-runner --dry-run: Docker Model Runner ({plan.kind})")
    if plan.spec is not None:
        import yaml

        out(yaml.safe_dump(plan.spec.to_dict(), sort_keys=False).rstrip())
    lines = [f"endpoint (this machine): {plan.base_url}"]
    lines.append({
        "create": f"would create the runner container ({plan.method})",
        "install": "would install the runner container with the `docker model` plugin",
        "enable": "would turn Model Runner on in Docker Desktop",
        "reuse": "the runner already answers on this port: nothing to do",
        "start": "the runner container exists, stopped: would start it",
        "recreate": f"would recreate the runner container ({plan.reason})",
        "refuse": f"would stop with an error: {plan.reason}",
    }.get(plan.container, "the engine was not reached: what would be done is unknown"))
    lines += [f"would run `{c}`" for c in plan.would_run]
    lines += [f"would pull image {i} (not on this engine)" for i in plan.would_pull]
    if plan.would_remove:
        lines.append("would remove " + ", ".join(plan.would_remove))
    if plan.would_create:
        lines.append("would create " + ", ".join(plan.would_create))
    for line in lines:
        out(f"# {line}")


def down_model_runner(*, volumes: bool = False, yes: bool = False,
                      json_out: bool = False) -> None:
    """`llmctl down model-runner [--volumes] [--yes]`."""
    runner = _runner(get_engine())

    def ask(warning: str) -> None:
        warn(warning)
        confirm("Turn Docker Model Runner off in Docker Desktop?", yes=yes,
                what_if_no="down model-runner (Docker Desktop)")

    if runner.place.mode != "desktop" and volumes:
        confirm("Remove the models volume too? The models stored in it are deleted.",
                yes=yes, what_if_no="--volumes")
    result = runner.down(volumes=volumes, confirm=ask)
    if json_out:
        emit_json("down", result)
        return
    if result.action == "disabled":
        out("model-runner: disabled in Docker Desktop")
        for note in result.notes:
            out(f"  {note}")
        return
    from llmctl.cli.commands.down import print_removed

    print_removed(result, volumes=volumes)
    for note in result.notes:
        out(f"  {note}")


# --- status --------------------------------------------------------------------------------
def without_runner(entries: list[StatusEntry]) -> list[StatusEntry]:
    """The runner container (labelled by llmctl) is shown in its own section."""
    return [e for e in entries if e.server.profile != PROFILE]


def runner_status(engine: Engine) -> RunnerStatus | None:
    """The runner's status, never raising: None only when the engine's facts are unknown."""
    from llmctl.errors import LlmctlError

    try:
        return _runner(engine, quiet=True).status()
    except LlmctlError:
        return None


def runner_status_doc(status: RunnerStatus | None) -> dict[str, Any] | None:
    from llmctl.cli.output import to_jsonable

    doc = to_jsonable(status)
    return doc if isinstance(doc, dict) else None


def render_runner_status(status: RunnerStatus | None) -> None:
    if status is None:
        return
    state = "running" if status.running else ("not running" if status.installed
                                              else "not installed")
    where = ""
    if status.container:
        where = f", container {status.container}" + (" (llmctl)" if status.managed else "")
    out("")
    out(f"Docker Model Runner ({status.kind}): {state}{where}")
    if status.base_url:
        out(f"  endpoint (this machine):   {status.base_url}")
    if status.endpoint_container:
        out(f"  endpoint (containers):     {status.endpoint_container}")
    if status.backends:
        out(f"  backends: {_backends(status.backends)}")
    if status.models is not None:
        out(f"  models: {status.models}")
    for note in status.notes:
        out(f"  note: {note}")
    if status.problem:
        out(f"  problem: {status.problem}")
    if status.fix:
        out(f"  fix: {status.fix}")


def _backends(backends: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in sorted(backends.items()))
