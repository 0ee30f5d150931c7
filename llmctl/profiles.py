"""Profiles: built-in and user backends as plain YAML data, loaded and validated here.

A profile names an image, ports, volumes and how to tell that the server is ready. Its
``kind`` picks the behaviour (API kind, readiness rules) from code; YAML holds values only.
Errors name the file and the key path: ``ollama.yaml: readiness.path: must start with /``.

Search order (first wins): ``$LLMCTL_PROFILES_DIR`` (a path list), the user config dir
(``<platform config dir>/llmctl/profiles``), then the built-in profiles shipped with llmctl.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmctl.errors import ConfigError, NotFoundError
from llmctl.paths import config_dir

SCHEMA_VERSION = 1

# kind -> the API the server speaks. Behaviour per kind lives in code (readiness, backends).
KINDS: dict[str, str] = {
    "ollama": "ollama",
    "openai": "openai",
    "vllm": "openai",
    "llamacpp": "openai",
    "tgi": "openai",
    "localai": "openai",
}
GPU_MODES = ("none", "optional", "required")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
VOLUME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An image reference with an explicit tag or digest: [registry[:port]/]path:tag or @sha256:...
IMAGE_RE = re.compile(
    r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@sha256:[a-f0-9]{64})$"
)


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    target: str


MODEL_CHECKS = ("none", "answers", "listed")
IPC_MODES = ("host", "private", "shareable")
SHM_RE = re.compile(r"^[1-9][0-9]*[bkmg]?$")
ARG_RE = re.compile(r"^-{1,2}[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Readiness:
    path: str = "/"
    status: int = 200
    contains: str | None = None
    timeout: float = 120.0
    # After the health route: "listed" = GET models_path lists the requested model (falls
    # back to "answers" when no model was named), "answers" = it gives a JSON model list.
    models: str = "none"
    models_path: str = "/v1/models"


@dataclass(frozen=True)
class ModelSpec:
    """Where the model a user names goes: ``--model NAME`` and/or ``--model-file PATH``."""

    arg: str | None = None  # the server's flag placed before --model's value
    env: str | None = None  # an environment variable set to --model's value
    file_arg: str | None = None  # the flag placed before the mounted --model-file path
    file_target: str = "/models"  # where --model-file's folder is mounted (read-only)
    alias_arg: str | None = None  # the flag that sets the id /v1/models reports
    required: bool = False  # refuse to start without --model or --model-file
    example: str | None = None  # shown in the error when the model is missing


@dataclass(frozen=True)
class SecretSpec:
    """A secret passed to the container as ``env``, found in the user's environment or a
    file; never part of the profile, the printed spec, labels or the spec hash."""

    env: str
    from_env: tuple[str, ...] = ()
    from_file: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Profile:
    name: str
    kind: str
    image: str
    container_port: int
    host_port: int
    description: str = ""
    volumes: tuple[VolumeSpec, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    readiness: Readiness = Readiness()
    gpu: str = "optional"
    model: ModelSpec | None = None
    secrets: tuple[SecretSpec, ...] = ()
    shm_size: str | None = None  # e.g. "1g" (Docker's --shm-size)
    ipc: str | None = None  # host | private | shareable (Docker's --ipc)
    source: str = ""
    origin: str = "built-in"  # built-in | user

    @property
    def api(self) -> str:
        return KINDS[self.kind]


PROFILE_FIX = "Fix the profile file, then check it with `llmctl profiles validate`."


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a profile file: ``file: key.path: what``."""

    file: str
    key: str
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.what}" if self.key else f"{self.file}: {self.what}"

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key, "message": self.what}


class ProfileError(ConfigError):
    """Every problem found in one profile file (exit 3): one ``file: key.path: what`` line
    each, in file order; ``details["problems"]`` carries them for ``--json``."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems), PROFILE_FIX,
                         details={"problems": [p.to_dict() for p in problems]})
        self.problems = problems


def _fail(where: str, key: str, what: str) -> ProfileError:
    return ProfileError([Problem(where, key, what)])


_BAD: Any = object()  # a value that was wrong (and reported): checks that need it are skipped


class _Reader:
    """Typed access to a mapping that records problems as `file: key.path: what` and goes on,
    so one run reports every problem of a file (``problems`` is shared by nested readers)."""

    def __init__(self, where: str, data: dict[str, Any], prefix: str = "",
                 problems: list[Problem] | None = None) -> None:
        self.where, self.data, self.prefix = where, data, prefix
        self.seen: set[str] = set()
        self.problems: list[Problem] = [] if problems is None else problems

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, what: str) -> Any:
        """Record a problem with key ``name``; returns _BAD to stand in for the value."""
        self.problems.append(Problem(self.where, self.key(name), what))
        return _BAD

    def get(self, name: str, typ: type | tuple[type, ...], default: Any = ..., ) -> Any:
        """The value, the default when it is missing, or _BAD (reported) when it is wrong."""
        self.seen.add(name)
        if name not in self.data or self.data[name] is None:
            if default is ...:
                return self.fail(name, "is required")
            return default
        value = self.data[name]
        if isinstance(value, bool) and typ is not bool and bool not in (
            typ if isinstance(typ, tuple) else (typ,)
        ):
            return self.fail(name, f"must be {_type_name(typ)}, not a boolean")
        if not isinstance(value, typ):
            return self.fail(name, f"must be {_type_name(typ)}, got {type(value).__name__}")
        return value

    def check(self, name: str, value: Any, problem: str | None) -> Any:
        """``value``, or _BAD after recording ``problem`` (when there is one)."""
        if value is _BAD or problem is None:
            return value
        return self.fail(name, problem)

    def strings(self, name: str) -> tuple[str, ...]:
        """A string or a list of strings."""
        value = self.get(name, (str, list), [])
        if value is _BAD:
            return ()
        items = [value] if isinstance(value, str) else value
        good = []
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                self.fail(f"{name}[{i}]", "must be a non-empty string")
            else:
                good.append(item)
        return tuple(good)

    def flag(self, name: str) -> str | None:
        value = self.get(name, str, None)
        if isinstance(value, str) and not ARG_RE.match(value):
            return self.fail(name, f"{value!r} is not a command-line flag like --model")
        return value

    def env_name(self, name: str, default: Any = None) -> str | None:
        value = self.get(name, str, default)
        if isinstance(value, str) and not ENV_KEY_RE.match(value):
            return self.fail(name, f"{value!r} is not a valid environment variable name")
        return value

    def sub(self, name: str) -> _Reader | None:
        value = self.get(name, dict, None)
        if value is None or value is _BAD:
            return None
        return _Reader(self.where, value, self.key(name) + ".", self.problems)

    def port(self, name: str, default: Any = ...) -> int:
        value = self.get(name, int, default)
        if value is not _BAD and not 1 <= value <= 65535:
            return self.fail(name, f"{value} is not a TCP port (1-65535)")
        return value

    def no_unknown(self) -> None:
        for name in self.data:
            if name not in self.seen:
                self.fail(str(name), "unknown key (check the spelling)")


def _type_name(typ: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a mapping"}
    if isinstance(typ, tuple):
        return " or ".join(names.get(t, t.__name__) for t in typ)
    return names.get(typ, typ.__name__)


def validate_image(image: str) -> str | None:
    """None when ``image`` is a reference with an explicit tag or digest, else the problem."""
    if not IMAGE_RE.match(image):
        if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
            return f"{image!r} has no tag: name a released tag explicitly (never a silent latest)"
        return f"{image!r} is not a valid image reference"
    return None


def parse_profile(data: Any, where: str, *, origin: str = "built-in",
                  file_name: str | None = None) -> Profile:
    """Validate one profile document (already parsed YAML) into a Profile. Every problem is
    reported at once (ProfileError); ``file_name``: the name the file's stem requires."""
    if data is None:
        raise _fail(where, "(top level)", "the file is empty (a profile needs at least name, "
                                          "kind, image, container_port and host_port)")
    if not isinstance(data, dict):
        raise _fail(where, "(top level)", "must be a mapping of keys to values")
    r = _Reader(where, data)
    schema = r.get("schema", int, SCHEMA_VERSION)
    r.check("schema", schema, None if schema in (SCHEMA_VERSION, _BAD) else
            f"version {schema} is not supported (expected {SCHEMA_VERSION})")
    name = r.get("name", str)
    if name is not _BAD:
        if not NAME_RE.match(name):
            r.fail("name", f"{name!r}: use lower-case letters, digits, '.', '_' or '-'")
        elif file_name is not None and name != file_name:
            r.fail("name", f"{name!r} must match the file name {file_name!r}")
    kind = r.get("kind", str)
    r.check("kind", kind, None if kind is _BAD or kind in KINDS else
            f"{kind!r} is not one of {', '.join(sorted(KINDS))}")
    image = r.get("image", str)
    r.check("image", image, None if image is _BAD else validate_image(image))
    description = r.get("description", str, "")
    container_port = r.port("container_port")
    host_port = r.port("host_port")
    volumes = _parse_volumes(r)
    env = r.get("env", dict, {})
    if env is not _BAD:
        for k, val in env.items():
            if not isinstance(k, str) or not ENV_KEY_RE.match(k):
                r.fail(f"env.{k}", "is not a valid environment variable name")
            elif not isinstance(val, (str, int, float)) or isinstance(val, bool):
                r.fail(f"env.{k}", "must be a string or a number")
    command = r.get("command", list, [])
    if command is not _BAD:
        for i, arg in enumerate(command):
            if not isinstance(arg, str):
                r.fail(f"command[{i}]", "must be a string")
    readiness = _parse_readiness(r)
    gpu = r.get("gpu", str, "optional")
    r.check("gpu", gpu, None if gpu is _BAD or gpu in GPU_MODES else
            f"{gpu!r} is not one of {', '.join(GPU_MODES)}")
    model = _parse_model(r)
    secrets = _parse_secrets(r)
    shm = r.get("shm_size", (str, int), None)
    shm_size = None if shm is None or shm is _BAD else str(shm).lower()
    if shm_size is not None and not SHM_RE.match(shm_size):
        r.fail("shm_size", f"{shm!r} is not a size like 1g, 512m or 67108864")
    ipc = r.get("ipc", str, None)
    r.check("ipc", ipc, None if ipc in (None, _BAD) or ipc in IPC_MODES else
            f"{ipc!r} is not one of {', '.join(IPC_MODES)}")
    r.no_unknown()
    if r.problems:
        raise ProfileError(_in_file_order(r.problems, data))
    return Profile(
        name=name, kind=kind, image=image, container_port=container_port, host_port=host_port,
        description=description, volumes=tuple(volumes),
        env={k: str(v) for k, v in env.items()}, command=tuple(command), readiness=readiness,
        gpu=gpu, model=model, secrets=secrets, shm_size=shm_size, ipc=ipc, source=where,
        origin=origin,
    )


def _in_file_order(problems: list[Problem], data: dict[str, Any]) -> list[Problem]:
    """Problems sorted by where their top-level key sits in the file (missing keys last)."""
    order = {str(k): i for i, k in enumerate(data)}

    def top(p: Problem) -> int:
        head = re.split(r"[.\[]", p.key, maxsplit=1)[0]
        return order.get(head, len(order))

    return sorted(problems, key=top)  # stable: the order found within one key is kept


def _parse_volumes(r: _Reader) -> list[VolumeSpec]:
    volumes = []
    items = r.get("volumes", list, [])
    for i, item in enumerate([] if items is _BAD else items):
        if not isinstance(item, dict):
            r.fail(f"volumes[{i}]", "must be a mapping with name and target")
            continue
        v = _Reader(r.where, item, f"volumes[{i}].", r.problems)
        vname = v.get("name", str)
        v.check("name", vname, None if vname is _BAD or VOLUME_RE.match(vname) else
                f"{vname!r} is not a valid volume name")
        target = v.get("target", str)
        v.check("target", target, None if target is _BAD or target.startswith("/") else
                f"{target!r} must be an absolute path in the container")
        v.no_unknown()
        volumes.append(VolumeSpec(vname, target))
    return volumes


def _parse_readiness(r: _Reader) -> Readiness:
    data = r.get("readiness", dict, {})
    rd = _Reader(r.where, {} if data is _BAD else data, "readiness.", r.problems)
    path = rd.get("path", str, "/")
    rd.check("path", path, None if path is _BAD or path.startswith("/") else
             f"{path!r} must start with /")
    status = rd.get("status", int, 200)
    rd.check("status", status, None if status is _BAD or 100 <= status <= 599 else
             f"{status} is not an HTTP status")
    timeout = rd.get("timeout", (int, float), 120.0)
    rd.check("timeout", timeout, None if timeout is _BAD or timeout > 0 else
             "must be more than 0 seconds")
    models = rd.get("models", str, "none")
    rd.check("models", models, None if models is _BAD or models in MODEL_CHECKS else
             f"{models!r} is not one of {', '.join(MODEL_CHECKS)}")
    models_path = rd.get("models_path", str, "/v1/models")
    rd.check("models_path", models_path, None if models_path is _BAD or
             models_path.startswith("/") else f"{models_path!r} must start with /")
    contains = rd.get("contains", str, None)
    rd.no_unknown()
    if _BAD in (path, status, timeout, models, models_path, contains):
        return Readiness()
    return Readiness(path=path, status=status, contains=contains, timeout=float(timeout),
                     models=models, models_path=models_path)


def _parse_model(r: _Reader) -> ModelSpec | None:
    m = r.sub("model")
    if m is None:
        return None
    spec = ModelSpec(
        arg=m.flag("arg"), env=m.env_name("env"), file_arg=m.flag("file_arg"),
        file_target=m.get("file_target", str, "/models"), alias_arg=m.flag("alias_arg"),
        required=m.get("required", bool, False), example=m.get("example", str, None),
    )
    target = spec.file_target
    if target is not _BAD and (not target.startswith("/") or target.rstrip("/") == ""):
        m.fail("file_target", f"{target!r} must be an absolute path below /")
    if not any(v not in (None, _BAD) for v in (spec.arg, spec.env, spec.file_arg)) and \
            _BAD not in (spec.arg, spec.env, spec.file_arg):
        m.fail("arg", "set at least one of arg, env or file_arg (where the model goes)")
    m.no_unknown()
    return spec


def _parse_secrets(r: _Reader) -> tuple[SecretSpec, ...]:
    secrets = []
    items = r.get("secrets", list, [])
    for i, item in enumerate([] if items is _BAD else items):
        if not isinstance(item, dict):
            r.fail(f"secrets[{i}]", "must be a mapping with env, from_env, from_file")
            continue
        s = _Reader(r.where, item, f"secrets[{i}].", r.problems)
        env = s.env_name("env", ...)
        before = len(s.problems)
        from_env = s.strings("from_env")
        for j, name in enumerate(from_env):
            if not ENV_KEY_RE.match(name):
                s.fail(f"from_env[{j}]", f"{name!r} is not a valid variable name")
        secret = SecretSpec(env=env or "", from_env=from_env, from_file=s.strings("from_file"),
                            required=s.get("required", bool, False))
        if not (secret.from_env or secret.from_file) and len(s.problems) == before:
            s.fail("from_env", "name where the secret comes from: from_env or from_file")
        s.no_unknown()
        secrets.append(secret)
    return tuple(secrets)


def load_profile_file(path: Path, *, origin: str = "user") -> Profile:
    """Read and validate one profile file: every problem in it at once (ProfileError)."""
    import yaml

    from llmctl.files import read_text

    text = read_text(path, missing_ok=False, fix=PROFILE_FIX)
    assert text is not None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark is not None else "(parse)"
        raise _fail(str(path), at, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_profile(data, str(path), origin=origin, file_name=path.stem)


def builtin_dir() -> Path:
    """Built-in profiles: shipped in the wheel, or ``profiles/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_profiles"
    if packaged.is_dir():
        return packaged
    return here.parent / "profiles"


def user_dirs() -> list[tuple[Path, str]]:
    dirs: list[tuple[Path, str]] = []
    env = os.environ.get("LLMCTL_PROFILES_DIR")
    if env:
        dirs += [(Path(p).expanduser(), "LLMCTL_PROFILES_DIR") for p in env.split(os.pathsep) if p]
    dirs.append((config_dir() / "profiles", "user config"))
    return dirs


@dataclass(frozen=True)
class ProfileEntry:
    name: str
    path: Path
    origin: str  # built-in | LLMCTL_PROFILES_DIR | user config
    shadows: tuple[str, ...] = ()


def discover() -> dict[str, ProfileEntry]:
    """Every profile file by name, the first in search order winning."""
    found: dict[str, ProfileEntry] = {}
    shadowed: dict[str, list[str]] = {}
    for folder, origin in [*user_dirs(), (builtin_dir(), "built-in")]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
            if path.stem in found:
                shadowed.setdefault(path.stem, []).append(str(path))
                continue
            found[path.stem] = ProfileEntry(path.stem, path, origin)
    return {
        n: ProfileEntry(e.name, e.path, e.origin, tuple(shadowed.get(n, ())))
        for n, e in sorted(found.items())
    }


def load_profile(name: str) -> Profile:
    entries = discover()
    entry = entries.get(name)
    if entry is None:
        known = ", ".join(entries) or "none"
        raise NotFoundError(
            f"no profile named {name!r} (known: {known})",
            "See `llmctl profiles list`, or add NAME.yaml to the user profiles folder.",
        )
    return load_profile_file(entry.path, origin=entry.origin)
