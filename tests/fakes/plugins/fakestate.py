"""Shared state of the fake `docker model` / `docker desktop` CLI plugins (stdlib only).

The state is one JSON file, ``$FAKE_DOCKER_STATE`` or ``$DOCKER_CONFIG/fake-docker-state.json``;
every plugin call is appended to ``calls.jsonl`` beside it (argv and the env vars the real
plugins care about) so tests can check what llmctl ran.

Keys (defaults in DEFAULTS):
  mode                  "desktop" (Model Runner inside Docker Desktop) | "engine" (a container)
  desktop_version       what `docker desktop version` reports
  enabled, tcp          Desktop's Model Runner switch and host-side TCP port (null = off)
  disabled_by_settings  Desktop refuses to enable it (Settings Management lock)
  tcp_ignored           enable succeeds but nothing listens on the TCP port
  runner_pid            pid of the fake runner process started by `enable --tcp`
  image                 engine mode: image install-runner runs (stands for docker/model-runner)
  install_fails         engine mode: install-runner exits 1 (a failed image pull)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

DEFAULTS: dict = {
    "mode": "engine",
    "desktop_version": "4.49.0",
    "enabled": False,
    "tcp": None,
    "disabled_by_settings": False,
    "tcp_ignored": False,
    "runner_pid": None,
    "image": "docker/model-runner:latest",
    "install_fails": False,
}

METADATA = {"SchemaVersion": "0.1.0", "Vendor": "llmctl tests (fake)", "Version": "v0.0.0-fake"}


def state_path() -> Path:
    if os.environ.get("FAKE_DOCKER_STATE"):
        return Path(os.environ["FAKE_DOCKER_STATE"])
    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "fake-docker-state.json"


def load() -> dict:
    try:
        doc = json.loads(state_path().read_text())
    except (OSError, ValueError):
        doc = {}
    return {**DEFAULTS, **doc}


def save(state: dict) -> None:
    path = state_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def record(plugin: str, args: list[str]) -> None:
    entry = {
        "plugin": plugin, "args": args, "time": time.time(),
        "env": {k: os.environ[k] for k in ("MODEL_RUNNER_NO_AUTO_INSTALL", "DOCKER_HOST",
                                           "DOCKER_CONTEXT") if k in os.environ},
    }
    with (state_path().parent / "calls.jsonl").open("a") as fh:
        fh.write(json.dumps(entry) + "\n")


def plugin_args(name: str) -> list[str]:
    """argv after the plugin's own name (the docker CLI passes its global flags first)."""
    argv = sys.argv[1:]
    if argv == ["docker-cli-plugin-metadata"]:
        desc = {"model": "Docker Model Runner (fake)", "desktop": "Docker Desktop (fake)"}
        print(json.dumps({**METADATA, "ShortDescription": desc[name]}))
        sys.exit(0)
    if name in argv:
        return argv[argv.index(name) + 1:]
    return argv


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not a runner
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return True
