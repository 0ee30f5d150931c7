"""Global options given before the command (`llmctl --context X up ...`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GlobalOptions:
    debug: bool = False
    verbose: bool = False
    context: str | None = None
    host: str | None = None


options = GlobalOptions()
