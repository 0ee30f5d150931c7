"""`llmctl up PROFILE`: run an LLM server in a container and wait until it answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from llmctl.cli.options import JSON_OPTION
from llmctl.cli.output import emit_json, err, warn

if TYPE_CHECKING:
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
    frozen: bool = typer.Option(
        False, "--frozen",
        help="Run what the lock names: its image by digest, then its models (Model Runner "
             "by digest; Ollama checked after the pull). Refuse anything else."),
    lock_file: str = typer.Option("llmctl.lock", "--lock", help="The lock file --frozen follows."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Run PROFILE in a container, published on 127.0.0.1, and wait until it answers.

    `llmctl up model-runner --tcp 12434` turns on Docker Model Runner instead (Docker
    Desktop's feature, or the runner container on Docker Engine)."""
    from llmctl.cli import context, render
    from llmctl.cli.progress import progress_sink, resolve_mode
    from llmctl.errors import EngineUnavailable, LlmctlError
    from llmctl.inputs import check_seconds
    from llmctl.targets import registry
    from llmctl.targets.base import UpRequest

    check_seconds(timeout)
    mode = resolve_mode(progress)
    request = UpRequest(
        name=profile, port=port, bind=bind, instance=name, volume=volume, image=image,
        gpus=gpus, env=tuple(env), model=model, model_file=model_file,
        token_file=hf_token_file, tcp=tcp, gpu=gpu, wait=wait, timeout=timeout,
        recreate=recreate, yes=yes, dry_run=dry_run,
    )
    events = context.events(yes=yes)
    target = registry.find(profile, events)
    # Everything the command line alone can tell is checked (and asked) before Docker is
    # contacted.
    target.check(request, context.daemon_target())
    locked = None
    if frozen:
        from llmctl.lock import frozen as lock_frozen
        from llmctl.lock import model as lock_model

        locked = lock_frozen.server_for(lock_model.read(lock_file), profile, name)

    if dry_run:
        unreachable: LlmctlError | None = None
        try:
            engine = context.get_engine()
        except EngineUnavailable as exc:
            engine, unreachable = None, exc
        planned = target.plan(engine, request, unreachable=unreachable)
        if locked is not None and locked.image is not None:
            planned.warnings.append(f"--frozen: would run {locked.image.pinned or locked.image.ref}"
                                    " and then the lock's models")
        for w in planned.warnings:
            warn(w)
        if json_out:
            emit_json("up", planned)
            return
        render.dry_run(planned, profile)
        return

    engine = context.get_engine()
    if locked is not None:
        request = _pin(engine, target, request, locked, mode, events)
    with progress_sink(mode) as sink:
        result = target.up(engine, request, progress=sink,
                           on_status=_wait_reporter(mode, sink, profile))
    for note in result.notes:
        warn(note)
    frozen_models = None
    if locked is not None:
        frozen_models = _frozen_models(locked, result, request, mode)
    written = None
    to_write = result.endpoint_for_config() if write_endpoint else None
    if to_write is not None:
        from llmctl.cli.endpoint_writer import write_endpoint_for

        url, model_id, done = to_write
        written = write_endpoint_for(url, model_id, what=done).endpoint.entry()
    if json_out:
        doc = render.up_document(result)
        if written is not None:
            doc["endpoint_written"] = written
        if locked is not None:
            from llmctl.cli.output import to_jsonable

            models = to_jsonable(frozen_models) if frozen_models else {}
            doc["frozen"] = {"lock": lock_file, "image": request.pinned_image,
                             "models": models.get("models"), "notes": models.get("notes", [])}
        emit_json("up", doc)
        return
    render.up_result(result)
    if frozen_models is not None and frozen_models.models:
        from llmctl.cli import lock_render

        lock_render.frozen_models(frozen_models)


def _pin(engine: Any, target: Any, request: Any, locked: Any, mode: str, events: Any) -> Any:
    """`up --frozen`: the options checked against the lock, the locked image made ready;
    the request to run (by digest)."""
    from dataclasses import replace

    from llmctl.cli.progress import progress_sink
    from llmctl.lock import frozen as lock_frozen

    with progress_sink(mode) as sink:
        pinned = lock_frozen.prepare(engine, target.workload(engine, request), locked,
                                     recreate=request.recreate, progress=sink,
                                     notify=events.note, warn=warn)
    return replace(request, pinned_image=pinned)


def _frozen_models(locked: Any, result: Any, request: Any, mode: str) -> Any:
    """`up --frozen`, once the server answers: the lock's models on it."""
    from llmctl.cli.progress import progress_sink
    from llmctl.lock import frozen as lock_frozen

    if not locked.models:
        return lock_frozen.FrozenModels()
    if not request.wait or not result.endpoint or result.ready is not True:
        warn("--frozen: the lock's models were not checked (the server was not waited for); "
             "run `llmctl pull --frozen` once it answers")
        return None
    with progress_sink(mode) as sink:
        return lock_frozen.ensure_models(locked, result.endpoint, progress=sink)


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
