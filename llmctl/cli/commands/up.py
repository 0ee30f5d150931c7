"""`llmctl up PROFILE`: run an LLM server in a container and wait until it answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from llmctl.cli.common import JSON_OPTION, confirm, get_engine
from llmctl.cli.output import emit_json, err, out, warn

if TYPE_CHECKING:
    from llmctl.engine.model import DaemonTarget
    from llmctl.lifecycle import DryRunResult
    from llmctl.plan import BindMount
    from llmctl.profiles import Profile
    from llmctl.readiness import WaitStatus


def register(app: typer.Typer) -> None:
    app.command("up")(up)


def up(
    profile: str = typer.Argument(..., help="Profile to run: ollama, ... (`llmctl profiles`)."),
    port: int | None = typer.Option(None, "--port", "-p",
                                    help="Host port (never moved when given)."),
    bind: str = typer.Option("127.0.0.1", "--bind",
                             help="Host IP to publish on. Anything but loopback exposes it."),
    name: str | None = typer.Option(None, "--name", help="Instance name (default: profile)."),
    volume: str | None = typer.Option(
        None, "--volume",
        help="Named volume for the data (a bare name), or a host folder (/path, ~/path, "
             "./path) mounted read-write there."),
    image: str | None = typer.Option(None, "--image", help="Image with an explicit tag."),
    gpus: str = typer.Option("auto", "--gpus", help="auto | all | none."),
    env: list[str] = typer.Option(
        [], "--env", "-e",
        help="KEY=VALUE for the container (KEY alone: its value here). Secrets are masked."),
    model: str | None = typer.Option(
        None, "--model", "-m",
        help="Model the server loads, e.g. Qwen/Qwen3-0.6B (vllm, tgi, llamacpp, localai)."),
    model_file: str | None = typer.Option(
        None, "--model-file",
        help="llamacpp: a GGUF file on this machine (mounted read-only)."),
    hf_token_file: str | None = typer.Option(
        None, "--hf-token-file",
        help="File holding a Hugging Face token (default: $HF_TOKEN, then "
             "~/.cache/huggingface/token). Never pass the token itself."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the server answers."),
    timeout: float | None = typer.Option(None, "--timeout",
                                         help="Seconds to wait for readiness."),
    recreate: bool = typer.Option(False, "--recreate",
                                  help="Replace a container whose spec or secrets changed."),
    dry_run: bool = typer.Option(
        False, "--dry-run",
        help="Print the plan (spec, what would be pulled and created); change nothing."),
    yes: bool = typer.Option(
        False, "--yes", "-y",
        help="Confirm exposing the server, or mounting a system or home folder."),
    progress: str = typer.Option("auto", "--progress", help="auto | tty | plain | json | none."),
    tcp: int | None = typer.Option(None, "--tcp",
                                   help="model-runner only: host TCP port (default 12434)."),
    gpu: str = typer.Option("auto", "--gpu",
                            help="model-runner only: auto | none | cuda | rocm."),
    write_endpoint: bool = typer.Option(
        False, "--write-endpoint",
        help="Then verify and save it as the default endpoint (`llmctl endpoint write`)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Run PROFILE in a container, published on 127.0.0.1, and wait until it answers.

    `llmctl up model-runner --tcp 12434` turns on Docker Model Runner instead (Docker
    Desktop's feature, or the runner container on Docker Engine)."""
    if profile == "model-runner":
        from llmctl.cli.commands.model_runner import up_model_runner

        return up_model_runner(tcp=tcp if tcp is not None else port, gpu=gpu,
                               yes=yes or recreate, json_out=json_out, wait=wait,
                               timeout=timeout, dry_run=dry_run)
    from llmctl import lifecycle
    from llmctl.cli.progress import progress_sink, resolve_mode
    from llmctl.errors import EngineUnavailable, UsageError
    from llmctl.plan import UpOptions, parse_env, validate_bind
    from llmctl.profiles import load_profile

    if timeout is not None and timeout <= 0:
        raise UsageError(f"--timeout {timeout:g} must be more than 0 seconds")
    mode = resolve_mode(progress)
    prof = load_profile(profile)
    opts = UpOptions(port=port, bind=validate_bind(bind), name=name, volume=volume,
                     image=image, gpus=gpus, env=parse_env(env), model=model,
                     model_file=model_file, token_file=hf_token_file,
                     confirm_host_folder=yes)
    # Everything the command line alone can tell is checked before Docker is contacted.
    lifecycle.prepare_options(prof, opts, _target())
    _warn_inline_secrets(env, prof)

    if dry_run:
        try:
            engine = get_engine()
        except EngineUnavailable as exc:
            warn(f"{exc.message}; planning without the engine (default port, GPU only "
                 "where the profile requires one)")
            engine = None
        planned = lifecycle.dry_run(engine, prof, opts, recreate=recreate)
        for w in planned.warnings:
            warn(w)
        if json_out:
            emit_json("up", planned)
            return
        out(f"# llmctl up {profile} --dry-run: the container that would run")
        _print_spec(planned.spec.to_dict())
        for line in _dry_run_lines(planned):
            out(f"# {line}")
        return

    if opts.bind not in ("127.0.0.1", "::1"):
        warn(lifecycle.exposure_warning(opts.bind, port or prof.host_port, prof))
        confirm("Expose it anyway?", yes=yes, what_if_no=f"--bind {opts.bind}")

    engine = get_engine()

    with progress_sink(mode) as sink:
        result = lifecycle.up(
            engine, prof, opts, wait=wait, timeout=timeout, recreate=recreate,
            progress=sink, notify=lambda m: err(f"note: {m}"), on_warning=warn,
            on_status=_wait_reporter(mode, sink, prof.name),
        )
    for note in result.notes:
        warn(note)
    written = None
    if write_endpoint:
        from llmctl.cli.endpoint_writer import write_endpoint_for

        written = write_endpoint_for(
            result.endpoint, result.model or None,
            what=f"{result.instance} is up at {result.base_url}",
        ).endpoint.entry()
    if json_out:
        doc = {k: v for k, v in vars(result).items() if k != "spec"}
        if written is not None:
            doc["endpoint_written"] = written
        emit_json("up", doc)
        return
    verb = {"created": "started", "reused": "already running", "started": "restarted",
            "recreated": "recreated"}.get(result.action, result.action)
    if result.ready and result.ready_seconds is not None:
        ready = f"ready in {result.ready_seconds:.1f} s"
    else:
        ready = "ready" if result.ready else "readiness not checked"
    out(f"{result.instance}: {verb} ({result.container}, {result.image}), {ready}")
    out(f"  endpoint (this machine):   {result.base_url}")
    out(f"  endpoint (containers):     {result.endpoint_container}"
        f"{'/v1' if result.api == 'openai' else ''}  (on docker network llmctl)")
    out(f"  api: {result.api}   volume: {', '.join(result.volumes) or '-'}   "
        f"gpus: {'yes' if result.gpus else 'no'}")
    for m in result.mounts:
        out(f"  host folder: {_mount_text(m)}")
    if result.model:
        out(f"  model: {result.model}")


def _target() -> DaemonTarget | None:
    """The daemon the command would talk to, resolved without contacting it (None when
    that fails: the error is reported when the engine is reached)."""
    from llmctl.cli import state
    from llmctl.engine.connect import resolve_target
    from llmctl.errors import LlmctlError

    try:
        return resolve_target(state.options.context, state.options.host)
    except LlmctlError:
        return None


def _warn_inline_secrets(items: list[str], prof: Profile) -> None:
    from llmctl.plan import looks_secret

    for item in items:
        key, sep, _ = item.partition("=")
        if sep and looks_secret(key, (s.env for s in prof.secrets)):
            warn(f"--env {key}=...: a secret on the command line is visible to other users "
                 "of this machine (ps) and stays in your shell history; export it and pass "
                 f"--env {key} (no value) instead. Its value is never printed.")


def _mount_text(m: BindMount) -> str:
    return f"{m.source} -> {m.target} ({'read-only' if m.read_only else 'read-write'})"


def _dry_run_lines(planned: DryRunResult) -> list[str]:
    """The comment lines after the spec: host folders, what would be pulled, created or
    removed, and what happens to an existing container."""
    lines = [f"host folder {_mount_text(m)}" for m in planned.spec.mounts]
    if not planned.engine_checked:
        lines.append("the engine was not reached: what would be pulled or created is unknown")
    else:
        name = planned.spec.name
        what = {
            "recreate": f"would recreate container {name} ({planned.reason})",
            "reuse": f"{name} already runs with this spec: nothing to do",
            "start": f"{name} exists with this spec, stopped: would start it",
            "refuse": f"would stop with an error: {planned.reason}",
        }.get(planned.container)  # "create": said by the "would create" line below
        if what:
            lines.append(what)
        for image in planned.would_pull:
            lines.append(f"would pull image {image} (not on this engine)")
        if planned.container in ("create", "recreate") and not planned.would_pull:
            lines.append(f"image {planned.spec.image} is on this engine: nothing to pull")
        if planned.would_remove:
            lines.append("would remove " + ", ".join(planned.would_remove))
        if planned.would_create:
            lines.append("would create " + ", ".join(planned.would_create))
    if planned.port_note:
        lines.append(f"note: {planned.port_note}")
    return lines


def _wait_reporter(mode: str, sink: Any, name: str) -> Callable[[WaitStatus], None]:
    """While the server loads, say how long it has waited (of how long), what the server
    answered last (loading, HTTP 503, ...) and the container's latest log line:

    - tty: one live line under the pull progress, rewritten in place (never a new line per
      second: a vLLM load may take 30 minutes);
    - plain (piped, logs): sparse lines: the first after 2 s (a fast server prints none),
      then when the server's answer changes (at most every 5 s), else every 30 s;
    - json: a progress event every 2 s.
    """
    from llmctl.progress import ProgressEvent

    last_at, last_said, last_phase = -1e9, "", ""  # the last line/event: when, what, phase

    def describe(ws: WaitStatus) -> str:
        of = f" / {ws.timeout:g} s" if ws.timeout else ""
        text = f"waiting for {name}: {ws.elapsed:.0f} s{of}, {ws.detail}"
        return text + (f" | log: {ws.log_line[:120]}" if ws.log_line else "")

    def report(ws: WaitStatus) -> None:
        nonlocal last_at, last_said, last_phase
        since = ws.elapsed - last_at
        if mode == "tty" and hasattr(sink, "status"):
            sink.status(describe(ws))
        elif mode == "plain":
            answer = f"{ws.phase}: {ws.detail}"
            due = (ws.elapsed >= 2.0 if not last_said else
                   since >= 30.0 or (answer != last_said and since >= 5.0))
            if due:
                last_at, last_said = ws.elapsed, answer
                err(describe(ws))
        elif mode in ("json", "tty"):
            # json: every change of phase at once too (a model loading in 0.3 s shows its
            # "loading" phase to a program reading the events).
            changed = mode == "json" and ws.phase != last_phase
            if since >= 2.0 or changed:
                last_at, last_phase = ws.elapsed, ws.phase
                sink(ProgressEvent("wait", describe(ws), subject=name))

    return report


def _print_spec(doc: dict[str, object], indent: str = "") -> None:
    import yaml

    out(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).rstrip())
