"""`llmctl pull MODEL`: pull a model into Ollama or Docker Model Runner, with progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from llmctl.cli.options import BACKEND_HELP, ENDPOINT_HELP, JSON_OPTION
from llmctl.cli.output import emit_json, err, out, warn

if TYPE_CHECKING:
    from llmctl.lock.model import LockedModel, LockedServer

MODEL_HELP = ("llama3.2, qwen2.5:7b, ai/smollm2:360M-Q4_K_M, …; or a GGUF file to import: "
              "./x.gguf, /abs/x.gguf, ~/x.gguf, file:///abs/x.gguf.")


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)


def pull(
    model: str | None = typer.Argument(
        None, help=MODEL_HELP + " With --frozen and no MODEL: every model of the lock."),
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
    frozen: bool = typer.Option(
        False, "--frozen",
        help="Pull as the lock says: Model Runner by digest; Ollama by name, refused when "
             "the digest differs from the lock."),
    lock_file: str = typer.Option("llmctl.lock", "--lock", help="The lock file --frozen follows."),
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

    if frozen:
        _pull_frozen(model, lock_file, backend=backend, endpoint=endpoint, progress=progress,
                     stall_timeout=stall_timeout, timeout=timeout, json_out=json_out)
        return
    if model is None:
        from llmctl.errors import UsageError

        raise UsageError("give the MODEL to pull", "Example: `llmctl pull llama3.2`; or "
                         "`llmctl pull --frozen` for every model of the lock file.")
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


def _pull_frozen(model: str | None, lock_file: str, *, backend: str | None,
                 endpoint: str | None, progress: str, stall_timeout: float,
                 timeout: float | None, json_out: bool) -> None:
    """`pull --frozen [MODEL]`: the lock's models (or that one) onto the locked servers."""
    from llmctl import models
    from llmctl.cli.context import get_engine
    from llmctl.cli.progress import progress_sink, resolve_mode
    from llmctl.errors import UsageError
    from llmctl.gguf import is_file_ref
    from llmctl.inputs import check_seconds
    from llmctl.lock import frozen as lock_frozen
    from llmctl.lock import model as lock_model
    from llmctl.managed import list_servers

    mode = resolve_mode(progress)
    check_seconds(stall_timeout, "--stall-timeout")
    check_seconds(timeout)
    if model is not None and is_file_ref(model):
        raise UsageError("--frozen pulls the registry models a lock names, not a GGUF file",
                         "Drop --frozen to import the file.")
    lock = lock_model.read(lock_file)
    engine = get_engine()
    running = {s.instance: s for s in list_servers(engine) if s.state == "running"}
    urls = {name: s.endpoint or "" for name, s in running.items()}
    jobs: list[tuple[LockedServer, str, list[LockedModel] | None]] = []
    problems: list[str] = []
    if model is not None:
        detect = min(models.DETECT_TIMEOUT, stall_timeout, timeout or stall_timeout)
        ref, target = models.choose_target(model, backend=backend, endpoint=endpoint,
                                           verb="pull", engine_factory=get_engine, warn=warn,
                                           timeout=detect)
        at = lock_frozen.server_at(lock, target.source, target.url, urls)
        if at is None:
            raise lock_frozen.FrozenRefused(
                f"{lock_file} has no server at {target.url} ({target.source})",
                "Pull into a server the lock names (`llmctl verify` lists them), or drop "
                "--frozen.")
        found = lock_frozen.find_model(at, ref.name, ref.backend)
        if found is None:
            have = ", ".join(m.name for m in at.models) or "none"
            raise lock_frozen.FrozenRefused(
                f"{model} is not among {at.name}'s models in {lock_file} (it has: {have})",
                "Pull it without --frozen, then record it with `llmctl lock`.")
        jobs.append((at, target.url, [found]))
    else:
        for server in lock.servers:
            if not server.models:
                continue
            if server.name not in running:
                problems.append(f"{server.name} is not running: start it with `llmctl up "
                                f"{server.target} --name {server.name} --frozen`")
                continue
            jobs.append((server, urls[server.name], None))
    done = lock_frozen.FrozenModels()
    for server, url, only in jobs:
        if mode != "none":
            err(f"pulling the locked models of {server.name} ({url})")
        try:
            with progress_sink(mode) as sink:
                got = lock_frozen.ensure_models(
                    server, url, only=only, progress=sink,
                    stall_timeout=stall_timeout, timeout=timeout)
            done.models += got.models
        except lock_frozen.FrozenRefused as exc:
            problems.append(exc.message)
            done.models += [lock_frozen.FrozenModel(**d) for d in exc.details.get("done", [])]
    if problems:
        raise lock_frozen.FrozenRefused(
            "\n".join(problems),
            f"{lock_frozen.OLLAMA_CANNOT}; Model Runner models are pulled by digest. Nothing "
            "was removed.", details={"problems": problems, "done": [vars(m) for m in done.models]})
    if json_out:
        emit_json("pull", {"lock": lock_file, "frozen": done})
        return
    from llmctl.cli import lock_render

    lock_render.frozen_models(done)
