"""Start-up cost of llmctl commands, side by side with baselines, in one run.

Whole-process wall time, median of N runs after a warm-up (default 7):
  python -c pass                          the interpreter floor
  eager imports                           typer, rich, docker, httpx, yaml imported up front
  llmctl --help / --version / up --help   what users type most
  llmctl profiles list                    a command that must stay light (no docker import)
  llmctl COMMAND --help                   every other command's start-up

Usage: python benchmarks/startup.py [--runs N] [--json]
Target (issue 2): each llmctl case at most 120 ms median on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PY = sys.executable
CASES: list[tuple[str, list[str]]] = [
    ("python -c pass", [PY, "-c", "pass"]),
    ("eager imports (typer rich docker httpx yaml)",
     [PY, "-c", "import typer, rich, rich.console, docker, httpx, yaml"]),
    ("llmctl --help", [PY, "-m", "llmctl", "--help"]),
    ("llmctl --version", [PY, "-m", "llmctl", "--version"]),
    ("llmctl up --help", [PY, "-m", "llmctl", "up", "--help"]),
    ("llmctl profiles list", [PY, "-m", "llmctl", "profiles", "list"]),
    *[(f"llmctl {c} --help", [PY, "-m", "llmctl", *c.split(), "--help"])
      for c in ("doctor", "down", "status", "pull", "models", "rm", "probe", "chat",
                "endpoint write", "profiles validate")],
]


def measure(cmd: list[str], runs: int) -> list[float]:
    env = {**os.environ, "NO_COLOR": "1"}
    subprocess.run(cmd, capture_output=True, env=env, check=False)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for name, cmd in CASES:
        t = measure(cmd, args.runs)
        rows.append({"case": name, "median_ms": statistics.median(t) * 1000,
                     "min_ms": min(t) * 1000, "max_ms": max(t) * 1000})
    base = rows[0]["median_ms"]
    eager = rows[1]["median_ms"]
    if args.json:
        print(json.dumps({"runs": args.runs, "results": rows}, indent=2))
        return
    print(f"{'case':46} {'median':>8} {'min':>8} {'max':>8} {'x pass':>7} {'x eager':>8}")
    for r in rows:
        print(f"{r['case']:46} {r['median_ms']:7.0f}ms {r['min_ms']:7.0f}ms {r['max_ms']:7.0f}ms"
              f" {r['median_ms'] / base:7.2f} {r['median_ms'] / eager:8.2f}")


if __name__ == "__main__":
    main()
