"""`llmctl doctor` wall time, whole process, side by side with `llmctl --version`, in one run.

Cases (median of N runs after a warm-up, default 7):
  llmctl --version                  the floor: interpreter + CLI start-up
  doctor, healthy                   the daemon answers (with one llmctl Ollama running when
                                    the test image llmctl-test/fake is present: --with-server)
  doctor, daemon refused            DOCKER_HOST=tcp://127.0.0.1:<closed port>
  doctor, daemon silent             DOCKER_HOST at a local socket that accepts and never
                                    answers (bounded by doctor's first-contact timeout)

Targets (issue 6): healthy at most 1 s median; daemon unreachable at most 3 s.
Usage: python benchmarks/bench_doctor.py [--runs N] [--json] [--no-server]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"doctor, healthy": 1.0, "doctor, daemon refused": 3.0, "doctor, daemon silent": 3.0}


def measure(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    full = {**os.environ, "NO_COLOR": "1", **env}
    subprocess.run(cmd, capture_output=True, env=full, check=False)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=full, check=False)
        times.append(time.perf_counter() - t0)
    return times


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def silent_daemon() -> Iterator[str]:
    """A TCP socket that completes handshakes (listen backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    try:
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


@contextlib.contextmanager
def managed_server(enabled: bool) -> Iterator[str | None]:
    """One llmctl Ollama (the fake image) so the healthy run has something to look at."""
    if not enabled:
        yield None
        return
    try:
        import docker

        client = docker.from_env(timeout=10)
        images = [t for i in client.images.list("llmctl-test/fake") for t in i.tags]
    except Exception:  # no engine or no image: measure without a server
        images = []
    if not images:
        yield None
        return
    sys.path.insert(0, str(ROOT))
    from llmctl.ports import next_free

    port = next_free(26500, "127.0.0.1")
    name = f"bench-doctor-{os.getpid()}"
    up = subprocess.run([PY, "-m", "llmctl", "up", "ollama", "--name", name, "--port",
                         str(port), "--image", images[0], "--progress", "none"],
                        capture_output=True, text=True, check=False)
    try:
        yield name if up.returncode == 0 else None
    finally:
        subprocess.run([PY, "-m", "llmctl", "down", "ollama", "--name", name, "--volumes",
                        "--yes"], capture_output=True, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-server", action="store_true", help="Do not start a managed Ollama.")
    args = ap.parse_args()
    doctor = [PY, "-m", "llmctl", "doctor", "--json"]
    rows = []
    with managed_server(not args.no_server) as server, silent_daemon() as silent:
        cases: list[tuple[str, list[str], dict[str, str]]] = [
            ("llmctl --version", [PY, "-m", "llmctl", "--version"], {}),
            ("doctor, healthy", doctor, {}),
            ("doctor, daemon refused", doctor,
             {"DOCKER_HOST": f"tcp://127.0.0.1:{closed_port()}"}),
            ("doctor, daemon silent", doctor, {"DOCKER_HOST": silent}),
        ]
        for name, cmd, env in cases:
            t = measure(cmd, env, args.runs)
            rows.append({"case": name, "median_s": statistics.median(t), "min_s": min(t),
                         "max_s": max(t), "target_s": TARGETS.get(name)})
    base = rows[0]["median_s"]
    for r in rows:
        r["x_version"] = r["median_s"] / base
        r["within_target"] = None if r["target_s"] is None else r["median_s"] <= r["target_s"]
    if args.json:
        print(json.dumps({"runs": args.runs, "managed_server": server, "results": rows},
                         indent=2))
        return
    print(f"runs: {args.runs}; managed server: {server or 'none'}")
    print(f"{'case':26} {'median':>8} {'min':>8} {'max':>8} {'x version':>10} {'target':>8}")
    for r in rows:
        target = "" if r["target_s"] is None else (
            f"{'ok' if r['within_target'] else 'MISS'} {r['target_s']:.0f}s")
        print(f"{r['case']:26} {r['median_s']:7.3f}s {r['min_s']:7.3f}s {r['max_s']:7.3f}s "
              f"{r['x_version']:10.2f} {target:>8}")


if __name__ == "__main__":
    main()
