"""A config folder or lock file that belongs to root (left by a `sudo llmctl ...`), met by
a normal user: which file, who owns it, and the chown that fixes it; `doctor` says the same.

The tests run as root here, so the user is played by a real process running as `nobody`
(setpriv drops to uid/gid 65534 with no capabilities): file permissions are enforced by the
kernel exactly as for any user. Needs root and setpriv (CI has both).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import need

NOBODY = 65534
WRITE = ["endpoint", "write", "--no-verify", "--endpoint", "http://127.0.0.1:11434",
         "--model", "qwen2.5:0.5b"]


def _llmctl(args: list[str], env: dict[str, str], *,
            user: int | None) -> subprocess.CompletedProcess[str]:
    drop = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLMCTL_")}
    return subprocess.run([*drop, sys.executable, "-m", "llmctl", *args], capture_output=True,
                          text=True, timeout=60, env={**clean, "NO_COLOR": "1", **env},
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def home() -> Iterator[Path]:
    """A home folder that belongs to `nobody`, under a folder everyone may enter."""
    need(hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv") is not None,
         "needs root and setpriv to play a normal user")
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                            "--clear-groups", sys.executable, "-c", "import llmctl"],
                           capture_output=True, text=True)
    need(probe.returncode == 0, f"user nobody cannot run this Python: {probe.stderr[-200:]}")
    base = Path(tempfile.mkdtemp(prefix="llmctl-perm-"))
    os.chmod(base, 0o755)
    h = base / "home"
    h.mkdir()
    os.chown(h, NOBODY, NOBODY)
    try:
        yield h
    finally:
        shutil.rmtree(base)


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def test_sudo_llmctl_leaves_files_the_user_can_still_write(home: Path) -> None:
    """`sudo llmctl endpoint write` (HOME kept) creates the config folder, the file and the
    lock: they go to the owner of the folder they are made in, not to root."""
    first = _llmctl([*WRITE, "--name", "root-wrote"], _env(home), user=None)
    assert first.returncode == 0, first.stderr
    folder = home / ".config" / "llmctl"
    for p in (home / ".config", folder, folder / "endpoints.yaml", folder / "endpoints.yaml.lock"):
        assert (p.stat().st_uid, p.stat().st_gid) == (NOBODY, NOBODY), p
    again = _llmctl([*WRITE, "--name", "user-wrote"], _env(home), user=NOBODY)
    assert again.returncode == 0, again.stderr
    assert "user-wrote:" in (folder / "endpoints.yaml").read_text()


def _root_owned_config(home: Path) -> Path:
    """What an older llmctl run with sudo left: a root-only config folder."""
    folder = home / ".config" / "llmctl"
    folder.mkdir(parents=True)
    os.chown(home / ".config", NOBODY, NOBODY)
    (folder / "endpoints.yaml").write_text("endpoints: {}\n")
    (folder / "endpoints.yaml.lock").write_text("")
    for p in (folder, folder / "endpoints.yaml", folder / "endpoints.yaml.lock"):
        os.chown(p, 0, 0)
        os.chmod(p, 0o700 if p.is_dir() else 0o600)
    return folder


def test_root_owned_config_folder_names_file_owner_and_the_chown(home: Path) -> None:
    folder = _root_owned_config(home)
    for args in (WRITE, ["endpoint", "show"], ["endpoint", "list"]):
        res = _llmctl(args, _env(home), user=NOBODY)
        assert res.returncode == 3, res.stderr
        error, hint = res.stderr.strip().splitlines()[-2:]  # after a note on Docker
        assert error.startswith("error: cannot ") and ": permission denied: " in error
        assert f"{folder} is owned by root (left by a `sudo llmctl ...`?), and you (nobody) " \
               "cannot " in error
        assert hint == f"hint: Make it yours again: `sudo chown -R nobody: {folder}`."
        assert "This is a bug" not in res.stderr and res.stdout == ""
    doc = json.loads(_llmctl([*WRITE, "--json"], _env(home), user=NOBODY).stdout)
    assert doc["error"]["exit_code"] == 3 and "sudo chown -R nobody:" in doc["error"]["hint"]
    # doctor says the same, and its fix is that command (not "write it again")
    doctor = _llmctl(["doctor", "--check", "files", "--check", "endpoint", "--json"],
                     _env(home), user=NOBODY)
    assert doctor.returncode == 1, doctor.stderr
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["result"]["checks"]}
    for name in ("files", "endpoint"):
        assert checks[name]["status"] == "fail"
        assert f"`sudo chown -R nobody: {folder}`" in checks[name]["fix"], checks[name]
    # the fix works: run it (as root, which sudo stands for), and the user writes again
    command = shlex.split(hint.split("`")[1])
    assert command[:2] == ["sudo", "chown"]
    subprocess.run(command[1:], check=True)
    assert _llmctl(WRITE, _env(home), user=NOBODY).returncode == 0
    fixed = _llmctl(["doctor", "--check", "files", "--json"], _env(home), user=NOBODY)
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["result"]["checks"][0]["status"] \
        == "ok"


def test_root_owned_lock_file_is_named(home: Path) -> None:
    folder = _root_owned_config(home)
    os.chown(folder, NOBODY, NOBODY)
    os.chown(folder / "endpoints.yaml", NOBODY, NOBODY)
    res = _llmctl(WRITE, _env(home), user=NOBODY)
    assert res.returncode == 3, res.stderr
    error, hint = res.stderr.strip().splitlines()[-2:]  # after a note on Docker
    assert error == (f"error: cannot lock {folder}/endpoints.yaml.lock: permission denied: "
                     f"{folder}/endpoints.yaml.lock is owned by root (left by a `sudo llmctl "
                     "...`?), and you (nobody) cannot open for writing it")
    assert hint == f"hint: Make it yours again: `sudo chown -R nobody: {folder}`."
