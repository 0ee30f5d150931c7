"""`llmctl verify` wall time, whole process, beside `llmctl status` and `llmctl --version`, in
one run (the same engine, the same servers, the same moment).

Set-up: one llmctl Ollama (the test image llmctl-test/fake) with one model pulled, locked with
`llmctl lock` into a temporary folder; removed at the end. Cases (median of N runs after a
warm-up, default 7):
  llmctl --version        the floor: interpreter + CLI start-up
  llmctl status           the engine, then each server's health
  llmctl verify           the lock read, the engine, images by digest, each server's models

Target (issue 15): a healthy `verify` at most 0.5 s median.
Usage: python benchmarks/bench_verify.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.5


def llmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "llmctl", *args], capture_output=True, text=True,
                          check=False, env={**os.environ, "NO_COLOR": "1"})


def measure(cmd: list[str], runs: int) -> list[float]:
    env = {**os.environ, "NO_COLOR": "1"}
    subprocess.run(cmd, capture_output=True, env=env, check=False)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[2:])} failed ({done.returncode}): "
                             f"{done.stderr.decode()[-300:]}")
    return times


@contextlib.contextmanager
def locked_server(folder: Path) -> Iterator[tuple[str, Path]]:
    """One llmctl Ollama (the fake image) with a model, and its lock: (name, lock file)."""
    import docker

    client = docker.from_env(timeout=10)
    images = [t for i in client.images.list("llmctl-test/fake") for t in i.tags]
    if not images:
        raise SystemExit("needs the test image llmctl-test/fake (run the integration tests once)")
    sys.path.insert(0, str(ROOT))
    from llmctl.ports import next_free

    port = next_free(27500, "127.0.0.1")
    name = f"bench-verify-{os.getpid()}"
    lock = folder / "llmctl.lock"
    try:
        up = llmctl("up", "ollama", "--name", name, "--port", str(port), "--image", images[0],
                    "--progress", "none")
        if up.returncode != 0:
            raise SystemExit(f"llmctl up failed: {up.stderr[-300:]}")
        pulled = llmctl("pull", "smollm2:135m", "--endpoint", f"http://127.0.0.1:{port}",
                        "--progress", "none")
        locked = llmctl("lock", name, "-o", str(lock))
        if pulled.returncode or locked.returncode:
            raise SystemExit(f"pull/lock failed: {pulled.stderr[-200:]} {locked.stderr[-200:]}")
        yield name, lock
    finally:
        llmctl("down", "ollama", "--name", name, "--volumes", "--yes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, locked_server(Path(tmp)) as (name, lock):
        cases = [("llmctl --version", ["--version"]), ("llmctl status", ["status"]),
                 ("llmctl verify", ["verify", "--lock", str(lock)])]
        for case, words in cases:
            t = measure([PY, "-m", "llmctl", *words], args.runs)
            rows.append({"case": case, "median_s": statistics.median(t), "min_s": min(t),
                         "max_s": max(t)})
    verify = rows[-1]
    verify["target_s"] = TARGET_S
    verify["within_target"] = verify["median_s"] <= TARGET_S
    status = rows[1]["median_s"]
    if args.json:
        print(json.dumps({"runs": args.runs, "server": name, "results": rows,
                          "verify_vs_status": verify["median_s"] / status}, indent=2))
        return
    print(f"runs: {args.runs}; one llmctl Ollama with one model ({name})")
    print(f"{'case':18} {'median':>8} {'min':>8} {'max':>8} {'x status':>9}")
    for r in rows:
        print(f"{r['case']:18} {r['median_s']:7.3f}s {r['min_s']:7.3f}s {r['max_s']:7.3f}s "
              f"{r['median_s'] / status:9.2f}")
    mark = "ok" if verify["within_target"] else "MISS"
    print(f"verify target: at most {TARGET_S:.1f} s median: {mark}")


if __name__ == "__main__":
    main()
