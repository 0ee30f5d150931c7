"""Pure planning: (Profile, options, engine facts) -> ContainerSpec. No I/O here.

The spec is what ``llmctl up --dry-run`` prints and what the engine layer applies. Its hash
is stored as a label so a later ``up`` can tell "same container" from "changed spec".
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets as _random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace

from llmctl import __version__
from llmctl.errors import LlmctlError, UsageError
from llmctl.names import (
    validate_gguf_filename,
    validate_instance_name,
    validate_model_id,
    validate_server_model,
)
from llmctl.profiles import ENV_KEY_RE, VOLUME_RE, Profile, validate_image

LABEL_PREFIX = "io.llmctl"
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"
LABEL_PROFILE = f"{LABEL_PREFIX}.profile"
LABEL_INSTANCE = f"{LABEL_PREFIX}.instance"
LABEL_API = f"{LABEL_PREFIX}.api"
LABEL_SPEC_HASH = f"{LABEL_PREFIX}.spec-hash"
LABEL_VERSION = f"{LABEL_PREFIX}.version"
LABEL_PORT = f"{LABEL_PREFIX}.container-port"
# Salted, stretched fingerprints of the secrets the container was given (never the values,
# never a plain hash): lets a later `up` tell that a token changed. See secrets_label().
LABEL_SECRETS = f"{LABEL_PREFIX}.secrets"
# What a managed container is when it is not an LLM server: "proxy" for the authenticating
# proxy `llmctl expose` puts in front of one (llmctl.expose); absent on LLM servers.
LABEL_ROLE = f"{LABEL_PREFIX}.role"
ROLE_PROXY = "proxy"
# On a container run from an image pinned by digest (`up --frozen`): the reference the spec
# was planned with (its tag), which the container's own image field no longer shows.
LABEL_IMAGE_REF = f"{LABEL_PREFIX}.image-ref"
# The options `up` was given that shape the container, resolved, secrets named but never
# valued (see options_label): `llmctl export` rebuilds the same spec from them, checked
# against the spec hash. Docker's inspect cannot give them back apart: its environment mixes
# the image's variables with ours and holds the secret values; its command mixes the
# profile's arguments with the model's.
LABEL_OPTIONS = f"{LABEL_PREFIX}.options"
OPTIONS_VERSION = 1
# Docker's label on a Model Runner container (set by `docker model install-runner`, and by
# llmctl on the runner it starts): value "controller".
RUNNER_ROLE_LABEL = "com.docker.model-runner.role"

LOOPBACK_BINDS = ("127.0.0.1", "::1")
REDACTED = "***"
# --env keys that hold secrets by their look: masked, kept out of the spec hash.
SECRET_KEY_RE = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
FINGERPRINT_ROUNDS = 100_000
FINGERPRINT_VERSION = "v1"
SPLIT_GGUF_RE = re.compile(r"-[0-9]{5}-of-[0-9]{5}\.gguf$")
CPU_ALTERNATIVES = (
    "`llmctl up llamacpp --model-file PATH.gguf`, `llmctl up ollama` or "
    "`llmctl up model-runner`"
)


@dataclass(frozen=True)
class PortBinding:
    host_ip: str
    host_port: int
    container_port: int


@dataclass(frozen=True)
class VolumeMount:
    name: str
    target: str


@dataclass(frozen=True)
class BindMount:
    """A host folder mounted into the container (a model file's folder, a host cache)."""

    source: str  # absolute path on the daemon's host
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerFile:
    """A file put into the container before it starts (through the engine API, like
    ``docker cp``): a config that holds a secret is never an environment variable, a label
    or an argument, which `docker inspect` and the process list show. Its content is never
    printed: :meth:`ContainerSpec.to_dict` shows the path and mode only."""

    path: str  # absolute, in the container
    content: bytes = field(repr=False)
    mode: int = 0o600


@dataclass(frozen=True)
class ModelFile:
    """``--model-file`` resolved on the host: the folder to mount and the file in it."""

    host_dir: str
    filename: str


@dataclass(frozen=True)
class UpOptions:
    """What the user asked for, already parsed into typed values."""

    port: int | None = None
    bind: str = "127.0.0.1"
    name: str | None = None
    volume: str | None = None
    image: str | None = None
    gpus: str = "auto"  # auto | all | none
    env: dict[str, str] = field(default_factory=dict)
    model: str | None = None  # --model: a model reference the server resolves itself
    model_file: str | None = None  # --model-file: a path on this machine
    token_file: str | None = None  # --hf-token-file: where the HF token is (never the token)
    # --yes: the user confirmed mounting a system folder or their whole home (--volume).
    confirm_host_folder: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    name: str  # container name
    instance: str  # llmctl's name for it (`--name`), e.g. "ollama"
    profile: str
    api: str
    image: str
    command: tuple[str, ...]
    env: dict[str, str]
    ports: tuple[PortBinding, ...]
    volumes: tuple[VolumeMount, ...]
    gpus: bool
    labels: dict[str, str]
    restart: str = "unless-stopped"
    mounts: tuple[BindMount, ...] = ()
    shm_size: str | None = None
    ipc_mode: str | None = None
    model: str | None = None  # the id /v1/models must list once ready
    # Secret environment (HF_TOKEN ...): given to the container, but never printed, labelled
    # or hashed; to_dict() shows only the names.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # Files written into the container before it starts (secret configs): see ContainerFile.
    files: tuple[ContainerFile, ...] = ()

    @property
    def host_port(self) -> int:
        return self.ports[0].host_port

    @property
    def bind(self) -> str:
        return self.ports[0].host_ip

    @property
    def exposed(self) -> bool:
        return self.bind not in LOOPBACK_BINDS

    @property
    def environment(self) -> dict[str, str]:
        """What the container really gets: env plus secrets (for the engine layer only)."""
        return {**self.env, **self.secrets}

    def to_dict(self) -> dict[str, object]:
        doc = asdict(self)
        doc["secrets"] = {k: REDACTED for k in self.secrets}
        if self.files:
            doc["files"] = [{"path": f.path, "mode": f"{f.mode:04o}", "content": REDACTED}
                            for f in self.files]
        else:
            doc.pop("files")
        doc["exposed"] = self.exposed
        return doc


def pin_image(spec: ContainerSpec, pinned: str) -> ContainerSpec:
    """``spec`` run from ``pinned`` (``repo@sha256:...``, the same image as its tag named
    when the lock was made). The labels, spec hash included, stay those of the planned
    reference: a frozen container and an unfrozen one of the same image are the same spec."""
    return replace(spec, image=pinned, labels={**spec.labels, LABEL_IMAGE_REF: spec.image})


def spec_hash(spec_fields: dict[str, object]) -> str:
    blob = json.dumps(spec_fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def container_name(instance: str) -> str:
    return f"llmctl-{instance}"


def validate_bind(bind: str) -> str:
    """A literal IP address only: publishing on a host name makes Docker bind every
    interface (reference/docker-engine.md)."""
    try:
        return str(ipaddress.ip_address(bind.strip("[]")))
    except ValueError:
        raise UsageError(
            f"--bind {bind!r} is not an IP address",
            "Use a literal address such as 127.0.0.1 (default) or 0.0.0.0 to expose.",
        ) from None


def validate_port(port: int, what: str = "--port") -> int:
    if not 1 <= port <= 65535:
        raise UsageError(f"{what} {port} is not a TCP port", "Use a number from 1 to 65535.")
    return port


def parse_env(items: list[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``--env KEY=VALUE`` items; ``--env KEY`` takes KEY's value from llmctl's own
    environment, as `docker run -e KEY` does (which keeps a secret out of argv)."""
    env: dict[str, str] = {}
    source = os.environ if environ is None else environ
    for item in items:
        key, sep, value = item.partition("=")
        if not ENV_KEY_RE.match(key):
            shown = f"{key}=***" if sep else key  # never echo a value: it may be a secret
            raise UsageError(f"--env {shown!r} is not KEY=VALUE (or KEY, taken from the "
                             "environment)", "Example: --env OLLAMA_DEBUG=1")
        if not sep:
            if key not in source:
                raise UsageError(f"--env {key!r} is not KEY=VALUE, and {key} is not set in "
                                 "the environment to take its value from",
                                 f"Export {key} first, or give --env {key}=VALUE.")
            value = source[key]
        env[key] = value
    return env


def looks_secret(key: str, secret_names: Iterable[str] = ()) -> bool:
    """A profile's secret, or a name that looks like one (``*TOKEN*``, ``*KEY*``,
    ``*SECRET*``, ``*PASSWORD*``, case-insensitive)."""
    return key in set(secret_names) or bool(SECRET_KEY_RE.search(key))


def split_env(env: Mapping[str, str], secret_names: Iterable[str] = ()) -> tuple[
        dict[str, str], dict[str, str]]:
    """``--env`` items as (plain, secret): secrets are masked in every output."""
    names = set(secret_names)
    plain = {k: v for k, v in env.items() if not looks_secret(k, names)}
    return plain, {k: v for k, v in env.items() if k not in plain}


def _fingerprint(name: str, value: str, salt: str) -> str:
    # PBKDF2 with a per-container salt: the label cannot be looked up in a table, and
    # guessing a short token from it costs FINGERPRINT_ROUNDS hashes per guess.
    raw = hashlib.pbkdf2_hmac("sha256", value.encode(), f"{salt}:{name}".encode(),
                              FINGERPRINT_ROUNDS)
    return raw[:8].hex()


def new_salt() -> str:
    return _random.token_hex(8)


def secrets_label(values: Mapping[str, str], salt: str) -> str:
    """``v1:SALT:NAME=FP,...``: one salted fingerprint per secret, for the secrets label."""
    fps = ",".join(f"{n}={_fingerprint(n, values[n], salt)}" for n in sorted(values))
    return f"{FINGERPRINT_VERSION}:{salt}:{fps}"


def parse_secrets_label(label: str | None) -> tuple[str, dict[str, str]] | None:
    """(salt, {name: fingerprint}) of a secrets label; None when absent or unreadable."""
    if not label:
        return None
    version, sep, rest = label.partition(":")
    salt, sep2, fps = rest.partition(":")
    if version != FINGERPRINT_VERSION or not sep or not sep2 or not salt:
        return None
    found: dict[str, str] = {}
    for item in filter(None, fps.split(",")):
        name, _, fp = item.partition("=")
        found[name] = fp
    return salt, found


def secrets_changed(old_label: str | None, new_label: str | None) -> tuple[
        list[str], list[str]] | None:
    """Compare two secrets labels made with the same salt: (changed or added, dropped)
    secret names; None when the old one is unknown (no label: made by an older llmctl)."""
    old = parse_secrets_label(old_label)
    if old is None:
        return None
    new = parse_secrets_label(new_label)
    new_fps = new[1] if new else {}
    changed = sorted(n for n, fp in new_fps.items() if old[1].get(n) != fp)
    dropped = sorted(n for n in old[1] if n not in new_fps)
    return changed, dropped


def options_label(*, image: str, bind: str, port: int, gpus: bool, volume: str | None,
                  env: Mapping[str, str], secret_env: Iterable[str], model: str | None,
                  model_file: ModelFile | None) -> str:
    """The options label: compact JSON, sorted keys. ``env``: the plain ``--env`` items
    only (the profile's own env is the profile's); ``secret_env``: the names of the
    secret ones (never a value)."""
    doc: dict[str, object] = {"v": OPTIONS_VERSION, "image": image, "bind": bind,
                              "port": port, "gpus": "all" if gpus else "none"}
    if volume:
        doc["volume"] = volume
    if env:
        doc["env"] = [f"{k}={env[k]}" for k in sorted(env)]
    if secret_env:
        doc["secret_env"] = sorted(secret_env)
    if model:
        doc["model"] = model
    if model_file is not None:
        doc["model_file"] = f"{model_file.host_dir.rstrip('/')}/{model_file.filename}"
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def parse_options_label(label: str | None) -> dict[str, object] | None:
    """The options label as a mapping; None when absent, unreadable or of another version
    (a container made by an llmctl that did not record its options)."""
    if not label:
        return None
    try:
        doc = json.loads(label)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("v") != OPTIONS_VERSION:
        return None
    return doc


def check_instance(opts: UpOptions, profile: Profile) -> str:
    """The instance name (``--name``, else the profile's): an empty ``--name`` is an error,
    never silently the default."""
    if opts.name is None:
        return profile.name
    return validate_instance_name(opts.name)


def check_options(profile: Profile, opts: UpOptions) -> None:
    """Every check on ``opts`` that needs neither the engine nor the file system: run
    before Docker is contacted, so a bad command line is a usage error even when the engine
    is down."""
    check_instance(opts, profile)
    validate_bind(opts.bind)
    if opts.port is not None:
        validate_port(opts.port)
    problem = validate_image(opts.image) if opts.image is not None else None
    if problem:
        raise UsageError(f"--image: {problem}", "Example: --image ollama/ollama:0.17.1")
    if opts.gpus not in ("auto", "all", "none"):
        raise UsageError(f"--gpus {opts.gpus!r} is not one of auto, all, none")
    check_model_options(profile, opts.model, has_file=opts.model_file is not None)
    for key in opts.env:
        if not ENV_KEY_RE.match(key):
            raise UsageError(f"--env {key!r} is not a valid variable name")


def check_model_options(profile: Profile, model: str | None, *, has_file: bool) -> None:
    """``--model`` / ``--model-file`` against what the profile takes, and ``--model``
    against the grammar of the server that receives it."""
    m = profile.model
    if m is None:
        if model is not None or has_file:
            flag = "--model" if model is not None else "--model-file"
            raise UsageError(f"profile {profile.name!r} takes no {flag}",
                             "Its image chooses the model itself; drop the option.")
        return
    if model is not None:
        if has_file and m.alias_arg:
            # With --model-file, --model only names the loaded file (the server's alias).
            validate_model_id(model)
        else:
            validate_server_model(model, profile.kind)
    if model is None and not has_file:
        if m.required:
            ways = []
            if m.file_arg:
                ways.append("--model-file PATH (a model file on this machine)")
            if m.arg or m.env:
                ways.append(f"--model NAME (e.g. --model {m.example or 'ORG/MODEL'})")
            raise UsageError(
                f"{profile.name} needs a model: {' or '.join(ways)}",
                "Without one the server would start its own default model, not yours.",
            )
        return
    if has_file:
        if not m.file_arg:
            raise UsageError(f"profile {profile.name!r} takes no --model-file",
                             "Name the model with --model instead.")
        if model is not None and not m.alias_arg:
            raise UsageError("--model and --model-file cannot be combined for "
                             f"{profile.name!r}", "Give one of them.")
    elif not (m.arg or m.env):
        raise UsageError(f"profile {profile.name!r} takes a model file only",
                         "Use --model-file PATH.")


def _absolute(path: str) -> bool:
    """An absolute host path (POSIX, or a Windows drive path)."""
    return path.startswith("/") or bool(re.match(r"[A-Za-z]:[\\/]", path))


def _model_parts(
    profile: Profile, opts: UpOptions, model_file: ModelFile | None
) -> tuple[list[str], dict[str, str], list[BindMount], str | None]:
    """Command arguments, environment, mounts and the expected model id for the model."""
    m = profile.model
    check_model_options(profile, opts.model, has_file=model_file is not None)
    if model_file is not None:
        validate_gguf_filename(model_file.filename)
    if m is None or (not opts.model and model_file is None):
        return [], {}, [], None
    args: list[str] = []
    env: dict[str, str] = {}
    mounts: list[BindMount] = []
    if model_file is not None:
        assert m.file_arg is not None  # check_model_options refused a profile without one
        target_dir = m.file_target.rstrip("/")
        path = f"{target_dir}/{model_file.filename}"
        if SPLIT_GGUF_RE.search(model_file.filename):
            # A split model: the server opens the other parts next to the first one.
            mounts.append(BindMount(model_file.host_dir, target_dir, read_only=True))
        else:  # just the file: nothing else in its folder is shown to the container
            source = f"{model_file.host_dir.rstrip('/')}/{model_file.filename}"
            mounts.append(BindMount(source, path, read_only=True))
        args += [m.file_arg, path]
        if m.alias_arg:
            model_id = opts.model or model_file.filename.removesuffix(".gguf")
            args += [m.alias_arg, model_id]
        else:
            model_id = path
        return args, env, mounts, model_id
    assert opts.model is not None
    if m.arg:
        args += [m.arg, opts.model]
    if m.env:
        env[m.env] = opts.model
    if m.alias_arg:
        args += [m.alias_arg, opts.model]
    return args, env, mounts, opts.model


def choose_gpus(profile: Profile, gpus: str, gpu_available: bool | None) -> bool:
    """``--gpus`` against what the engine offers. ``gpu_available`` None means unknown
    (planning without an engine). A profile that needs a GPU fails here, before anything
    starts, unless ``--gpus all`` forces it (or ``--gpus none`` says "no GPU, I know")."""
    if gpus == "all":
        return True
    if gpus == "none":
        return False
    if gpus != "auto":
        raise UsageError(f"--gpus {gpus!r} is not one of auto, all, none")
    if gpu_available is None:
        return profile.gpu == "required"
    if profile.gpu == "required" and not gpu_available:
        raise LlmctlError(
            f"{profile.name} needs an NVIDIA GPU, and this Docker engine offers none "
            "(no nvidia runtime or CDI GPU device)",
            f"Run a CPU backend instead: {CPU_ALTERNATIVES}. If the engine does have a GPU "
            "that Docker does not report, force it with --gpus all.",
            details={"reason": "gpu-required", "profile": profile.name},
        )
    return gpu_available and profile.gpu != "none"


def plan_container(
    profile: Profile,
    opts: UpOptions,
    *,
    host_port: int,
    gpu_available: bool | None,
    model_file: ModelFile | None = None,
    secrets: dict[str, str] | None = None,
    secret_salt: str | None = None,
) -> ContainerSpec:
    """The container llmctl will run for ``profile``. ``host_port`` is already chosen and
    valid (an explicit --port checked by :func:`check_options`, the profile default checked
    when it was loaded, or the next free port). ``model_file`` and
    ``secrets`` were resolved on the host by the caller (llmctl.inputs). ``secret_salt``:
    the salt of the existing container's secrets label, so fingerprints compare (a new one
    is drawn when None). ``--env`` items that are, or look like, secrets join ``secrets``:
    given to the container, never printed, labelled or hashed."""
    instance = check_instance(opts, profile)
    bind = validate_bind(opts.bind)
    image = opts.image or profile.image
    problem = validate_image(image)
    if problem:
        raise UsageError(f"--image: {problem}", "Example: --image ollama/ollama:0.17.1")

    model_args, model_env, mounts, model_id = _model_parts(profile, opts, model_file)
    volumes = []
    for i, vol in enumerate(profile.volumes):
        name = vol.name
        if i == 0 and opts.volume and _absolute(opts.volume):
            # A host folder (absolute, resolved by the caller): bind-mounted read-write.
            mounts.append(BindMount(opts.volume, vol.target, read_only=False))
            continue
        if i == 0 and opts.volume:
            name = opts.volume
        elif instance != profile.name:
            # A second instance gets its own data unless --volume says otherwise.
            name = f"{instance}-{vol.name}"
        if not VOLUME_RE.match(name):
            raise UsageError(
                f"--volume {name!r} is neither a volume name nor an absolute folder",
                "A volume name is letters, digits, '_', '.', '-'; a host folder is given as "
                "/path, ~/path or ./path.")
        volumes.append(VolumeMount(name, vol.target))
    if opts.volume and not profile.volumes:
        raise UsageError(f"profile {profile.name!r} has no volume to rename with --volume")

    gpus = choose_gpus(profile, opts.gpus, gpu_available)

    plain_env, env_secrets = split_env(opts.env, (s.env for s in profile.secrets))
    env = {k: v for k, v in {**profile.env, **model_env, **plain_env}.items()
           if k not in env_secrets}
    # An explicit --env wins over a secret found in the environment or a token file.
    secret_env = {**(secrets or {}), **env_secrets}
    command = (*profile.command, *model_args)
    ports = (PortBinding(bind, host_port, profile.container_port),)
    hashed: dict[str, object] = {
        "image": image, "command": list(command), "env": env,
        "ports": [asdict(p) for p in ports], "volumes": [asdict(v) for v in volumes],
        "gpus": gpus,
    }
    # Only when set, so specs of profiles without them keep their earlier hash. Secrets
    # are never hashed: the label must not help anyone guess a token.
    if mounts:
        hashed["mounts"] = [asdict(m) for m in mounts]
    if profile.shm_size:
        hashed["shm_size"] = profile.shm_size
    if profile.ipc:
        hashed["ipc"] = profile.ipc
    labels = {
        LABEL_MANAGED: "true",
        LABEL_PROFILE: profile.name,
        LABEL_INSTANCE: instance,
        LABEL_API: profile.api,
        LABEL_PORT: str(profile.container_port),
        LABEL_SPEC_HASH: spec_hash(hashed),
        LABEL_VERSION: __version__,
    }
    # Always set (also with no secrets), so a later `up` can tell "a token was added" from
    # "made by an llmctl that did not record it".
    labels[LABEL_SECRETS] = secrets_label(secret_env, secret_salt or new_salt())
    labels[LABEL_OPTIONS] = options_label(
        image=image, bind=bind, port=host_port, gpus=gpus, volume=opts.volume,
        env=plain_env, secret_env=env_secrets, model=opts.model, model_file=model_file)
    return ContainerSpec(
        name=container_name(instance), instance=instance, profile=profile.name,
        api=profile.api, image=image, command=command, env=env, ports=ports,
        volumes=tuple(volumes), gpus=gpus, labels=labels, mounts=tuple(mounts),
        shm_size=profile.shm_size, ipc_mode=profile.ipc, model=model_id, secrets=secret_env,
    )
