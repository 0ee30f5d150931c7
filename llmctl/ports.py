"""Host ports: is one free, who holds it, and which free one to suggest instead."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path


def port_free(port: int, bind: str = "127.0.0.1") -> bool:
    """True when nothing on this host listens on ``bind:port`` (or on every interface).

    SO_REUSEADDR (not on Windows, where it means "steal") makes a bind fail only on a real
    listener, not on connections lingering in TIME_WAIT.
    """
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        if os.name != "nt":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind, port))
        except OSError:
            return False
    return True


def next_free(start: int, bind: str, taken: Iterable[int] = (), limit: int = 200) -> int | None:
    avoid = set(taken)
    for port in range(start, min(65535, start + limit) + 1):
        if port not in avoid and port_free(port, bind):
            return port
    return None


def process_holding(port: int) -> str | None:
    """Best effort on Linux: the command of the process listening on ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    exe = " ".join(c.decode(errors="replace") for c in cmd if c)[:80]
                except OSError:
                    exe = "?"
                return f"pid {pid} ({exe})"
    return "a process of another user"
