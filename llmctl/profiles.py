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


def _fail(where: str, key: str, what: str) -> ConfigError:
    return ConfigError(
        f"{where}: {key}: {what}",
        "Fix the profile file, then check it with `llmctl profiles validate`.",
    )


class _Reader:
    """Typed access to a mapping that reports errors as `file: key.path: what`."""

    def __init__(self, where: str, data: dict[str, Any], prefix: str = "") -> None:
        self.where, self.data, self.prefix = where, data, prefix
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, what: str) -> ConfigError:
        return _fail(self.where, self.key(name), what)

    def get(self, name: str, typ: type | tuple[type, ...], default: Any = ..., ) -> Any:
        self.seen.add(name)
        if name not in self.data or self.data[name] is None:
            if default is ...:
                raise self.fail(name, "is required")
            return default
        value = self.data[name]
        if isinstance(value, bool) and typ is not bool and bool not in (
            typ if isinstance(typ, tuple) else (typ,)
        ):
            raise self.fail(name, f"must be {_type_name(typ)}, not a boolean")
        if not isinstance(value, typ):
            raise self.fail(name, f"must be {_type_name(typ)}, got {type(value).__name__}")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        """A string or a list of strings."""
        value = self.get(name, (str, list), [])
        items = [value] if isinstance(value, str) else value
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise self.fail(f"{name}[{i}]", "must be a non-empty string")
        return tuple(items)

    def flag(self, name: str) -> str | None:
        value = self.get(name, str, None)
        if value is not None and not ARG_RE.match(value):
            raise self.fail(name, f"{value!r} is not a command-line flag like --model")
        return value

    def env_name(self, name: str, default: Any = None) -> str | None:
        value = self.get(name, str, default)
        if value is not None and not ENV_KEY_RE.match(value):
            raise self.fail(name, f"{value!r} is not a valid environment variable name")
        return value

    def sub(self, name: str) -> _Reader | None:
        value = self.get(name, dict, None)
        return None if value is None else _Reader(self.where, value, self.key(name) + ".")

    def port(self, name: str, default: Any = ...) -> int:
        value = self.get(name, int, default)
        if not 1 <= value <= 65535:
            raise self.fail(name, f"{value} is not a TCP port (1-65535)")
        return int(value)

    def no_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.fail(unknown[0], "unknown key (check the spelling)")


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


def parse_profile(data: Any, where: str, *, origin: str = "built-in") -> Profile:
    """Validate one profile document (already parsed YAML) into a Profile."""
    if not isinstance(data, dict):
        raise _fail(where, "(top level)", "must be a mapping of keys to values")
    r = _Reader(where, data)
    schema = r.get("schema", int, SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise r.fail("schema", f"version {schema} is not supported (expected {SCHEMA_VERSION})")
    name = r.get("name", str)
    if not NAME_RE.match(name):
        raise r.fail("name", f"{name!r}: use lower-case letters, digits, '.', '_' or '-'")
    kind = r.get("kind", str)
    if kind not in KINDS:
        raise r.fail("kind", f"{kind!r} is not one of {', '.join(sorted(KINDS))}")
    image = r.get("image", str)
    problem = validate_image(image)
    if problem:
        raise r.fail("image", problem)
    description = r.get("description", str, "")
    container_port = r.port("container_port")
    host_port = r.port("host_port")

    volumes = []
    for i, item in enumerate(r.get("volumes", list, [])):
        if not isinstance(item, dict):
            raise r.fail(f"volumes[{i}]", "must be a mapping with name and target")
        v = _Reader(where, item, f"volumes[{i}].")
        vname = v.get("name", str)
        if not VOLUME_RE.match(vname):
            raise v.fail("name", f"{vname!r} is not a valid volume name")
        target = v.get("target", str)
        if not target.startswith("/"):
            raise v.fail("target", f"{target!r} must be an absolute path in the container")
        v.no_unknown()
        volumes.append(VolumeSpec(vname, target))

    env = r.get("env", dict, {})
    for k, val in env.items():
        if not isinstance(k, str) or not ENV_KEY_RE.match(k):
            raise r.fail(f"env.{k}", "is not a valid environment variable name")
        if not isinstance(val, (str, int, float)) or isinstance(val, bool):
            raise r.fail(f"env.{k}", "must be a string or a number")
    command = r.get("command", list, [])
    for i, arg in enumerate(command):
        if not isinstance(arg, str):
            raise r.fail(f"command[{i}]", "must be a string")

    rd = _Reader(where, r.get("readiness", dict, {}), "readiness.")
    readiness = Readiness(
        path=rd.get("path", str, "/"),
        status=rd.get("status", int, 200),
        contains=rd.get("contains", str, None),
        timeout=float(rd.get("timeout", (int, float), 120.0)),
        models=rd.get("models", str, "none"),
        models_path=rd.get("models_path", str, "/v1/models"),
    )
    if readiness.models not in MODEL_CHECKS:
        raise rd.fail("models", f"{readiness.models!r} is not one of {', '.join(MODEL_CHECKS)}")
    if not readiness.models_path.startswith("/"):
        raise rd.fail("models_path", f"{readiness.models_path!r} must start with /")
    if not readiness.path.startswith("/"):
        raise rd.fail("path", f"{readiness.path!r} must start with /")
    if not 100 <= readiness.status <= 599:
        raise rd.fail("status", f"{readiness.status} is not an HTTP status")
    if readiness.timeout <= 0:
        raise rd.fail("timeout", "must be more than 0 seconds")
    rd.no_unknown()

    gpu = r.get("gpu", str, "optional")
    if gpu not in GPU_MODES:
        raise r.fail("gpu", f"{gpu!r} is not one of {', '.join(GPU_MODES)}")
    model = _parse_model(r)
    secrets = _parse_secrets(r)
    shm = r.get("shm_size", (str, int), None)
    shm_size = None if shm is None else str(shm).lower()
    if shm_size is not None and not SHM_RE.match(shm_size):
        raise r.fail("shm_size", f"{shm!r} is not a size like 1g, 512m or 67108864")
    ipc = r.get("ipc", str, None)
    if ipc is not None and ipc not in IPC_MODES:
        raise r.fail("ipc", f"{ipc!r} is not one of {', '.join(IPC_MODES)}")
    r.no_unknown()
    return Profile(
        name=name, kind=kind, image=image, container_port=container_port, host_port=host_port,
        description=description, volumes=tuple(volumes),
        env={k: str(v) for k, v in env.items()}, command=tuple(command), readiness=readiness,
        gpu=gpu, model=model, secrets=secrets, shm_size=shm_size, ipc=ipc, source=where,
        origin=origin,
    )


def _parse_model(r: _Reader) -> ModelSpec | None:
    m = r.sub("model")
    if m is None:
        return None
    spec = ModelSpec(
        arg=m.flag("arg"), env=m.env_name("env"), file_arg=m.flag("file_arg"),
        file_target=m.get("file_target", str, "/models"), alias_arg=m.flag("alias_arg"),
        required=m.get("required", bool, False), example=m.get("example", str, None),
    )
    if not spec.file_target.startswith("/") or spec.file_target.rstrip("/") == "":
        raise m.fail("file_target", f"{spec.file_target!r} must be an absolute path below /")
    if not (spec.arg or spec.env or spec.file_arg):
        raise m.fail("arg", "set at least one of arg, env or file_arg (where the model goes)")
    m.no_unknown()
    return spec


def _parse_secrets(r: _Reader) -> tuple[SecretSpec, ...]:
    secrets = []
    for i, item in enumerate(r.get("secrets", list, [])):
        if not isinstance(item, dict):
            raise r.fail(f"secrets[{i}]", "must be a mapping with env, from_env, from_file")
        s = _Reader(r.where, item, f"secrets[{i}].")
        env = s.env_name("env", ...)
        assert env is not None
        from_env = s.strings("from_env")
        for j, name in enumerate(from_env):
            if not ENV_KEY_RE.match(name):
                raise s.fail(f"from_env[{j}]", f"{name!r} is not a valid variable name")
        secret = SecretSpec(env=env, from_env=from_env, from_file=s.strings("from_file"),
                            required=s.get("required", bool, False))
        if not (secret.from_env or secret.from_file):
            raise s.fail("from_env", "name where the secret comes from: from_env or from_file")
        s.no_unknown()
        secrets.append(secret)
    return tuple(secrets)


def load_profile_file(path: Path, *, origin: str = "user") -> Profile:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark is not None else "(parse)"
        raise _fail(str(path), at, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    profile = parse_profile(data, str(path), origin=origin)
    if profile.name != path.stem:
        raise _fail(str(path), "name", f"{profile.name!r} must match the file name {path.stem!r}")
    return profile


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


def config_dir() -> Path:
    env = os.environ.get("LLMCTL_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("llmctl", appauthor=False))


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
