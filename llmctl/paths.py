"""Where llmctl keeps its own files: the config folder (the endpoint file and the user's
profiles live in it). Light on purpose: the profiles and the file helpers both ask it."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """``LLMCTL_CONFIG_DIR``, else the platform's config folder (``~/.config/llmctl`` on
    Linux)."""
    env = os.environ.get("LLMCTL_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("llmctl", appauthor=False))
