"""What several benchmarks need: a free loopback port, the tests' fake Ollama as a process
of its own, and a child's exit code with its peak memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fakes" / "llmfake.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_fake_ollama(data_dir: str, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """tests/fakes/llmfake.py as a fake Ollama on a free loopback port, storing its models
    in ``data_dir`` (``options``: more of its ``--OPTION VALUE``); returns it and its URL
    once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), "--kind", "ollama", "--port", str(port), "--host",
         "127.0.0.1", "--data-dir", data_dir, "--quiet", "1", *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the fake Ollama did not start")


def wait_child(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """(exit code, peak RSS in MiB) of one child, from its own rusage."""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    kib = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    return proc.returncode, kib / 1024
