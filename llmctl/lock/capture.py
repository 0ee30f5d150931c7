"""What runs now, as a lock records it: `llmctl lock` writes it, `llmctl verify` compares it.

Per server llmctl manages (a labelled container: a profile's, or the Model Runner container
llmctl started): the image by digest (:mod:`llmctl.lock.images`), the options that shape
the container, a hash of the resolved profile, and the models the server holds, read from
its own API:

- Ollama: ``GET /api/tags`` gives each model's manifest digest (64 hex, no prefix: made
  ``sha256:<hex>`` here). The manifest itself, read from the container
  (``<models>/manifests/<host>/<namespace>/<model>/<tag>``, checked against that digest),
  lists the weights blobs with their sizes. Ollama cannot pull by digest
  (ollama/ollama#6886): a lock verifies its models but cannot enforce them.
- Docker Model Runner: ``GET /models`` gives each model's id, which is its manifest digest
  (``sha256:<hex>``), and its tags (one entry per tag; an untagged model has no name to be
  used by and is left out); the runner pulls ``repo@sha256:...``. Its API lists no blobs:
  the manifest digest covers them.
- Other servers (vLLM, TGI, llama.cpp, LocalAI) serve the model they were started with: it
  is part of the container's spec (its hash), not a model store to list.

Servers are observed concurrently; nothing here changes anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from llmctl import __version__
from llmctl.errors import LlmctlError, NotFoundError, ServerError
from llmctl.lock.images import locked_image
from llmctl.lock.model import (
    LockedBlob,
    LockedEndpoint,
    LockedImage,
    LockedModel,
    LockedOptions,
    LockedServer,
    LockFile,
    normalize_digest,
)
from llmctl.plan import (
    LABEL_API,
    LABEL_IMAGE_REF,
    LABEL_INSTANCE,
    LABEL_PORT,
    LABEL_PROFILE,
    LABEL_ROLE,
    LABEL_SECRETS,
    LABEL_SPEC_HASH,
    parse_secrets_label,
)

if TYPE_CHECKING:
    from llmctl.engine.model import ContainerInfo, Engine, ImageDigests
    from llmctl.profiles import Profile

MODEL_RUNNER = "model-runner"
OLLAMA = "ollama"
DEFAULT_TIMEOUT = 10.0
OLLAMA_MODELS_DIR = "/root/.ollama/models"  # the image's $HOME/.ollama/models (§1.1)
# Manifest layers that hold weights (the rest: template, params, license, system).
WEIGHT_TYPES = ("application/vnd.ollama.image.model", "application/vnd.ollama.image.projector",
                "application/vnd.ollama.image.adapter")
MANIFEST_LIMIT = 1 << 20


def profile_hash(profile: Profile) -> str:
    """sha256 of the resolved profile (every value that shapes a container; not where the
    file lives, which differs from machine to machine)."""
    doc = asdict(profile)
    doc.pop("source", None)
    doc.pop("origin", None)
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def runtime_of(info: ContainerInfo) -> str | None:
    """The model store a container serves: ollama, model-runner, or None (a server that
    loads the model it was started with)."""
    if info.labels.get(LABEL_PROFILE) == MODEL_RUNNER:
        return MODEL_RUNNER
    if info.labels.get(LABEL_API) == OLLAMA:
        return OLLAMA
    return None


@dataclass
class Observed:
    """One server as it is now: what a lock would record, and what could not be read."""

    server: LockedServer
    info: ContainerInfo
    endpoint: str | None  # where its API answers on this machine
    image_found: ImageDigests | None = None
    models_error: str | None = None  # why its models could not be listed (None: listed)
    notes: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.info.running


def _options(info: ContainerInfo, image: ImageDigests | None) -> LockedOptions:
    cport = int(info.labels.get(LABEL_PORT) or 0)
    # The API's port; published on several addresses (the Model Runner: loopback and the
    # bridge gateway), the loopback one: what `up` was given as --bind.
    ports = sorted([p for p in info.ports if p.container_port == cport] or info.ports,
                   key=lambda p: (p.host_ip not in ("127.0.0.1", "::1"), p.host_ip, p.host_port))
    port = next(iter(ports), None)
    own = set(image.env_keys) if image else set()
    secrets = parse_secrets_label(info.labels.get(LABEL_SECRETS))
    return LockedOptions(
        port=port.host_port if port else None, bind=port.host_ip if port else None,
        volumes=tuple(sorted(info.volumes)), gpus=info.gpus,
        env_keys=tuple(sorted(k for k in info.env_keys if k not in own)),
        secret_env=tuple(sorted(secrets[1])) if secrets else (),
        spec_hash=info.labels.get(LABEL_SPEC_HASH))


def _profile(name: str, notes: list[str]) -> Profile | None:
    from llmctl.profiles import load_profile

    if name == MODEL_RUNNER:
        return None
    try:
        return load_profile(name)
    except LlmctlError as exc:
        notes.append(f"profile {name!r} could not be read: {exc.message}")
        return None


def observe(engine: Engine, info: ContainerInfo, *, timeout: float = DEFAULT_TIMEOUT,
            weights: bool = True, list_models: bool = True) -> Observed:
    """``info`` (a managed container) as a lock records it. Never raises for what a
    server does not answer: ``models_error`` says it. ``weights``: read each Ollama model's
    manifest from the container for its blobs (lock; verify skips it: the manifest digest
    covers them)."""
    from llmctl.managed import server_from

    notes: list[str] = []
    server = server_from(info, engine.address_host)
    found = engine.image_digests(info.image_id or info.image)
    ref = info.labels.get(LABEL_IMAGE_REF) or info.image
    image: LockedImage | None = locked_image(ref, found) if found else None
    if found is None:
        notes.append(f"the image {ref} of {info.name} is not on this daemon any more")
    profile = _profile(server.profile, notes)
    runtime = runtime_of(info)
    observed = Observed(
        server=LockedServer(
            name=info.labels.get(LABEL_INSTANCE, info.name), target=server.profile,
            api=server.api, container=info.name,
            profile_hash=profile_hash(profile) if profile else None, image=image,
            options=_options(info, found)),
        info=info, endpoint=server.endpoint, image_found=found, notes=notes)
    if runtime is None or not list_models:
        return observed
    if not info.running:
        observed.models_error = f"{info.name} is {info.state}"
        return observed
    if not server.endpoint:
        observed.models_error = f"{info.name} publishes no port"
        return observed
    try:
        models = read_models(runtime, server.endpoint, timeout=timeout)
    except LlmctlError as exc:
        observed.models_error = exc.message
        return observed
    if weights and runtime == OLLAMA:
        models_dir = (profile.env.get("OLLAMA_MODELS") if profile else None) or OLLAMA_MODELS_DIR
        models = [_with_weights(engine, info.name, models_dir, m, notes) for m in models]
    observed.server = replace(observed.server, models=tuple(models))
    return observed


def read_models(runtime: str, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                untagged: bool = False) -> list[LockedModel]:
    """The models of the server at ``url`` (its root) with their manifest digests
    (``untagged``: Model Runner's untagged models too, named by their digest). Raises
    ServerError (unreachable, not answering in ``timeout`` seconds, a bad answer)."""
    import httpx

    from llmctl.backends.http import (
        TimedOut,
        describe_transport_error,
        hard_deadline,
        make_client,
    )

    try:
        with hard_deadline(timeout, "listing models", url) as cutter, \
                make_client(url, timeout=timeout, cutter=cutter,
                            connect_timeout=min(timeout, 3.0)) as client:
            if runtime == OLLAMA:
                return _ollama_models(client)
            return _runner_models(client, untagged)
    except httpx.HTTPError as exc:
        raise ServerError(f"cannot list the models at {url}: "
                          f"{describe_transport_error(exc)}") from None
    except TimedOut:
        raise ServerError(f"the models at {url} were not listed within {timeout:g} s") from None


def _ollama_models(client: Any) -> list[LockedModel]:
    from llmctl.backends import ollama_models

    out = []
    for m in ollama_models.list_models(client):
        digest = normalize_digest(m.digest)
        if digest is None:
            raise ServerError(f"Ollama lists {m.name!r} with the digest {m.digest!r}, not "
                              "64 hex digits")
        out.append(LockedModel(runtime=OLLAMA, name=m.name, digest=digest,
                               pull_by_digest=False, size=m.size))
    return out


def _runner_models(client: Any, untagged: bool = False) -> list[LockedModel]:
    from llmctl.backends import model_runner

    out = []
    for m in model_runner.list_models(client):
        digest = normalize_digest(m.id)
        if digest is None:
            raise ServerError(f"Model Runner lists a model with the id {m.id!r}, not "
                              "sha256:<64 hex>")
        # A model with several tags is one manifest under several names: one entry each, so
        # a tag that moves is seen. An untagged model (left behind when its tag moved to a
        # re-pushed one, or pulled by digest and not tagged yet) has no name to use it by:
        # not listed (unless asked for: `--frozen` looks for bytes it can tag).
        for name in m.tags or ((digest,) if untagged else ()):
            out.append(LockedModel(runtime=MODEL_RUNNER, name=name, digest=digest,
                                   pull_by_digest=True))
    return out


def manifest_path(models_dir: str, name: str) -> str | None:
    """Where Ollama keeps the manifest of ``name`` (manifest/paths.go): None for a name
    that does not parse."""
    from llmctl.errors import UsageError
    from llmctl.names import parse_ollama_name

    try:
        n = parse_ollama_name(name)
    except UsageError:
        return None
    return f"{models_dir.rstrip('/')}/manifests/{n.host}/{n.namespace}/{n.model}/{n.tag}"


def _with_weights(engine: Engine, container: str, models_dir: str, model: LockedModel,
                  notes: list[str]) -> LockedModel:
    path = manifest_path(models_dir, model.name)
    raw = None
    if path is not None:
        try:
            raw = engine.read_file(container, path, limit=MANIFEST_LIMIT)
        except LlmctlError as exc:
            notes.append(f"{model.name}: its manifest could not be read ({exc.message})")
            return model
    if raw is None:
        notes.append(f"{model.name}: no manifest at {path} in {container}; weights not "
                     "recorded (the manifest digest still pins them)")
        return model
    if "sha256:" + hashlib.sha256(raw).hexdigest() != model.digest:
        notes.append(f"{model.name}: the manifest in {container} does not match the digest "
                     "Ollama reports (changed while reading?); weights not recorded")
        return model
    try:
        layers = json.loads(raw).get("layers") or []
        blobs = tuple(LockedBlob(str(x["digest"]), int(x["size"]), str(x["mediaType"]))
                      for x in layers if x.get("mediaType") in WEIGHT_TYPES)
    except (ValueError, TypeError, KeyError, AttributeError):
        notes.append(f"{model.name}: its manifest is not the JSON Ollama writes; weights not "
                     "recorded")
        return model
    if any(normalize_digest(b.digest) != b.digest for b in blobs):
        notes.append(f"{model.name}: a layer digest in its manifest is not sha256:<hex>")
        return model
    return replace(model, weights=blobs)


# --- the lock ------------------------------------------------------------------------------


@dataclass
class CaptureResult:
    lock: LockFile
    left_out: list[str] = field(default_factory=list)  # servers not locked, and why
    notes: list[str] = field(default_factory=list)


def select(engine: Engine, names: Sequence[str] = ()) -> list[ContainerInfo]:
    """The managed containers named (instance names; all when none is named). A name
    llmctl does not manage is a NotFoundError."""
    from llmctl.names import validate_instance_name

    for n in names:
        validate_instance_name(n, "NAME")
    infos = sorted((i for i in engine.list_managed() if LABEL_ROLE not in i.labels),  # servers
                   key=lambda i: i.labels.get(LABEL_INSTANCE, i.name))
    by_name = {i.labels.get(LABEL_INSTANCE, i.name): i for i in infos}
    if names:
        missing = [n for n in names if n not in by_name]
        if missing:
            have = ", ".join(by_name) or "none"
            raise NotFoundError(
                f"no server named {missing[0]!r} that llmctl manages (it manages: {have})",
                "Start it first (`llmctl up PROFILE --name NAME`), or name one of those.",
                details={"name": missing[0], "managed": list(by_name)})
        return [by_name[n] for n in dict.fromkeys(names)]
    return infos


def capture(engine: Engine, names: Sequence[str] = (), *,
            timeout: float = DEFAULT_TIMEOUT,
            endpoints: Callable[[], list[Any]] | None = None) -> CaptureResult:
    """The lock of what runs now: the servers named (or every one llmctl manages), their
    models and the endpoint entries that point at them. A server that is not running, or
    whose models cannot be listed, cannot be locked: named, it is an error; otherwise it is
    left out and said so. ``endpoints``: reads the endpoint file (tests give their own)."""
    infos = select(engine, names)
    if not infos:
        raise NotFoundError("llmctl manages no server on this engine: nothing to lock",
                            "Start one first (`llmctl up ollama`), then `llmctl lock`.")
    with ThreadPoolExecutor(max_workers=min(8, len(infos))) as pool:
        seen = list(pool.map(lambda i: observe(engine, i, timeout=timeout), infos))
    servers, notes, locked, left_out = [], [], [], []
    for o in seen:
        why = None
        if not o.running:
            why = f"{o.info.name} is {o.info.state}"
        elif o.models_error:
            why = f"its models could not be listed: {o.models_error}"
        elif o.server.image is None:
            why = f"its image {o.info.image} is not on this daemon"
        if why:
            if names:
                raise ServerError(f"cannot lock {o.server.name}: {why}",
                                  f"Start it (`llmctl up {o.server.target} --name "
                                  f"{o.server.name}`), then lock again.",
                                  details={"name": o.server.name})
            left_out.append(f"{o.server.name}: {why}")
            continue
        servers.append(o.server)
        locked.append(o)
        notes += o.notes
    if not servers:
        raise ServerError("no server could be locked: " + "; ".join(left_out),
                          "Start them (`llmctl up ...`), then lock again.")
    try:
        entries = (endpoints or endpoint_file_entries)()
    except LlmctlError as exc:
        notes.append(f"the endpoint file was not read, so no endpoint is recorded: "
                     f"{exc.message}")
        entries = []
    lock = LockFile(llmctl_version=__version__, servers=tuple(servers),
                    endpoints=tuple(endpoint_entries(entries, locked)))
    return CaptureResult(lock, left_out, notes)


def endpoint_file_entries() -> list[Any]:
    """The endpoint file's entries as (Endpoint, is_default)."""
    from llmctl.endpoint import read_config

    default, endpoints = read_config()
    return [(ep, ep.name == default) for ep in endpoints]


def same_server(url: str, endpoint: str | None) -> bool:
    """Does ``url`` (an endpoint entry) point at the server answering at ``endpoint``?"""
    from urllib.parse import urlsplit

    from llmctl.urls import server_root

    if not endpoint:
        return False
    a, b = urlsplit(server_root(url)), urlsplit(endpoint)
    loopback = ("127.0.0.1", "localhost", "::1")
    same_host = a.hostname == b.hostname or (a.hostname in loopback and b.hostname in loopback)
    return same_host and a.port == b.port


def endpoint_entries(entries: list[Any], seen: list[Observed]) -> list[LockedEndpoint]:
    """The endpoint entries (``(Endpoint, is_default)``) that point at an observed server."""
    out = []
    for ep, is_default in entries:
        owner = next((o for o in seen if o.info.running and same_server(ep.endpoint, o.endpoint)),
                     None)
        if owner is None:
            continue
        out.append(LockedEndpoint(name=ep.name, server=owner.server.name, url=ep.endpoint,
                                  api_type=ep.api_type, llm_type=ep.llm_type,
                                  model=ep.model or "", default=bool(is_default)))
    return out
