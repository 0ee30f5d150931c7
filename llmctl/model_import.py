"""Bring your own GGUF: the core of `llmctl pull PATH.gguf [--name NAME]`.

Where the file goes
    Ollama (the default; its endpoint is resolved as for any pull): the file is checked
    (GGUF magic) and hashed, its blob uploaded over the API unless the server has it
    (``HEAD``/``POST /api/blobs/sha256:HEX``), then ``POST /api/create`` with ``files`` makes
    the model; no Modelfile, nothing copied into a container.
    Docker Model Runner (``--backend model-runner``): ``docker model package --gguf PATH
    NAME``, which loads the packaged model into the runner's store; without the plugin the
    error says what to install and what to run.
    llama.cpp, vLLM, TGI, LocalAI: their servers do not import files over HTTP; the error says
    how the profile takes a file (``llmctl up llamacpp --model-file PATH``).

The name
    ``--name`` (checked against the backend's grammar), else the file name (see
    :func:`llmctl.gguf.default_name`) with the tag ``latest``. The result says which.

Nothing half-made
    Ctrl-C (or SIGTERM) while hashing sends nothing; while uploading, the connection closes
    mid-body and Ollama deletes its temporary file; while creating, the model is looked up
    and deleted if it appeared and did not exist before (Ollama writes the manifest last and
    stops when the client is gone). A blob uploaded whole before an interruption stays on the
    server: the next import of the same file finds it (``HEAD``) and skips the upload, and
    Ollama removes unreferenced blobs when it starts (unless ``OLLAMA_NOPRUNE`` is set).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmctl import gguf
from llmctl.errors import LlmctlError, ServerError, UsageError
from llmctl.models import BACKEND_LABELS, DEFAULT_STALL_TIMEOUT, Target
from llmctl.names import MODEL_RUNNER, OLLAMA, parse_model_runner_ref, parse_ollama_name
from llmctl.progress import ProgressEvent, ProgressSink, null_sink

if TYPE_CHECKING:
    from llmctl.engine.docker_cli import DockerCli

EMIT_INTERVAL = 0.1
PACKAGE_MIN_TIMEOUT = 600.0
PACKAGE_BYTES_PER_S = 20e6  # the slowest rate `docker model package` is given time for
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TRANSFERRED = re.compile(r"Transferred:\s*([0-9.]+)\s*MB", re.IGNORECASE)
# what the probe calls a server -> the built-in profile that runs it
PROBE_PROFILES = {"llamacpp": "llamacpp", "vllm": "vllm", "tgi": "tgi", "localai": "localai"}

Warn = Callable[[str], None]


@dataclass(frozen=True)
class GgufSource:
    """A checked GGUF file on this machine."""

    ref: str  # as given on the command line
    path: Path  # absolute, symlinks resolved
    size: int
    header: gguf.GgufHeader
    stat: os.stat_result = field(repr=False, compare=False)

    @property
    def quoted(self) -> str:
        return shlex.quote(str(self.path))


def open_source(ref: str) -> GgufSource:
    """Resolve ``ref`` (a path or ``file://`` URL) and check it is a readable GGUF file;
    UsageError (exit 2) naming the file otherwise. Reads 24 bytes."""
    path = gguf.resolve_file(ref)
    header = gguf.read_header(path)
    st = path.stat()
    return GgufSource(ref.strip(), path, st.st_size, header, st)


@dataclass(frozen=True)
class ImportResult:
    model: str  # as stored: smollm2:latest (Ollama), ai/smollm2:latest (Model Runner)
    backend: str  # ollama | model-runner
    endpoint: str
    endpoint_source: str
    file: str  # the absolute path imported
    file_size: int
    name_from: str  # "--name" | "file name"
    duration_s: float
    via: str  # "http" | "docker model"
    sha256: str | None = None  # the file's (Ollama: the blob's digest)
    digest: str | None = None  # the model's, as the server lists it
    size: int | None = None  # bytes, as the server lists the model (Ollama)
    size_text: str | None = None  # Model Runner's human size ("93.80 MiB")
    uploaded: bool = True  # False: the server had the blob already
    hashed: bool = True  # False: the file's digest came from the cache
    existed: bool = False  # a model of that name was there before
    replaced: bool = False  # ... and was another one: it now is this one
    server_version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # format, family, parameters, quant


# --- names ---------------------------------------------------------------------------------


def choose_name(source: GgufSource, name: str | None, backend: str) -> tuple[str, str]:
    """(the model name as the backend stores it, where it came from)."""
    given = name is not None
    raw = name.strip() if name is not None else gguf.default_name(source.path)
    if given and not raw:
        raise UsageError("--name is empty", "Give a model name such as smollm2-local:q4.")
    if backend == MODEL_RUNNER:
        ref = parse_model_runner_ref(raw)
        if ref.digest:
            raise UsageError(f"--name {raw!r}: a digest cannot name a new model",
                             "Give a name such as myorg/smollm2:q4.")
        return ref.normalized, "--name" if given else "file name"
    o = parse_ollama_name(raw)
    if o.scheme or o.digest:
        raise UsageError(f"--name {raw!r}: give a plain model name, without a scheme or "
                         "@digest", "For example smollm2-local:q4.")
    return o.display, "--name" if given else "file name"


def file_key(path: Path) -> str:
    """The file name in ``files``: Ollama wants a relative path without ``:`` or ``\\``, and
    treats names ending in ``.gguf`` as GGUF."""
    key = re.sub(r"[:\\/]", "_", path.name) or "model.gguf"
    return key if key.lower().endswith(".gguf") else f"{key}.gguf"


# --- servers that take files only at start -------------------------------------------------


def start_with_file_error(profile_name: str, source: GgufSource,
                          server: str | None = None) -> UsageError:
    """How a profile whose server cannot import a file takes this one (from the profile)."""
    from llmctl.profiles import load_profile

    try:
        profile = load_profile(profile_name)
    except LlmctlError:
        raise UsageError(f"--backend {profile_name!r} is not ollama, model-runner or a "
                         "profile name", "See `llmctl profiles list`.") from None
    what = server or f"the {profile.name} profile's server"
    if profile.kind in (OLLAMA, MODEL_RUNNER):
        return UsageError(f"--backend takes ollama or model-runner for a file; the "
                          f"{profile.name} profile runs {BACKEND_LABELS[profile.kind]}",
                          f"Run: llmctl pull {source.quoted} --backend {profile.kind} "
                          "--endpoint URL")
    if profile.model is not None and profile.model.file_arg:
        return UsageError(
            f"{what} does not import model files over its API: it loads a GGUF file when it "
            "starts",
            f"Run: llmctl up {profile.name} --model-file {source.quoted}",
        )
    return UsageError(
        f"{what} does not import model files, and the {profile.name} profile takes no "
        "--model-file (it loads models by name: --model NAME)",
        f"Serve the file with `llmctl up llamacpp --model-file {source.quoted}`, or import it "
        f"into Ollama: `llmctl pull {source.quoted}`.",
    )


def _not_ollama(exc: ServerError, target: Target, source: GgufSource) -> LlmctlError:
    """NotOllama at ``target``: name what answers, and where the file can go instead."""
    from llmctl.probe import probe

    try:
        found = probe([target.url], include_configured=False, timeout=3.0).results[0]
    except Exception:  # the probe is only there to explain; the failure stands
        return exc
    if found.server == "ollama" and found.root.rstrip("/") != target.url.rstrip("/"):
        return UsageError(f"{target.url} is not Ollama's API root",
                          f"Give the server root: --endpoint {found.root}")
    if found.server == "docker-model-runner":
        return UsageError(f"{target.url} is Docker Model Runner, not Ollama",
                          f"Import into it with: llmctl pull {source.quoted} --backend "
                          f"model-runner --endpoint {target.url}")
    profile = PROBE_PROFILES.get(found.server or "")
    if profile:
        return start_with_file_error(profile, source, f"{found.server_name} at {target.url}")
    return exc


# --- the import ----------------------------------------------------------------------------


def import_gguf(
    source: GgufSource,
    target: Target,
    *,
    name: str | None = None,
    progress: ProgressSink = null_sink,
    stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    warn: Warn | None = None,
    use_cache: bool = True,
    clock: Callable[[], float] = time.monotonic,
    docker: Callable[[], DockerCli] | None = None,
) -> ImportResult:
    """Import ``source`` into ``target`` (Ollama or Docker Model Runner); ``docker`` makes
    the docker CLI runner (pointed at the daemon llmctl resolved)."""
    from llmctl.inputs import check_seconds

    check_seconds(stall_timeout, "--stall-timeout")
    model, name_from = choose_name(source, name, target.backend)
    if target.backend == MODEL_RUNNER:
        from llmctl.engine.docker_cli import DockerCli

        cli = docker() if docker is not None else DockerCli()
        return _into_model_runner(source, target, model, name_from, progress, warn, clock, cli)
    return _into_ollama(source, target, model, name_from, progress, stall_timeout, warn,
                        use_cache, clock)


def _client(target: Target, timeout: float) -> Any:
    from llmctl.backends.http import make_client

    headers = {"Authorization": f"Bearer {target.token}"} if target.token else None
    return make_client(target.url, timeout=timeout, headers=headers)


def _hash_progress(progress: ProgressSink, subject: str,
                   clock: Callable[[], float]) -> Callable[[int, int], None]:
    next_emit = [0.0]

    def report(done: int, total: int) -> None:
        now = clock()
        if done >= total or now >= next_emit[0]:
            next_emit[0] = now + EMIT_INTERVAL
            progress(ProgressEvent("model", "computing sha256", layer="sha256", current=done,
                                   total=total, done=done >= total, subject=subject))

    return report


def _into_ollama(source: GgufSource, target: Target, model: str, name_from: str,
                 progress: ProgressSink, stall_timeout: float, warn: Warn | None,
                 use_cache: bool, clock: Callable[[], float]) -> ImportResult:
    from llmctl.backends import ollama_import

    if gguf.split_part(source.path):
        raise UsageError(
            f"{source.path.name} is one part of a split GGUF; llmctl imports single files "
            "into Ollama",
            "Merge the parts first (llama.cpp: llama-gguf-split --merge FIRST-PART OUT.gguf), "
            f"or serve them as they are: llmctl up llamacpp --model-file {source.quoted}",
        )
    start = clock()
    with _client(target, stall_timeout + 5) as client:
        try:
            version = ollama_import.server_version(client)
        except ollama_import.NotOllama as exc:
            raise _not_ollama(exc, target, source) from None
        except ollama_import.OllamaUnreachable as exc:
            exc.hint = (f"{exc.hint} Or import into Docker Model Runner (--backend "
                        "model-runner), or serve the file as it is: llmctl up llamacpp "
                        f"--model-file {source.quoted}")
            raise
        report = _hash_progress(progress, model, clock)
        digest, cached = gguf.file_digest(source.path, source.stat, report, use_cache=use_cache)
        if cached:
            progress(ProgressEvent("model", f"sha256 {digest[:12]} from the cache (the file "
                                   "is unchanged since it was hashed)", subject=model))
        blob = f"sha256:{digest}"
        uploaded = False
        if ollama_import.blob_exists(client, blob):
            progress(ProgressEvent("model", f"blob {digest[:12]} is on the server already: "
                                   "not uploading it again", subject=model))
        else:
            try:
                ollama_import.upload_blob(client, source.path, blob, source.size,
                                          on_event=progress, subject=model)
            except ollama_import.DigestMismatch:
                if not cached:
                    raise
                # a stale cache entry: hash again, then upload under the right digest
                gguf.forget_digest(source.path)
                digest, cached = gguf.file_digest(source.path, source.path.stat(), report)
                blob = f"sha256:{digest}"
                ollama_import.upload_blob(client, source.path, blob, source.size,
                                          on_event=progress, subject=model)
            uploaded = True
        before = _ollama_model(client, model)
        existed = before is not None
        try:
            ollama_import.create_model(client, model, {file_key(source.path): blob},
                                       on_event=progress, stall_timeout=stall_timeout,
                                       clock=clock)
        except BaseException as exc:
            if not isinstance(exc, Exception) and not existed:  # Ctrl-C, SIGTERM
                _undo_create(target, model, warn)
            raise
        progress(ProgressEvent("model", "success", done=True, subject=model))
        found = _ollama_model(client, model)
    details: dict[str, Any] = {}
    if found is not None:
        details = {k: v for k, v in (("family", found.family), ("parameters", found.parameters),
                                     ("quantization", found.quantization)) if v}
    return ImportResult(
        model=model, backend=OLLAMA, endpoint=target.url, endpoint_source=target.source,
        file=str(source.path), file_size=source.size, name_from=name_from,
        duration_s=round(clock() - start, 3), via="http", sha256=digest,
        digest=found.digest if found else None, size=found.size if found else None,
        uploaded=uploaded, hashed=not cached, server_version=version, details=details,
        existed=existed, replaced=existed and (found is None or before.digest != found.digest),
    )


def _ollama_model(client: Any, model: str) -> Any:
    """The model as ``/api/tags`` lists it, or None."""
    from llmctl.backends import ollama_models
    from llmctl.names import same_model

    try:
        for m in ollama_models.list_models(client):
            if same_model(m.name, model, OLLAMA):
                return m
    except Exception:  # the lookup only adds detail; the import decides success
        return None
    return None


def _undo_create(target: Target, model: str, warn: Warn | None) -> None:
    """After an interrupted create: remove the model if the server made it anyway."""
    from llmctl.backends import ollama_models

    try:
        with _client(target, 5.0) as client:
            if _ollama_model(client, model) is None:
                return
            ollama_models.delete(client, model)
        if warn:
            warn(f"interrupted after Ollama had created {model}: removed it again")
    except Exception as exc:
        if warn:
            warn(f"interrupted while creating {model}; it may exist half-made: remove it "
                 f"with `llmctl rm {model} --endpoint {target.url}` ({exc})")


# --- Docker Model Runner ---------------------------------------------------------------------


def package_command(source: GgufSource, model: str) -> str:
    return f"docker model package --gguf {source.quoted} {shlex.quote(model)}"


def _into_model_runner(source: GgufSource, target: Target, model: str, name_from: str,
                       progress: ProgressSink, warn: Warn | None,
                       clock: Callable[[], float], cli: DockerCli) -> ImportResult:
    from llmctl.engine.docker_cli import NO_AUTO_INSTALL, DockerCliMissing, PluginMissing

    start = clock()
    env = dict(NO_AUTO_INSTALL)
    if target.source != "default":  # the plugin goes to the runner llmctl resolved
        env["MODEL_RUNNER_HOST"] = target.url
    layer = "gguf"
    shown: set[str] = set()
    next_emit = [0.0]

    def on_line(raw: str) -> None:
        text = _ANSI.sub("", raw).strip()
        if not text:
            return
        m = _TRANSFERRED.search(text)
        if m:  # "Transferred: 12.34 MB" (MiB, two decimals: the last one may round down)
            mib = float(m.group(1))
            whole = mib >= round(source.size / (1 << 20), 2)
            done = source.size if whole else min(int(mib * (1 << 20)), source.size)
            now = clock()
            if now >= next_emit[0] or done >= source.size:
                next_emit[0] = now + EMIT_INTERVAL
                progress(ProgressEvent("model", "transferring", layer=layer, current=done,
                                       total=source.size, done=done >= source.size,
                                       subject=model))
            return
        if text not in shown:
            shown.add(text)
            progress(ProgressEvent("model", text, subject=model))

    before = _runner_ids(target, cli)
    progress(ProgressEvent("model", f"running {package_command(source, model)}",
                           subject=model))
    timeout = max(PACKAGE_MIN_TIMEOUT, source.size / PACKAGE_BYTES_PER_S)
    try:
        result = cli.run("model", "package", "--gguf", str(source.path), model,
                         timeout=timeout, env=env, on_line=on_line)
        _check_plugin(cli, result)
    except (PluginMissing, DockerCliMissing) as exc:
        raise ServerError(
            f"importing into Docker Model Runner needs the `docker model` CLI plugin: "
            f"{exc.message}",
            f"{exc.hint} Then run: {package_command(source, model)}",
        ) from None
    except BaseException as exc:
        if not isinstance(exc, Exception):
            _undo_package(target, before, warn, cli)
        raise
    if not result.ok:
        last = next((_ANSI.sub("", ln).strip() for ln in reversed(result.output.splitlines())
                     if _ANSI.sub("", ln).strip()), "no output")
        low = result.output.lower()
        hint = ("Start it (`llmctl up model-runner`) and run the import again."
                if "not running" in low else f"Run it yourself to see everything: "
                f"{package_command(source, model)}")
        raise ServerError(f"`docker model package` failed (exit {result.returncode}): {last}",
                          hint, details={"output": result.output[-2000:]})
    progress(ProgressEvent("model", "success", done=True, subject=model))
    found = _runner_model(target, model, cli)
    details: dict[str, Any] = {}
    if found is not None:
        details = {k: v for k, v in (("family", found.architecture),
                                     ("parameters", found.parameters),
                                     ("quantization", found.quantization)) if v}
    return ImportResult(
        model=model, backend=MODEL_RUNNER, endpoint=target.url, endpoint_source=target.source,
        file=str(source.path), file_size=source.size, name_from=name_from,
        duration_s=round(clock() - start, 3), via="docker model",
        digest=found.id if found else None, size_text=found.size if found else None,
        hashed=False, uploaded=True, details=details,
    )


def _check_plugin(cli: Any, result: Any) -> None:
    """Raise PluginMissing when `docker model` is not there. Without the plugin, the docker
    CLI first rejects `--gguf` as its own unknown flag (exit 125): confirm with a flagless
    `docker model version`, as ``DockerCli`` does for its own calls."""
    from llmctl.engine.docker_cli import PluginMissing, install_hint, is_plugin_missing

    if is_plugin_missing(result, "model"):
        raise PluginMissing("model", install_hint("model", desktop=False))
    if result.returncode == 125 and "unknown flag" in result.output:
        cli.model("version")  # raises PluginMissing when the plugin is missing


def _runner_models(target: Target, cli: DockerCli | None = None) -> list[Any] | None:
    """The runner's models over HTTP, else through `docker model ls --json`; None if neither
    answers."""
    from llmctl.backends import model_runner

    try:
        with _client(target, 10.0) as client:
            return list(model_runner.list_models(client))
    except Exception:
        pass
    try:
        return list(model_runner.cli_list(cli))
    except Exception:
        return None


def _runner_ids(target: Target, cli: DockerCli | None = None) -> set[str] | None:
    found = _runner_models(target, cli)
    return None if found is None else {m.id for m in found}


def _runner_model(target: Target, model: str, cli: DockerCli | None = None) -> Any:
    from llmctl.names import same_model

    for m in _runner_models(target, cli) or []:
        if any(same_model(t, model, MODEL_RUNNER) for t in m.tags):
            return m
    return None


def _undo_package(target: Target, before: set[str] | None, warn: Warn | None,
                  cli: DockerCli | None = None) -> None:
    """After an interrupted `docker model package`: a model loaded but not yet tagged is
    left in the store without a name; remove what appeared untagged since the start."""
    from llmctl.backends import model_runner

    if before is None:
        return
    leftovers = [m.id for m in _runner_models(target, cli) or []
                 if m.id not in before and not m.tags]
    for mid in leftovers:
        with contextlib.suppress(Exception):
            try:
                with _client(target, 10.0) as client:
                    model_runner.delete(client, mid, force=True)
            except model_runner.RunnerUnreachable:
                model_runner.cli_rm(mid, force=True, cli=cli)
            if warn:
                warn(f"interrupted: removed the untagged model {mid[:19]} the package left")


def backend_label(backend: str) -> str:
    return BACKEND_LABELS.get(backend, backend)
