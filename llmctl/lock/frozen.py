"""`up --frozen` and `pull --frozen`: run what the lock names, or refuse and say why.

- Images: the container runs ``repository@sha256:...`` (pulled by digest when missing); its
  labels, spec hash included, stay those of the tag it was planned with, so a frozen
  container and an unfrozen one of the same image are the same spec. A local image (built
  or loaded, no registry digest) must already be here with the locked image ID.
- Docker Model Runner models: pulled as ``repo@sha256:...`` and tagged with the locked
  name; a model already here with the locked digest is only (re)tagged.
- Ollama models: Ollama cannot pull by digest (ollama/ollama#6886). A model here with the
  locked digest is left alone (a pull could replace it with a re-pushed one); a missing one
  is pulled by name and its digest checked after the pull: another digest is refused
  (exit 1). A model here with another digest is refused without pulling. Nothing of the
  user's is removed; the message says what to do.
- :func:`image_pins`: the lock's images as a pin map (reference -> the same image by
  digest), which `llmctl export --pin-digests` writes instead of the tags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.errors import ConflictError, ExitCode, LlmctlError
from llmctl.lock.capture import MODEL_RUNNER, OLLAMA, read_models
from llmctl.lock.images import describe, is_locked
from llmctl.lock.model import LockedModel, LockedServer, LockFile, normalize_digest
from llmctl.progress import ProgressSink, null_sink

if TYPE_CHECKING:
    from llmctl.engine.model import Engine
    from llmctl.targets.base import Workload

Notify = Callable[[str], None]
OLLAMA_CANNOT = ("Ollama cannot pull a model by digest (ollama/ollama#6886), so the lock "
                 "verifies Ollama models but cannot enforce them")


class FrozenRefused(LlmctlError):
    """What runs, or would run, is not what the lock names (exit 1): each problem on a
    line, nothing of the user's removed."""

    exit_code = ExitCode.FAILURE


def _quiet(_: str) -> None:
    pass


def image_pins(lock: LockFile) -> dict[str, str]:
    """The pin map for `llmctl export --pin-digests`: each locked image's reference (as the
    lock records it, e.g. ``ollama/ollama:0.40.2``) -> the same image by digest,
    ``ollama/ollama:0.40.2@sha256:...``: the tag stays for people to read, engines pull by
    the digest, and charts that write ``repository:tag`` rebuild a valid reference from it.
    When the digest was found in another repository than the tag's, ``repository@sha256:...``.
    Local images (no registry digest) have no pin: an export keeps their reference."""
    from llmctl.lock.images import familiar, repository

    pins: dict[str, str] = {}
    for s in lock.servers:
        image = s.image
        if image is None or not image.pinned:
            continue
        same = familiar(repository(image.ref)) == image.repository and "@" not in image.ref
        pins[image.ref] = f"{image.ref}@{image.digest}" if same else image.pinned
    return pins


def server_for(lock: LockFile, target: str, instance: str | None) -> LockedServer:
    """The locked server `up TARGET [--name INSTANCE] --frozen` starts."""
    name = instance or target
    server = lock.server(name)
    if server is None:
        have = ", ".join(s.name for s in lock.servers) or "none"
        raise FrozenRefused(
            f"{lock.path or 'the lock'} has no server {name!r} (it has: {have})",
            f"Start it without --frozen and record it (`llmctl up {target}"
            f"{' --name ' + name if instance else ''}`, then `llmctl lock`), or name one of "
            "those.", details={"server": name, "servers": [s.name for s in lock.servers]})
    if server.target != target:
        raise FrozenRefused(
            f"the lock's {name!r} runs {server.target!r}, not {target!r}",
            f"Run `llmctl up {server.target}{' --name ' + name if instance else ''} --frozen`.",
            details={"server": name, "locked": server.target, "given": target})
    return server


def check_workload(locked: LockedServer, planned: Workload) -> list[str]:
    """What `up` with these options would run that differs from the lock: refused, one
    line each. Returns warnings for differences the lock cannot hold against this machine
    (environment values, command, host paths: the spec hash)."""
    spec = planned.spec
    if spec is None or locked.image is None:
        return []
    from llmctl.plan import LABEL_SPEC_HASH

    problems = []
    want = locked.options
    # The Model Runner's image is Docker's choice (see prepare): not held against the lock.
    if spec.image != locked.image.ref and locked.target != MODEL_RUNNER:
        problems.append(f"image {spec.image}, the lock has {locked.image.ref}")
    pairs: list[tuple[str, Any, Any]] = [
        ("port", want.port, spec.host_port), ("bind", want.bind, spec.bind),
        ("volumes", tuple(sorted(want.volumes)), tuple(sorted(v.name for v in spec.volumes))),
        ("GPU", want.gpus, spec.gpus),
        ("secrets", tuple(sorted(want.secret_env)), tuple(sorted(planned.secret_env))),
    ]
    for word, a, b in pairs:
        if a != b:
            show = (lambda v: ", ".join(v) or "none") if isinstance(a, tuple) else str
            problems.append(f"{word} {show(b)}, the lock has {show(a)}")
    if problems:
        opts = [f"--port {want.port}" if want.port else "",
                f"--bind {want.bind}" if want.bind and want.bind != "127.0.0.1" else "",
                "--gpus all" if want.gpus else ""]
        raise FrozenRefused(
            f"{locked.name}: these options differ from the lock: " + "; ".join(problems),
            "Give the options the lock was made with (" + " ".join(o for o in opts if o)
            + " ...), or record the new ones: `up` without --frozen, then `llmctl lock`.",
            details={"server": locked.name, "problems": problems})
    warnings = []
    if want.spec_hash and spec.labels.get(LABEL_SPEC_HASH) != want.spec_hash:
        warnings.append(f"{locked.name}: its environment values, command or host paths differ "
                        "from the lock's (spec hash); `llmctl verify` will report it")
    return warnings


def prepare(engine: Engine, planned: Workload, locked: LockedServer, *,
            recreate: bool = False, progress: ProgressSink = null_sink,
            notify: Notify = _quiet, warn: Notify = _quiet) -> str | None:
    """`up --frozen` before the container starts: ``planned`` (what `up` would run)
    checked against the lock (:func:`check_workload`), then the locked image made ready
    (:func:`prepare_image`). Returns the reference to run the container by (None: its
    tag). The Model Runner's own image is Docker's choice (Desktop, or `docker model
    install-runner`): verified by `llmctl verify`, not pinned here."""
    for w in check_workload(locked, planned):
        warn(w)
    if planned.spec is None or locked.target == MODEL_RUNNER:
        warn("--frozen: the Model Runner's own image is chosen by Docker (Desktop or `docker "
             "model install-runner`): `llmctl verify` checks it; its models are pinned")
        return None
    return prepare_image(engine, locked, planned.spec.name, recreate=recreate,
                         progress=progress, notify=notify)


def prepare_image(engine: Engine, locked: LockedServer, container: str, *,
                  recreate: bool = False, progress: ProgressSink = null_sink,
                  notify: Notify = _quiet) -> str | None:
    """Make the locked image ready to run and return the reference to run it by
    (``repository@sha256:...``; None: run by its tag, it is the locked local image). A
    container of that name running another image is refused, or removed with ``recreate``
    (its volumes stay)."""
    image = locked.image
    if image is None:
        return None
    existing = engine.get(container)
    if existing is not None:
        found = engine.image_digests(existing.image_id or existing.image)
        if not is_locked(image, found):
            now = describe(found, image.repository)
            if not recreate:
                raise ConflictError(
                    f"{container} runs {now}, not the image the lock pins "
                    f"({image.digest or image.id})",
                    "Add --recreate to replace it with the locked image (its volume and "
                    "models are kept).",
                    details={"container": container, "found": now,
                             "locked": image.digest or image.id})
            notify(f"removing {container} to run the locked image (it runs {now}; volumes "
                   "are kept)")
            engine.remove(container)
    if image.local:
        found = engine.image_digests(image.ref)
        if not is_locked(image, found):
            have = describe(found, None) if found else "no such image here"
            raise FrozenRefused(
                f"{locked.name}: the lock pins the local image {image.ref} by its ID "
                f"{image.id} (it was built or loaded, it has no registry digest), and this "
                f"engine has {have}",
                "Build or load that image here (`docker load -i image.tar`), or push it to a "
                "registry and lock again so that it can be pulled by digest.",
                details={"server": locked.name, "locked": image.id})
        return None
    pinned = image.pinned
    assert pinned is not None
    if not engine.image_present(pinned):
        engine.pull_image(pinned, progress, alternative=None)
    if not is_locked(image, engine.image_digests(pinned)):
        raise FrozenRefused(f"{locked.name}: the image pulled as {pinned} does not carry that "
                            "digest", "Check the registry and the daemon, then try again.")
    return pinned


# --- models -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrozenModel:
    server: str
    name: str
    digest: str
    action: str  # present | tagged | pulled | pulled by digest


@dataclass
class FrozenModels:
    models: list[FrozenModel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _split_runner_name(name: str) -> tuple[str, str]:
    """``ai/smollm2:360M-Q4_K_M`` -> (``ai/smollm2``, ``360M-Q4_K_M``); the tag is the part
    after the last ``:`` that follows the last ``/`` (a registry may have a port)."""
    head, sep, last = name.rpartition("/")
    if ":" in last:
        last, tag = last.split(":", 1)
    else:
        tag = "latest"
    return f"{head}{sep}{last}", tag


def ensure_models(
    locked: LockedServer, url: str, *, only: list[LockedModel] | None = None,
    progress: ProgressSink = null_sink, stall_timeout: float = 60.0,
    timeout: float | None = None, list_timeout: float = 10.0,
) -> FrozenModels:
    """Put the locked models (``only``: those) on the server answering at ``url``, as the
    module doc says; FrozenRefused lists what could not be made to match (after doing what
    could). Other models on the server are left alone."""
    from llmctl.models import Target

    wanted = list(locked.models if only is None else only)
    result = FrozenModels()
    if not wanted:
        return result
    problems: list[str] = []
    for runtime in sorted({m.runtime for m in wanted}):
        backend = OLLAMA if runtime == OLLAMA else MODEL_RUNNER
        target = Target(backend, url.rstrip("/"), f"managed container {locked.container}")
        here = read_models(runtime, target.url, timeout=list_timeout, untagged=True)
        for m in (m for m in wanted if m.runtime == runtime):
            try:
                if runtime == MODEL_RUNNER:
                    result.models.append(_runner_model(locked, m, here, target, progress,
                                                       stall_timeout, timeout, list_timeout))
                else:
                    result.models.append(_ollama_model(locked, m, here, target, progress,
                                                       stall_timeout, timeout))
            except FrozenRefused as exc:
                problems.append(exc.message)
    if problems:
        ollama = any(m.runtime == OLLAMA for m in wanted)
        raise FrozenRefused(
            "\n".join(problems),
            (f"{OLLAMA_CANNOT}. Nothing was removed. To accept what the registry serves now: "
             "`llmctl lock` records it; to get the locked bytes back: restore the server's "
             "volume from a machine or backup that has them.") if ollama else
            "Nothing was removed. Check the registry holds the locked digests, then retry.",
            details={"server": locked.name, "problems": problems,
                     "done": [vars(x) for x in result.models]})
    return result


def _runner_model(locked: LockedServer, m: LockedModel, here: list[LockedModel], target: Any,
                  progress: ProgressSink, stall_timeout: float, timeout: float | None,
                  list_timeout: float) -> FrozenModel:
    from llmctl import models
    from llmctl.backends import model_runner
    from llmctl.backends.http import make_client
    from llmctl.names import route

    if any(h.name == m.name and h.digest == m.digest for h in here):
        return FrozenModel(locked.name, m.name, m.digest, "present")
    repo, tag = _split_runner_name(m.name)
    action = "tagged"
    if not any(h.digest == m.digest for h in here):
        models.pull(route(f"{repo}@{m.digest}", MODEL_RUNNER), target, progress=progress,
                    stall_timeout=stall_timeout, timeout=timeout)
        action = "pulled by digest"
    if m.name != m.digest:  # an untagged model is known by its id: nothing to tag
        with make_client(target.url, timeout=list_timeout) as client:
            model_runner.tag(client, m.digest, repo, tag)
    now = read_models(MODEL_RUNNER, target.url, timeout=list_timeout)
    if not any(h.name == m.name and h.digest == m.digest for h in now):
        raise FrozenRefused(f"{locked.name}: model {m.name} is not {m.digest} after the pull "
                            "by digest")
    return FrozenModel(locked.name, m.name, m.digest, action)


def _ollama_model(locked: LockedServer, m: LockedModel, here: list[LockedModel], target: Any,
                  progress: ProgressSink, stall_timeout: float,
                  timeout: float | None) -> FrozenModel:
    from llmctl import models
    from llmctl.names import route

    have = next((h for h in here if h.name == m.name), None)
    if have is not None and have.digest == m.digest:
        return FrozenModel(locked.name, m.name, m.digest, "present")
    if have is not None:
        raise FrozenRefused(
            f"{locked.name}: model {m.name} here is {have.digest}, the lock pins {m.digest}; "
            "not pulled (a pull replaces it with whatever the registry serves now)")
    pulled = models.pull(route(m.name, OLLAMA), target, progress=progress,
                         stall_timeout=stall_timeout, timeout=timeout)
    got = normalize_digest(pulled.digest)
    if got != m.digest:
        raise FrozenRefused(
            f"{locked.name}: model {m.name} was pulled, and the registry now serves "
            f"{got or 'an unknown digest'}, not the locked {m.digest}; the pulled model stays "
            f"(remove it with `llmctl rm {m.name}` if you do not want it)")
    return FrozenModel(locked.name, m.name, m.digest, "pulled")


def find_model(server: LockedServer, name: str, backend: str) -> LockedModel | None:
    """The locked model ``name`` names on ``server`` (compared as the backend compares)."""
    from llmctl.names import same_model

    return next((m for m in server.models if m.name == name
                 or same_model(m.name, name, backend)), None)


def server_at(lock: LockFile, source: str, url: str,
              containers: Mapping[str, str] | None = None) -> LockedServer | None:
    """The locked server a model target is: by its managed container (``source`` is
    ``managed container NAME``), else by URL (``containers``: locked name -> its URL)."""
    name = source.removeprefix("managed container ") if source.startswith("managed ") else None
    for s in lock.servers:
        if name and s.container == name:
            return s
    for s in lock.servers:
        if containers and containers.get(s.name, "").rstrip("/") == url.rstrip("/"):
            return s
    return None
