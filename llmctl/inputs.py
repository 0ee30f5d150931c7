"""What `up` reads from the host before planning: model files and secrets.

Kept apart from the pure planner (llmctl.plan) because it touches the file system and the
environment. Secrets come from the environment or files, never from argv; their values are
only ever handed to the engine layer (ContainerSpec.secrets), never printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llmctl.errors import ConfigError, UsageError
from llmctl.plan import ModelFile
from llmctl.profiles import Profile

MAX_SECRET_BYTES = 4096


@dataclass
class ResolvedSecrets:
    values: dict[str, str] = field(default_factory=dict, repr=False)
    sources: dict[str, str] = field(default_factory=dict)  # env name -> where it came from
    notes: list[str] = field(default_factory=list)


def host_path(value: str) -> str:
    """An absolute, user-expanded path for a host folder or file given on the command line."""
    return str(Path(value).expanduser().resolve())


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
