"""`llmctl pull PATH.gguf [--name NAME]`: the command-line side of llmctl.model_import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmctl.cli.output import emit_json, err, out, warn
from llmctl.errors import UsageError


def pull_file(
    ref: str,
    *,
    name: str | None,
    backend: str | None,
    endpoint: str | None,
    progress: str,
    stall_timeout: float,
    insecure: bool,
    write_endpoint: bool,
    json_out: bool,
    engine_factory: Callable[[], Any],
) -> None:
    """Check the file, pick the server (as `pull` does for Ollama / Model Runner), import."""
    from llmctl import model_import, models
    from llmctl.cli.context import docker_cli
    from llmctl.cli.progress import progress_sink, resolve_mode
    from llmctl.inputs import check_seconds
    from llmctl.names import MODEL_RUNNER, OLLAMA

    mode = resolve_mode(progress)
    check_seconds(stall_timeout, "--stall-timeout")
    if insecure:
        raise UsageError("--insecure is for pulls from a registry, not for a local file",
                         "Drop --insecure.")
    source = model_import.open_source(ref)  # a bad file is exit 2 before any request
    chosen = backend or OLLAMA
    if chosen not in (OLLAMA, MODEL_RUNNER):
        raise model_import.start_with_file_error(chosen, source)
    if endpoint:  # what answers there decides, as for `pull`
        target = models.endpoint_target(endpoint, backend=backend, verb="import",
                                        timeout=min(models.DETECT_TIMEOUT, stall_timeout))
    else:
        target = models.resolve_target(chosen, engine_factory=engine_factory, warn=warn)
    if mode != "none":
        err(f"importing {source.path} into {target.describe()}")
    with progress_sink(mode) as sink:
        result = model_import.import_gguf(source, target, name=name, progress=sink,
                                          stall_timeout=stall_timeout, warn=warn,
                                          docker=docker_cli)
    written = None
    if write_endpoint:
        from llmctl.cli.endpoint_writer import write_endpoint_for

        written = write_endpoint_for(result.endpoint, result.model,
                                     what=f"{result.model} was imported").endpoint.entry()
    if json_out:
        from llmctl.cli.output import to_jsonable

        doc = to_jsonable(result)
        if written is not None:
            doc["endpoint_written"] = written
        emit_json("pull", doc)
        return
    out(summary(result, source.path.name))


def summary(result: Any, file_name: str) -> str:
    """One line: what became of the file, where, how big, how long."""
    from llmctl.model_import import backend_label
    from llmctl.progress import human_size

    named = " (named after the file; --name NAME chooses another)" \
        if result.name_from == "file name" else ""
    size = human_size(result.size) if result.size else (result.size_text or
                                                        human_size(result.file_size))
    digest = result.digest.removeprefix("sha256:")[:12] if result.digest else None
    facts = [size] + ([f"digest {digest}"] if digest else []) + [f"{result.duration_s:.1f} s"]
    notes = []
    if not result.uploaded:
        notes.append("the server had the file's blob already")
    if result.replaced:
        notes.append(f"replaced the earlier {result.model}")
    elif result.existed:
        notes.append("the same model was there already")
    via = " via `docker model package`" if result.via == "docker model" else ""
    line = (f"imported {file_name} as {result.model}{named} into "
            f"{backend_label(result.backend)} at {result.endpoint}{via}: {', '.join(facts)}")
    return line + (f" ({'; '.join(notes)})" if notes else "")
