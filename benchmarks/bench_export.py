"""`llmctl export` wall time per form, whole process, beside `llmctl --version` in one run.

Cases (median of N runs after a warm-up, default 7), each printing to stdout (`-o -`):
  llmctl --version                   the floor: interpreter + CLI start-up
  compose, profile                   `export compose ollama --port 11435` (no engine asked)
  kube, profile                      `export kube vllm --model ... --gpu nvidia:1`
  helm-values, profile               `export helm-values vllm --chart vllm-stack ...`
  compose, engine asked              `export compose ollama`: the engine is listed for a
                                     running instance first (skipped when none answers)

Usage: python benchmarks/bench_export.py [--runs N] [--json]
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
LLMCTL = [PY, "-m", "llmctl"]
CASES = {
    "llmctl --version": ["--version"],
    "compose, profile": ["export", "compose", "ollama", "--port", "11435", "-o", "-"],
    "kube, profile": ["export", "kube", "vllm", "--model", "Qwen/Qwen3-0.6B", "--gpu",
                      "nvidia:1", "-o", "-"],
    "helm-values, profile": ["export", "helm-values", "vllm", "--chart", "vllm-stack",
                             "--model", "Qwen/Qwen3-0.6B", "-o", "-"],
    "compose, engine asked": ["export", "compose", "ollama", "-o", "-"],
}


def measure(args: list[str], runs: int) -> list[float] | None:
    env = {**os.environ, "NO_COLOR": "1"}
    first = subprocess.run([*LLMCTL, *args], capture_output=True, env=env, check=False)
    if first.returncode != 0:
        return None
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([*LLMCTL, *args], capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    for name, cmd in CASES.items():
        times = measure(cmd, args.runs)
        results[name] = None if times is None else {
            "median_s": round(statistics.median(times), 3),
            "min_s": round(min(times), 3), "max_s": round(max(times), 3)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    floor = (results["llmctl --version"] or {}).get("median_s")
    for name, r in results.items():
        if r is None:
            print(f"{name:28} skipped (the command failed here)")
            continue
        ratio = f"  x{r['median_s'] / floor:.1f} of --version" if floor else ""
        print(f"{name:28} median {r['median_s']:.3f} s  (min {r['min_s']:.3f}, "
              f"max {r['max_s']:.3f}){ratio}")


if __name__ == "__main__":
    main()
