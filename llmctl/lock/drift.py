"""`llmctl verify`: what runs now against a lock, as a precise list of differences.

Each :class:`Drift` names the server, what differs (``kind``), the locked and the found
value, one line saying it, and the command that fixes it. Kinds:

==================== ==================================================================
server-missing       the lock lists a server llmctl does not run here
server-stopped       its container exists but is not running (its models are not checked)
server-unreachable   it runs but its models API does not answer (its models are not checked)
image-moved          the same reference now means another image (a moved tag, a rebuild)
image-changed        the container runs another reference than the lock's
option-changed       port, bind, volumes, GPU, environment keys, secret names, or the spec
profile-changed      the profile's resolved values changed since the lock was made
model-repushed       a model of that name has another manifest digest than the lock's
model-missing        a locked model is not on the server
model-extra          the server has a model the lock does not list
endpoint-missing     a locked endpoint entry is gone from the endpoint file
endpoint-changed     a locked endpoint entry points elsewhere (URL, API or model)
==================== ==================================================================

Only reads: the engine (containers, images) and each server's models list, concurrently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.errors import LlmctlError
from llmctl.lock.capture import (
    DEFAULT_TIMEOUT,
    Observed,
    endpoint_file_entries,
    observe,
    runtime_of,
)
from llmctl.lock.images import describe, is_locked
from llmctl.lock.model import LockedServer, LockFile
from llmctl.plan import LABEL_INSTANCE, LABEL_ROLE

if TYPE_CHECKING:
    from llmctl.engine.model import ContainerInfo, Engine


@dataclass(frozen=True)
class Drift:
    kind: str
    server: str
    subject: str  # what differs: image, port, a model's name, an endpoint's name
    locked: Any
    found: Any
    message: str
    fix: str | None = None


@dataclass
class VerifyReport:
    lock: str  # the lock file
    equal: bool
    servers: int  # servers checked
    models: int  # locked models checked
    endpoints: int
    drift: list[Drift] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def _short(digest: str | None) -> str:
    return digest[:19] if digest and digest.startswith("sha256:") else str(digest)


def _up(server: LockedServer, *extra: str) -> str:
    words = ["llmctl up", server.target]
    if server.name != server.target:
        words.append(f"--name {server.name}")
    return " ".join([*words, "--frozen", *extra])


def _server_drift(locked: LockedServer, info: ContainerInfo | None, engine: Engine,
                  timeout: float) -> tuple[list[Drift], list[str]]:
    name = locked.name
    if info is None:
        return [Drift("server-missing", name, "server", locked.container, None,
                      f"{name}: not running here (no container {locked.container} that llmctl "
                      "manages)", _up(locked))], []
    drift: list[Drift] = []
    wants_models = bool(locked.models) or runtime_of(info) is not None
    o = observe(engine, info, timeout=timeout, weights=False, list_models=wants_models)
    if not o.running:
        drift.append(Drift("server-stopped", name, "server", "running", info.state,
                           f"{name}: {info.name} is {info.state}; its models are not checked",
                           _up(locked)))
    drift += _image_drift(locked, o)
    drift += _option_drift(locked, o)
    if locked.profile_hash and o.server.profile_hash != locked.profile_hash:
        found = o.server.profile_hash
        drift.append(Drift(
            "profile-changed", name, "profile", locked.profile_hash, found,
            f"{name}: the profile {locked.target!r} " + (
                "changed since the lock was made" if found else "cannot be read now"),
            "Restore the profile, or accept it: `llmctl lock`."))
    if o.running and wants_models:
        drift += _model_drift(locked, o)
    return drift, o.notes


def _image_drift(locked: LockedServer, o: Observed) -> list[Drift]:
    want = locked.image
    if want is None or is_locked(want, o.image_found):
        return []
    now = o.server.image
    found = describe(o.image_found, want.repository)
    locked_text = want.digest or f"image ID {want.id}"
    if now is not None and now.ref != want.ref:
        return [Drift("image-changed", locked.name, "image", f"{want.ref} ({locked_text})",
                      f"{now.ref} ({found})",
                      f"{locked.name}: runs {now.ref}, the lock has {want.ref}",
                      _up(locked, "--recreate"))]
    local = " (a local image: rebuild or load it, it cannot be pulled)" if want.local else ""
    return [Drift("image-moved", locked.name, "image", locked_text, found,
                  f"{locked.name}: image {want.ref} moved: the container runs {_short(found)}, "
                  f"the lock pins {_short(locked_text)}{local}", _up(locked, "--recreate"))]


OPTION_WORDS = {"port": "host port", "bind": "bind address", "volumes": "volumes",
                "gpus": "GPU", "env_keys": "environment keys", "secret_env": "secrets"}


def _option_drift(locked: LockedServer, o: Observed) -> list[Drift]:
    want, now = locked.options, o.server.options
    drift = []
    for key, word in OPTION_WORDS.items():
        a, b = getattr(want, key), getattr(now, key)
        if a != b:
            show = (lambda v: ", ".join(v) or "none") if isinstance(a, tuple) else str
            drift.append(Drift("option-changed", locked.name, key, a, b,
                               f"{locked.name}: {word} {show(b)}, the lock has {show(a)}",
                               _up(locked, "--recreate") + " (with the locked options)"))
    if not drift and want.spec_hash and now.spec_hash != want.spec_hash:
        drift.append(Drift("option-changed", locked.name, "spec", want.spec_hash, now.spec_hash,
                           f"{locked.name}: its spec changed (environment values, command or "
                           "mounts)", _up(locked, "--recreate") + " (with the locked options)"))
    return drift


def _model_drift(locked: LockedServer, o: Observed) -> list[Drift]:
    name = locked.name
    if o.models_error:
        return [Drift("server-unreachable", name, "models", len(locked.models), None,
                      f"{name}: its models could not be listed ({o.models_error}); not checked",
                      f"Check it with `llmctl status`; restart it with `{_up(locked)}`.")]
    found = {m.name: m for m in o.server.models}
    drift = []
    for m in locked.models:
        now = found.get(m.name)
        if now is None:
            drift.append(Drift("model-missing", name, m.name, m.digest, None,
                               f"{name}: model {m.name} is missing", "llmctl pull --frozen"))
        elif now.digest != m.digest:
            fix = ("llmctl pull --frozen" if m.pull_by_digest else
                   "Ollama cannot pull by digest (ollama/ollama#6886): restore the locked "
                   "model from a copy that has it, or accept this one with `llmctl lock`.")
            drift.append(Drift("model-repushed", name, m.name, m.digest, now.digest,
                               f"{name}: model {m.name} is {_short(now.digest)}, the lock pins "
                               f"{_short(m.digest)} (re-pushed under the same name?)", fix))
    locked_names = {m.name for m in locked.models}
    for extra in sorted(set(found) - locked_names):
        drift.append(Drift("model-extra", name, extra, None, found[extra].digest,
                           f"{name}: model {extra} is not in the lock",
                           f"Remove it (`llmctl rm {extra}`), or record it with `llmctl lock`."))
    return drift


def _endpoint_drift(lock: LockFile, read: Callable[[], list[Any]]) -> tuple[list[Drift], int]:
    if not lock.endpoints:
        return [], 0
    try:
        entries = {ep.name: ep for ep, _default in read()}
    except LlmctlError as exc:
        return [Drift("endpoint-missing", e.server, e.name, e.url, None,
                      f"endpoint {e.name}: the endpoint file cannot be read ({exc.message})",
                      exc.hint) for e in lock.endpoints], len(lock.endpoints)
    drift = []
    for e in lock.endpoints:
        ep = entries.get(e.name)
        if ep is None:
            drift.append(Drift("endpoint-missing", e.server, e.name, e.url, None,
                               f"endpoint {e.name} (for {e.server}) is gone from the endpoint "
                               "file", f"llmctl endpoint write --name {e.name} --url {e.url}"))
            continue
        for key, want, now in (("url", e.url, ep.endpoint), ("api_type", e.api_type, ep.api_type),
                               ("model", e.model, ep.model or "")):
            if want != now:
                drift.append(Drift("endpoint-changed", e.server, f"{e.name}.{key}", want, now,
                                   f"endpoint {e.name}: {key} is {now or 'empty'}, the lock "
                                   f"has {want or 'empty'}",
                                   "Write it back with `llmctl endpoint write`, or accept it: "
                                   "`llmctl lock`."))
    return drift, len(lock.endpoints)


def verify(engine: Engine, lock: LockFile, *, timeout: float = DEFAULT_TIMEOUT,
           endpoints: Callable[[], list[Any]] | None = None) -> VerifyReport:
    """Compare what runs on ``engine`` with ``lock``; never changes anything."""
    start = time.monotonic()
    infos = {i.labels.get(LABEL_INSTANCE, i.name): i for i in engine.list_managed()
             if LABEL_ROLE not in i.labels}  # servers, not `llmctl expose`'s proxies
    servers = list(lock.servers)
    results: list[tuple[list[Drift], list[str]]] = []
    if servers:
        with ThreadPoolExecutor(max_workers=min(8, len(servers))) as pool:
            results = list(pool.map(
                lambda s: _server_drift(s, infos.get(s.name), engine, timeout), servers))
    drift = [d for found, _notes in results for d in found]
    notes = [n for _found, found_notes in results for n in found_notes]
    more, n_endpoints = _endpoint_drift(lock, endpoints or endpoint_file_entries)
    drift += more
    from llmctl import __version__

    if lock.llmctl_version != __version__:
        notes.append(f"the lock was written by llmctl {lock.llmctl_version}; this is "
                     f"{__version__}")
    return VerifyReport(
        lock=lock.path or "", equal=not drift, servers=len(servers),
        models=sum(len(s.models) for s in servers), endpoints=n_endpoints, drift=drift,
        notes=notes, elapsed_s=round(time.monotonic() - start, 3))
