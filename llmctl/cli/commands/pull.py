"""`llmctl pull MODEL`: pull a model into Ollama or Docker Model Runner, with progress."""

from __future__ import annotations

import typer

from llmctl.cli.options import BACKEND_HELP, ENDPOINT_HELP, JSON_OPTION
from llmctl.cli.output import emit_json, err, out, warn

MODEL_HELP = ("llama3.2, qwen2.5:7b, ai/smollm2:360M-Q4_K_M, …; or a GGUF file to import: "
              "./x.gguf, /abs/x.gguf, ~/x.gguf, file:///abs/x.gguf.")


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)


def pull(
    model: str = typer.Argument(..., help=MODEL_HELP),
    backend: str | None = typer.Option(None, "--backend", "-b", help=BACKEND_HELP),
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help=ENDPOINT_HELP),
    progress: str = typer.Option("auto", "--progress", help="auto | tty | plain | json | none."),
    stall_timeout: float = typer.Option(
        60.0, "--stall-timeout", help="Fail when no bytes and no new step arrive for this long."),
    timeout: float | None = typer.Option(
        None, "--timeout", "-t",
        help="Wall-clock seconds for the whole pull (default: no limit)."),
    insecure: bool = typer.Option(False, "--insecure",
                                  help="Ollama: allow an http:// registry."),
    write_endpoint: bool = typer.Option(
        False, "--write-endpoint",
        help="Then verify and save server + model as the default endpoint."),
    name: str | None = typer.Option(None, "--name", help=(
        "For a GGUF file: the model name to create (default: from the file name).")),
    json_out: bool = JSON_OPTION,
) -> None:
    """Pull MODEL into the backend its name belongs to, showing progress on stderr.

    Routing: ai/…, docker.io/ai/… and hf.co/… go to Docker Model Runner, everything else to
    Ollama; with --endpoint, the kind of server found there decides. Names and URLs are checked
    before anything is sent. A failed Ollama pull resumes when run again. A path (./x.gguf,
    /abs/x.gguf, ~/x.gguf, file://…, anything ending in .gguf) imports that GGUF file instead
    (docs/models.md). Exit codes: 0 pulled, 1 failed, 2 bad name, URL, file or option, 7
    unknown model, 130 Ctrl-C.
    """
    import time

    from llmctl.cli.context import get_engine
    from llmctl.gguf import is_file_ref

    if is_file_ref(model):
        from llmctl.cli.gguf_import import pull_file

        pull_file(model, name=name, backend=backend, endpoint=endpoint, progress=progress,
                  stall_timeout=stall_timeout, insecure=insecure,
                  write_endpoint=write_endpoint, json_out=json_out,
                  engine_factory=get_engine)
        return
    if name is not None:
        from llmctl.errors import UsageError

        raise UsageError("--name is for importing a GGUF file (llmctl pull ./x.gguf --name "
                         "NAME); a registry model keeps its name",
                         "Drop --name, or give a file path.")
    from llmctl import models
    from llmctl.cli.context import docker_cli
    from llmctl.cli.progress import progress_sink, resolve_mode
    from llmctl.inputs import check_seconds

    start = time.monotonic()
    mode = resolve_mode(progress)
    check_seconds(stall_timeout, "--stall-timeout")
    check_seconds(timeout)
    detect = min(models.DETECT_TIMEOUT, stall_timeout, timeout or stall_timeout)
    ref, target = models.choose_target(model, backend=backend, endpoint=endpoint, verb="pull",
                                       engine_factory=get_engine, warn=warn, timeout=detect)
    if mode != "none":
        err(f"using {target.describe()}")
    with progress_sink(mode) as sink:
        result = models.pull(ref, target, progress=sink, stall_timeout=stall_timeout,
                             insecure=insecure, timeout=timeout, docker=docker_cli,
                             started=start)
    written = None
    if write_endpoint:
        from llmctl.cli.endpoint_writer import write_endpoint_for

        written = write_endpoint_for(result.endpoint, result.model,
                                     what=f"{result.model} was pulled").endpoint.entry()
    if json_out:
        if written is not None:
            from llmctl.cli.output import to_jsonable

            emit_json("pull", {**to_jsonable(result), "endpoint_written": written})
            return
        emit_json("pull", result)
        return
    from llmctl.progress import human_size

    size = human_size(result.size) if result.size else "size unknown"
    digest = f", digest {result.digest.removeprefix('sha256:')[:12]}" if result.digest else ""
    via = " via `docker model`" if result.via != "http" else ""
    out(f"pulled {result.model} ({size}{digest}) in {result.duration_s:.1f} s "
        f"into {models.BACKEND_LABELS[result.backend]} at {result.endpoint}{via}")
