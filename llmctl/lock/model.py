"""The lock file: data, text and strict reading (docs/lock.md describes the format).

JSON, not TOML: the standard library reads and writes it (no new dependency, and TOML has no
writer there), ``jq`` reads it in any CI job, and the same objects are what ``--json``
prints. The text is canonical: keys sorted, lists sorted, two-space indent, ASCII, one
newline at the end, no timestamp; so two runs over the same environment give the same bytes
and a diff in review shows exactly what moved.

Reading is strict: a lock of another format version, a file cut short or hand-edited into
something else is a :class:`LockFileError` (exit 3) that names the file and the key
(``llmctl.lock: servers[0].image.digest: 'abc' is not sha256:<64 hex digits>``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmctl.errors import ConfigError

LOCK_VERSION = 1  # the format; a lock of another version is refused, never guessed at
VERSION_KEY = "llmctl_lock"
DEFAULT_PATH = "llmctl.lock"
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
RUNTIMES = ("ollama", "model-runner")
REWRITE_HINT = ("Write it again with `llmctl lock` (or restore it from version control: "
                "`git checkout -- FILE`).")


class LockFileError(ConfigError):
    """A lock file that cannot be used: missing, of another version, not JSON, cut short,
    or with a value that is not what llmctl writes (exit 3)."""


def normalize_digest(value: str | None) -> str | None:
    """``sha256:<64 hex>`` from what servers report: Ollama's ``/api/tags`` digest has no
    prefix, Model Runner's model id and Docker's digests have one. Upper-case hex is
    lowered; anything else is None (not a digest)."""
    if not value:
        return None
    text = value.strip().lower()
    if not text.startswith("sha256:"):
        text = "sha256:" + text
    return text if DIGEST_RE.fullmatch(text) else None


# --- the data ------------------------------------------------------------------------------


def _sort(obj: Any, name: str, key: Any = None) -> None:
    """Keep a frozen dataclass's tuple sorted: two locks of the same things are equal, and
    their text is the same, whatever order they were found in."""
    object.__setattr__(obj, name, tuple(sorted(getattr(obj, name), key=key)))


@dataclass(frozen=True)
class LockedImage:
    """The image a server runs. From a registry: ``repository@digest`` is the exact
    manifest (``ref``'s tag may move; the digest never does). Built or loaded here
    (``local``): no registry digest exists; the image ID pins it, and only on machines that
    have that image."""

    ref: str  # the reference the container was planned with: ollama/ollama:0.40.2
    id: str  # the image ID (sha256 of its config): sha256:<64 hex>
    repository: str | None = None  # where the digest lives: ollama/ollama
    digest: str | None = None  # the manifest digest in that repository: sha256:<64 hex>
    local: bool = False

    @property
    def pinned(self) -> str | None:
        """``repository@digest``: what `up --frozen` pulls and runs; None for a local one."""
        if self.local or not self.repository or not self.digest:
            return None
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class LockedBlob:
    """One weights blob of a model (GGUF, projector, adapter) as its manifest lists it."""

    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class LockedModel:
    runtime: str  # ollama | model-runner
    name: str  # as the server lists it: smollm2:135m, ai/smollm2:360M-Q4_K_M
    digest: str  # the manifest digest: sha256:<64 hex>
    pull_by_digest: bool  # Model Runner: yes; Ollama: no (verified, not enforced)
    size: int | None = None  # bytes, when the server says (Ollama)
    weights: tuple[LockedBlob, ...] = ()  # when the manifest could be read (Ollama)

    def __post_init__(self) -> None:
        _sort(self, "weights", key=lambda b: (b.media_type, b.digest))


@dataclass(frozen=True)
class LockedOptions:
    """What shapes the container (never a secret's value)."""

    port: int | None = None
    bind: str | None = None
    volumes: tuple[str, ...] = ()
    gpus: bool = False
    env_keys: tuple[str, ...] = ()  # beyond the image's own (profile env, --env, secrets)
    secret_env: tuple[str, ...] = ()  # which of those hold secrets (by name)
    spec_hash: str | None = None  # llmctl's hash of the whole spec (io.llmctl.spec-hash)

    def __post_init__(self) -> None:
        for name in ("volumes", "env_keys", "secret_env"):
            _sort(self, name)


@dataclass(frozen=True)
class LockedServer:
    name: str  # the instance: `llmctl up PROFILE --name NAME`
    target: str  # the profile, or model-runner
    api: str  # ollama | openai
    container: str | None
    profile_hash: str | None  # sha256 of the resolved profile; None for model-runner
    image: LockedImage | None  # None: Docker Desktop runs the runner (no container)
    options: LockedOptions = LockedOptions()
    models: tuple[LockedModel, ...] = ()

    def __post_init__(self) -> None:
        _sort(self, "models", key=lambda m: (m.runtime, m.name))

    def model(self, name: str) -> LockedModel | None:
        return next((m for m in self.models if m.name == name), None)


@dataclass(frozen=True)
class LockedEndpoint:
    """An entry of the endpoint file that points at one of the locked servers (the token,
    if it has one, is never recorded)."""

    name: str
    server: str  # the locked server's name
    url: str
    api_type: str
    llm_type: str
    model: str
    default: bool = False


@dataclass(frozen=True)
class LockFile:
    llmctl_version: str
    servers: tuple[LockedServer, ...] = ()
    endpoints: tuple[LockedEndpoint, ...] = ()
    version: int = LOCK_VERSION
    path: str | None = field(default=None, compare=False)  # where it was read from

    def __post_init__(self) -> None:
        _sort(self, "servers", key=lambda s: s.name)
        _sort(self, "endpoints", key=lambda e: (e.name, e.server))

    def server(self, name: str) -> LockedServer | None:
        return next((s for s in self.servers if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            VERSION_KEY: self.version,
            "llmctl_version": self.llmctl_version,
            "servers": [_server_doc(s) for s in sorted(self.servers, key=lambda s: s.name)],
            "endpoints": [_endpoint_doc(e) for e in
                          sorted(self.endpoints, key=lambda e: (e.name, e.server))],
        }

    def text(self) -> str:
        """The canonical text (see the module doc): the same lock, the same bytes."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def _image_doc(i: LockedImage) -> dict[str, Any]:
    return {"ref": i.ref, "id": i.id, "repository": i.repository, "digest": i.digest,
            "local": i.local}


def _model_doc(m: LockedModel) -> dict[str, Any]:
    return {
        "runtime": m.runtime, "name": m.name, "digest": m.digest,
        "pull_by_digest": m.pull_by_digest, "size": m.size,
        "weights": [{"digest": b.digest, "size": b.size, "media_type": b.media_type}
                    for b in sorted(m.weights, key=lambda b: (b.media_type, b.digest))],
    }


def _server_doc(s: LockedServer) -> dict[str, Any]:
    o = s.options
    return {
        "name": s.name, "target": s.target, "api": s.api, "container": s.container,
        "profile_hash": s.profile_hash,
        "image": _image_doc(s.image) if s.image else None,
        "options": {"port": o.port, "bind": o.bind, "volumes": sorted(o.volumes),
                    "gpus": o.gpus, "env_keys": sorted(o.env_keys),
                    "secret_env": sorted(o.secret_env), "spec_hash": o.spec_hash},
        "models": [_model_doc(m) for m in sorted(s.models, key=lambda m: (m.runtime, m.name))],
    }


def _endpoint_doc(e: LockedEndpoint) -> dict[str, Any]:
    return {"name": e.name, "server": e.server, "url": e.url, "api_type": e.api_type,
            "llm_type": e.llm_type, "model": e.model, "default": e.default}


# --- reading -------------------------------------------------------------------------------


class _Doc:
    """Typed access to one JSON object of the lock; every problem names its key path."""

    def __init__(self, label: str, data: Any, where: str) -> None:
        self.label, self.where = label, where
        if not isinstance(data, dict):
            raise self.fail(f"must be an object, got {_kind(data)}", key="")
        self.data: dict[str, Any] = data

    def fail(self, what: str, key: str | None = None) -> LockFileError:
        at = self.where if key is None else (f"{self.where}.{key}" if self.where and key
                                              else self.where or key)
        return LockFileError(f"{self.label}: {at + ': ' if at else ''}{what}",
                             REWRITE_HINT.replace("FILE", self.label),
                             details={"path": self.label, "key": at})

    def known(self, *keys: str) -> None:
        extra = sorted(set(self.data) - set(keys))
        if extra:
            raise self.fail(f"unknown key {extra[0]!r} (not something `llmctl lock` writes)",
                            extra[0])

    def get(self, key: str, typ: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if key not in self.data:
            raise self.fail("is missing", key)
        value = self.data[key]
        if value is None and optional:
            return None
        ok = isinstance(value, typ) and not (isinstance(value, bool) and typ in (int, str))
        if not ok:
            raise self.fail(f"must be {_type_word(typ)}, got {_kind(value)}", key)
        return value

    def text(self, key: str, *, optional: bool = False) -> Any:
        value = self.get(key, str, optional=optional)
        if value is not None and not value.strip():
            raise self.fail("is empty", key)
        return value

    def digest(self, key: str, *, optional: bool = False) -> Any:
        value = self.get(key, str, optional=optional)
        if value is not None and not DIGEST_RE.fullmatch(value):
            raise self.fail(f"{value[:80]!r} is not sha256:<64 lower-case hex digits>", key)
        return value

    def number(self, key: str, *, optional: bool = False) -> Any:
        value = self.get(key, int, optional=optional)
        if value is not None and value < 0:
            raise self.fail(f"{value} is negative", key)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.get(key, list)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise self.fail(f"must be a non-empty string, got {_kind(item)}", f"{key}[{i}]")
        return tuple(items)

    def objects(self, key: str) -> list[_Doc]:
        items = self.get(key, list)
        prefix = f"{self.where}.{key}" if self.where else key
        return [_Doc(self.label, item, f"{prefix}[{i}]") for i, item in enumerate(items)]

    def sub(self, key: str, *, optional: bool = False) -> _Doc | None:
        value = self.get(key, dict, optional=optional)
        if value is None:
            return None
        return _Doc(self.label, value, f"{self.where}.{key}" if self.where else key)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _type_word(typ: type | tuple[type, ...]) -> str:
    words = {str: "a string", int: "a whole number", bool: "true or false", list: "a list",
             dict: "an object"}
    if isinstance(typ, tuple):
        return " or ".join(words.get(t, t.__name__) for t in typ)
    return words.get(typ, typ.__name__)


def parse(text: str, label: str = DEFAULT_PATH) -> LockFile:
    """A lock file's text as a :class:`LockFile`; LockFileError (exit 3) naming ``label``
    and the key for anything `llmctl lock` would not have written."""
    if not text.strip():
        raise LockFileError(f"{label}: the file is empty", REWRITE_HINT.replace("FILE", label),
                            details={"path": label})
    try:
        raw = json.loads(text)
    except ValueError as exc:
        # JSON strings cannot hold a raw newline: an unterminated one reached the end.
        cut = isinstance(exc, json.JSONDecodeError) and (
            exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"))
        why = ("it ends before the JSON does (cut short?)" if cut
               else "not valid JSON (hand-edited?)")
        place = (f" at line {exc.lineno}, column {exc.colno}: {exc.msg}"
                 if isinstance(exc, json.JSONDecodeError) else "")
        raise LockFileError(f"{label}: {why}{place}", REWRITE_HINT.replace("FILE", label),
                            details={"path": label}) from None
    if not isinstance(raw, dict) or VERSION_KEY not in raw:
        raise LockFileError(
            f"{label}: not an llmctl lock file (no {VERSION_KEY!r} key at the top)",
            f"Point --lock at the file `llmctl lock` wrote. {REWRITE_HINT.replace('FILE', label)}",
            details={"path": label})
    version = raw.get(VERSION_KEY)
    if version != LOCK_VERSION:
        by = raw.get("llmctl_version")
        who = f" (written by llmctl {by})" if isinstance(by, str) and by else ""
        newer = isinstance(version, int) and not isinstance(version, bool) \
            and version > LOCK_VERSION
        from llmctl import __version__

        raise LockFileError(
            f"{label}: lock format version {version!r}{who}; this llmctl {__version__} reads "
            f"version {LOCK_VERSION} only",
            ("Upgrade llmctl to the version that wrote it, or write the lock again with this "
             "one (`llmctl lock`)." if newer else
             "Write the lock again with this llmctl (`llmctl lock`)."),
            details={"path": label, "version": version, "supported": LOCK_VERSION})
    doc = _Doc(label, raw, "")
    doc.known(VERSION_KEY, "llmctl_version", "servers", "endpoints")
    servers = tuple(_read_server(s) for s in doc.objects("servers"))
    names = [s.name for s in servers]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise doc.fail(f"the server {dup!r} is listed twice", "servers")
    endpoints = tuple(_read_endpoint(e, set(names)) for e in doc.objects("endpoints"))
    return LockFile(llmctl_version=doc.text("llmctl_version"), servers=servers,
                    endpoints=endpoints, version=LOCK_VERSION, path=label)


def _read_image(d: _Doc) -> LockedImage:
    d.known("ref", "id", "repository", "digest", "local")
    image = LockedImage(ref=d.text("ref"), id=d.digest("id"),
                        repository=d.text("repository", optional=True),
                        digest=d.digest("digest", optional=True), local=d.get("local", bool))
    if not image.local and image.pinned is None:
        raise d.fail("an image from a registry needs its repository and digest (or "
                     "\"local\": true for one built or loaded here)", "digest")
    if image.local and image.digest is not None:
        raise d.fail("a local image has no registry digest", "digest")
    return image


def _read_model(d: _Doc) -> LockedModel:
    d.known("runtime", "name", "digest", "pull_by_digest", "size", "weights")
    runtime = d.text("runtime")
    if runtime not in RUNTIMES:
        raise d.fail(f"{runtime!r} is not one of {', '.join(RUNTIMES)}", "runtime")
    weights = []
    for w in d.objects("weights"):
        w.known("digest", "size", "media_type")
        weights.append(LockedBlob(w.digest("digest"), w.number("size"), w.text("media_type")))
    return LockedModel(runtime=runtime, name=d.text("name"), digest=d.digest("digest"),
                       pull_by_digest=d.get("pull_by_digest", bool),
                       size=d.number("size", optional=True), weights=tuple(weights))


def _read_server(d: _Doc) -> LockedServer:
    d.known("name", "target", "api", "container", "profile_hash", "image", "options",
            "models")
    o = d.sub("options")
    assert o is not None
    o.known("port", "bind", "volumes", "gpus", "env_keys", "secret_env", "spec_hash")
    port = o.number("port", optional=True)
    if port is not None and not 1 <= port <= 65535:
        raise o.fail(f"{port} is not a TCP port", "port")
    options = LockedOptions(port=port, bind=o.text("bind", optional=True),
                            volumes=o.strings("volumes"), gpus=o.get("gpus", bool),
                            env_keys=o.strings("env_keys"), secret_env=o.strings("secret_env"),
                            spec_hash=o.text("spec_hash", optional=True))
    image = d.sub("image", optional=True)
    models = tuple(_read_model(m) for m in d.objects("models"))
    seen = [(m.runtime, m.name) for m in models]
    dup = next((k for k in seen if seen.count(k) > 1), None)
    if dup:
        raise d.fail(f"the model {dup[1]!r} is listed twice", "models")
    return LockedServer(
        name=d.text("name"), target=d.text("target"), api=d.text("api"),
        container=d.text("container", optional=True),
        profile_hash=d.digest("profile_hash", optional=True),
        image=_read_image(image) if image else None, options=options, models=models)


def _read_endpoint(d: _Doc, servers: set[str]) -> LockedEndpoint:
    d.known("name", "server", "url", "api_type", "llm_type", "model", "default")
    server = d.text("server")
    if server not in servers:
        raise d.fail(f"names the server {server!r}, which the lock does not list", "server")
    return LockedEndpoint(name=d.text("name"), server=server, url=d.text("url"),
                          api_type=d.text("api_type"), llm_type=d.text("llm_type"),
                          model=d.get("model", str), default=d.get("default", bool))


def read(path: str | Path) -> LockFile:
    """The lock at ``path`` (LockFileError when it is missing or bad: exit 3)."""
    from llmctl.files import read_text

    p = Path(path)
    label = str(path)
    text = read_text(p, error=LockFileError, fix=REWRITE_HINT.replace("FILE", label))
    if text is None:
        raise LockFileError(f"{label}: no such lock file",
                            "Write one with `llmctl lock` (it records what runs now), or point "
                            "--lock at it.", details={"path": label})
    return parse(text, label)


def write(lock: LockFile, path: str | Path) -> None:
    """Write the canonical text atomically (0644: a lock holds no secret and is meant to be
    committed)."""
    from llmctl.files import atomic_write

    atomic_write(Path(path), lock.text().encode("ascii"), mode=0o644)
