"""The holder of an endpoint-file lock is named by its program, even from a long path."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from llmctl.files import _holder


def test_holder_is_named_by_its_program_whatever_the_path_length(tmp_path: Path) -> None:
    """argv[0] longer than the 40 characters kept per word (a venv in a deep folder)."""
    argv0 = "/work/some/rather/deeply/nested/project/.venv/bin/python"
    code = "import sys; print('ready', flush=True); sys.stdin.read()"
    proc = subprocess.Popen([argv0, "-c", code], executable=sys.executable,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"  # it runs
        lock = tmp_path / "endpoints.yaml.lock"
        lock.write_text(f"{proc.pid} {socket.gethostname()}\n")
        fd = os.open(lock, os.O_RDONLY)
        try:
            pid, what = _holder(fd)
        finally:
            os.close(fd)
    finally:
        proc.communicate("")
    assert pid == proc.pid
    assert what.startswith(f"pid {proc.pid} (python -c import sys; print('ready'")
