"""What commands read from the user and the host before they act: model files, secrets,
host folders, and durations.

Kept apart from the pure planner (llmctl.plan) because it touches the file system and the
environment. Secrets come from the environment or files, never from argv; their values are
only ever handed to the engine layer (ContainerSpec.secrets), never printed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from llmctl.errors import ConfigError, UsageError
from llmctl.names import check_text
from llmctl.plan import ModelFile, UpOptions, check_options
from llmctl.profiles import VOLUME_RE, Profile

if TYPE_CHECKING:
    from llmctl.engine.model import DaemonTarget

MAX_SECRET_BYTES = 4096
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
# Never mounted read-write into a container without --yes: these folders and everything
# inside them, and every folder that holds one of them (so "/" and "/var" too).
SYSTEM_FOLDERS = (
    "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot",
    "/proc", "/sys", "/dev", "/run", "/var/run", "/var/lib/docker",
    # macOS
    "/System", "/Library", "/private/etc", "/private/var/run",
)
# Folders holding every user's home: like a home itself, never without --yes.
HOMES_FOLDERS = ("/home", "/Users", "/root")


def check_seconds(value: float | None, option: str = "--timeout", *,
                  say_value: bool = True) -> None:
    """A duration given by the user (``--timeout``, ``--stall-timeout``) must be more than 0
    seconds (None: not given). The one place this is checked; ``say_value`` False keeps the
    message of the commands that never named the value (`chat`, `probe`)."""
    if value is not None and value <= 0:
        shown = f"{option} {value:g}" if say_value else option
        raise UsageError(f"{shown} must be more than 0 seconds")


@dataclass
class ResolvedSecrets:
    values: dict[str, str] = field(default_factory=dict, repr=False)
    sources: dict[str, str] = field(default_factory=dict)  # env name -> where it came from
    notes: list[str] = field(default_factory=list)


def host_path(value: str) -> str:
    """An absolute, user-expanded path for a host folder or file given on the command line."""
    return str(Path(value).expanduser().resolve())


@dataclass(frozen=True)
class VolumeChoice:
    """What ``--volume`` means: a named Docker volume, or a host folder (absolute)."""

    kind: str  # "volume" | "folder"
    value: str  # the volume's name, or the folder's absolute path
    given: str  # what the user typed
    warnings: tuple[str, ...] = ()


def names_a_folder(value: str) -> bool:
    """``--volume`` names a host folder only when it says so: an absolute path, ``~`` or
    ``~/...``, or a relative path written with ``./`` or ``../`` (as the docker CLI reads
    ``-v``). A bare word (``data``) is a named volume."""
    return (value.startswith(("/", "~", "./", "../", ".\\", "..\\"))
            or value in (".", "..")
            or (len(value) > 2 and value[0].isalpha() and value[1] == ":"
                and value[2] in "\\/"))


def _forms(path: str) -> set[Path]:
    """A path as written and as resolved (/var/run is /run; /etc is /private/etc on
    macOS), so a folder is recognised whichever way either side is spelled."""
    forms = {Path(path)}
    with contextlib.suppress(OSError, RuntimeError):
        forms.add(Path(path).resolve())
    return forms


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def folder_risk(path: Path, *, home: Path | None = None,
                sockets: tuple[str, ...] = (DEFAULT_DOCKER_SOCKET,)) -> str | None:
    """Why mounting ``path`` (absolute, resolved) read-write into a container is dangerous,
    or None. The Docker socket's folder counts as a system folder: whoever can write the
    socket controls the host."""
    if path == Path(path.anchor):
        return "is the host's root folder"
    socket_dirs = {str(Path(s).parent) for s in sockets if s}
    for folder in (*SYSTEM_FOLDERS, *sorted(socket_dirs)):
        what = ("the folder of the Docker socket" if folder in socket_dirs
                and folder not in SYSTEM_FOLDERS else "a system folder")
        for form in _forms(folder):
            if _within(path, form):
                where = "is" if path == form else "is inside"
                return f"{where} {folder}, {what}"
            if path in form.parents:
                return f"holds {folder}, {what}"
    homes = [Path(h) for h in HOMES_FOLDERS]
    if home is not None:
        homes.insert(0, home)
    for h in homes:
        for form in _forms(str(h)):
            if path == form:
                return "is your whole home folder" if h == home else \
                    f"is {h}, the folder of users' homes"
            if path in form.parents and h == home:
                return "holds your home folder"
    return None


def resolve_volume(
    value: str,
    *,
    confirmed: bool = False,
    sockets: tuple[str, ...] = (DEFAULT_DOCKER_SOCKET,),
    cwd: Path | None = None,
    home: Path | None = None,
) -> VolumeChoice:
    """``--volume VALUE``: a named volume, or an explicit host folder that exists and is
    not ``/``, a system folder, the Docker socket's folder or the whole home (unless
    ``confirmed`` by --yes). A bare name never silently means a folder, nor the reverse:
    when a folder of that name is here, a warning says which one is used."""
    check_text(value, "--volume", "ollama-data or ./data")
    here = cwd or Path.cwd()
    if not names_a_folder(value):
        if VOLUME_RE.match(value):
            warnings = []
            if (here / value).is_dir():
                warnings.append(
                    f"--volume {value} is a named Docker volume, not the folder "
                    f"./{value} here; write --volume ./{value} to mount that folder")
            return VolumeChoice("volume", value, value, tuple(warnings))
        raise UsageError(
            f"--volume {value!r} is neither a volume name nor a folder written as "
            "/path, ~/path or ./path",
            "A named volume is letters, digits, '_', '.' or '-'; for a folder here write "
            f"./{value}.")
    try:
        home = home or Path.home()
    except (KeyError, RuntimeError):
        home = None
    raw = Path(value).expanduser()
    if not raw.is_absolute():
        raw = here / raw
    try:
        path = raw.resolve()
    except (OSError, RuntimeError) as exc:
        raise UsageError(f"--volume {value}: cannot resolve the path ({exc})") from None
    shown = value if str(path) == value else f"{value} ({path})"
    if not path.exists():
        raise UsageError(f"--volume {shown}: no such folder",
                         f"Create it first (mkdir -p {path}), or give a named volume "
                         "(--volume NAME).")
    if not path.is_dir():
        raise UsageError(f"--volume {shown}: not a folder",
                         "Give a folder; the container keeps its data there.")
    warnings = []
    risk = folder_risk(path, home=home, sockets=sockets)
    if risk:
        if not confirmed:
            raise UsageError(
                f"--volume {shown} {risk}: the container would get it read-write",
                "Mount a folder of its own (e.g. --volume ~/llmctl-data) or use a named "
                "volume (--volume NAME); add --yes if you really mean this folder.",
                details={"reason": "host-folder", "path": str(path)},
            )
        warnings.append(f"mounting the host folder {path} read-write ({risk}), as --yes "
                        "confirms")
    return VolumeChoice("folder", str(path), value, tuple(warnings))


def resolve_model_file(value: str) -> ModelFile:
    """``--model-file PATH``: a model file (mounted read-only by itself; for a split GGUF the
    folder, so the other parts are there too), or a folder holding exactly one ``.gguf``."""
    path = Path(value).expanduser()
    try:
        path = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise UsageError(f"--model-file {value}: no such file",
                         "Give the path of a model file on this machine.") from None
    if path.is_dir():
        ggufs = sorted(p.name for p in path.iterdir() if p.suffix == ".gguf" and p.is_file())
        if len(ggufs) != 1:
            found = ", ".join(ggufs[:5]) or "none"
            raise UsageError(
                f"--model-file {value}: a folder must hold exactly one .gguf file "
                f"(found {found})",
                "Give the file itself: --model-file FOLDER/NAME.gguf.",
            )
        return ModelFile(str(path), ggufs[0])
    if not path.is_file():
        raise UsageError(f"--model-file {value}: not a regular file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"--model-file {value}: not readable by you")
    return ModelFile(str(path.parent), path.name)


def _read_secret_file(path: Path, what: str) -> str | None:
    from llmctl.files import read_text

    # a file named by an option is a usage error (exit 2); one found by itself, exit 3
    text = read_text(path, what=what, error=UsageError if what.startswith("--") else ConfigError)
    return (text or "").strip()[:MAX_SECRET_BYTES] or None


def _inside(path: Path, folder: str) -> bool:
    try:
        path.resolve().relative_to(Path(folder).resolve())
        return True
    except (ValueError, OSError):
        return False


def resolve_secrets(
    profile: Profile,
    *,
    token_file: str | None = None,
    mounted: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> ResolvedSecrets:
    """Find each secret the profile names: ``--hf-token-file`` first (for HF_TOKEN), then the
    environment variables, then the files. A token file that lies inside a host folder
    mounted into the container (``--volume ~/.cache/huggingface``) is read by the server from
    there, so it is not copied into the container's environment."""
    env = os.environ if environ is None else environ
    out = ResolvedSecrets()
    names = {s.env for s in profile.secrets}
    if token_file and "HF_TOKEN" not in names:
        raise UsageError(f"--hf-token-file: profile {profile.name!r} takes no Hugging Face token")
    for secret in profile.secrets:
        if token_file and secret.env == "HF_TOKEN":
            path = Path(token_file).expanduser()
            value = _read_secret_file(path, "--hf-token-file")
            if value is None:
                raise UsageError(f"--hf-token-file {token_file}: no such file, or it is empty")
            out.values[secret.env], out.sources[secret.env] = value, f"file {path}"
            continue
        found = next(((n, env[n].strip()) for n in secret.from_env if env.get(n, "").strip()),
                     None)
        if found:
            out.values[secret.env], out.sources[secret.env] = found[1], f"${found[0]}"
            continue
        for candidate in secret.from_file:
            path = Path(candidate).expanduser()
            if any(_inside(path, folder) for folder in mounted) and path.is_file():
                out.sources[secret.env] = f"file {path} (mounted, not copied)"
                out.notes.append(f"{secret.env}: the server reads {path} from the mounted "
                                 "folder; it is not put in the container's environment")
                break
            value = _read_secret_file(path, "token file")
            if value is not None:
                out.values[secret.env], out.sources[secret.env] = value, f"file {path}"
                break
        else:
            if secret.required:
                where = ", ".join([f"${n}" for n in secret.from_env] + list(secret.from_file))
                raise UsageError(
                    f"{profile.name} needs the secret {secret.env} (looked in {where})",
                    "Set the environment variable or write the token file; never pass it "
                    "as a command-line argument.",
                )
    return out


# --- `up`'s options, before the engine is contacted ------------------------------------
def docker_sockets(target: DaemonTarget | None) -> tuple[str, ...]:
    """The Docker sockets of this machine: the one in use, the default one and those that
    exist at the usual places (Desktop, Colima, ...). Their folders are never mounted."""
    from urllib.parse import urlsplit

    from llmctl.engine.connect import DEFAULT_UNIX, existing_sockets

    found = [urlsplit(DEFAULT_UNIX).path]
    if target is not None and urlsplit(target.host).scheme == "unix":
        found.append(urlsplit(target.host).path)
    found += existing_sockets()
    return tuple(dict.fromkeys(found))


def prepare_options(
    profile: Profile, opts: UpOptions, target: DaemonTarget | None = None
) -> tuple[UpOptions, list[str]]:
    """Check the options before the engine is contacted and resolve ``--volume`` (a named
    volume, or an explicit host folder made absolute): the options to plan with, and
    warnings worth showing."""
    check_options(profile, opts)
    if opts.volume is None:
        return opts, []
    if not profile.volumes:
        raise UsageError(f"profile {profile.name!r} has no volume to replace with --volume")
    choice = resolve_volume(opts.volume, confirmed=opts.confirm_host_folder,
                            sockets=docker_sockets(target))
    return replace(opts, volume=choice.value), list(choice.warnings)


def host_inputs(
    daemon: DaemonTarget | None, profile: Profile, opts: UpOptions
) -> tuple[ModelFile | None, ResolvedSecrets]:
    """Read what the options point at on this machine: the model file, the secrets. Checked
    before anything starts (a missing file is a usage error, not a crash-looping server).
    ``daemon``: the one that will run the container (None: unknown)."""
    mounted = tuple(p for p in (opts.volume,) if p and p.startswith("/"))
    if daemon is not None and not daemon.is_local and (opts.model_file or mounted):
        raise UsageError(
            "--model-file and --volume PATH need a Docker daemon on this machine "
            f"(this one is at {daemon.host})",
            "Copy the file to the daemon's host and run llmctl there, or use --model.",
        )
    model_file = resolve_model_file(opts.model_file) if opts.model_file else None
    secrets = resolve_secrets(profile, token_file=opts.token_file, mounted=mounted)
    return model_file, secrets
