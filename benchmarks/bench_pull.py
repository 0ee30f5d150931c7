#!/usr/bin/env python3
"""Benchmark: `llmctl pull` consuming 200,000 Ollama progress lines vs a bare httpx loop.

A fake Ollama (tests/fakes/llmfake.py, its own process) streams ``--lines`` NDJSON progress
lines for one pull (``progress_lines`` per layer x 5 layers; every value is sent twice, as the
real server repeats identical lines). In the same run, each of these is timed as a separate
child process, ``--repeat`` times (median reported):

  bare   a bare httpx loop: ``for line in response.iter_lines(): n += 1``
  piped  ``python -m llmctl pull tinyllama --endpoint URL --json`` with stderr a pipe
         (progress mode auto -> plain: one line per step)
  pty    the same with stderr on a pseudo-terminal (auto -> tty: live rich bars)

For each: wall time of the whole process (interpreter start and imports included), the pull's
own time (bare: measured around the loop; llmctl: ``duration_s`` of its JSON result), the
ratio to bare, and peak RSS of the child (``os.wait4`` rusage; ``resource.getrusage`` of the
children is printed at the end). Targets (issue 3): at most 1.5x bare, under 80 MiB.

    python benchmarks/bench_pull.py [--lines 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import resource
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

from common import ROOT, start_fake_ollama, wait_child

LAYERS = 5  # tinyllama in the fake's catalogue
MODEL = "tinyllama"

BARE = r"""
import json, sys, time
import httpx
url = sys.argv[1]
start = time.perf_counter()
n = 0
with httpx.Client(base_url=url, timeout=30) as client:
    with client.stream("POST", "/api/pull", json={"model": sys.argv[2]}) as response:
        for _line in response.iter_lines():
            n += 1
print(json.dumps({"lines": n, "seconds": time.perf_counter() - start}))
"""


def start_fake(lines: int, data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    return start_fake_ollama(data_dir, "--progress-lines", str(max(1, lines // LAYERS)))


def reset(url: str) -> None:
    """Remove the model so the next pull streams every line again (no cache hits)."""
    import httpx

    httpx.request("DELETE", url + "/api/delete", json={"model": MODEL}, timeout=10)


def run_bare(url: str) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", BARE, url, MODEL], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    code, rss = wait_child(proc)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"bare loop failed ({code})")
    doc = json.loads(out)
    return {"wall": wall, "stream": doc["seconds"], "rss": rss, "lines": doc["lines"]}


def llmctl_args(url: str) -> list[str]:
    return [sys.executable, "-m", "llmctl", "pull", MODEL, "--endpoint", url, "--json"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def run_piped(url: str) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(llmctl_args(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env(), cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    err_lines: list[bytes] = []
    reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    reader.start()
    out = proc.stdout.read()
    code, rss = wait_child(proc)
    reader.join(5)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"llmctl pull (piped) failed ({code}): {b''.join(err_lines)[-500:]!r}")
    result = json.loads(out)["result"]
    return {"wall": wall, "stream": result["duration_s"], "rss": rss,
            "stderr_lines": len(err_lines)}


def run_pty(url: str) -> dict[str, float]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(llmctl_args(url), stdout=subprocess.PIPE, stderr=slave,
                            env={**env(), "TERM": "xterm-256color"}, cwd=ROOT)
    os.close(slave)
    received = [0]

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            received[0] += len(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    code, rss = wait_child(proc)
    reader.join(2)
    os.close(master)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"llmctl pull (pty) failed ({code})")
    result = json.loads(out)["result"]
    return {"wall": wall, "stream": result["duration_s"], "rss": rss,
            "tty_bytes": received[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as data_dir:
        fake, url = start_fake(args.lines, data_dir)
        try:
            runs: dict[str, list[dict[str, float]]] = {"bare": [], "piped": [], "pty": []}
            for _ in range(args.repeat):  # interleaved, so drift hits every variant alike
                for name, fn in (("bare", run_bare), ("piped", run_piped), ("pty", run_pty)):
                    reset(url)
                    runs[name].append(fn(url))
        finally:
            fake.send_signal(signal.SIGTERM)
            fake.wait(10)
    lines = int(runs["bare"][0]["lines"])
    print(f"{lines:,} progress lines per pull (fake Ollama, separate process); "
          f"median of {args.repeat} runs; Python {sys.version.split()[0]}")
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("wall", "stream", "rss")}
           for n, rs in runs.items()}
    base = med["bare"]
    print(f"{'variant':<8} {'wall s':>8} {'x bare':>7} {'stream s':>9} {'x bare':>7} "
          f"{'peak RSS':>10}")
    for name, m in med.items():
        print(f"{name:<8} {m['wall']:>8.3f} {m['wall'] / base['wall']:>6.2f}x "
              f"{m['stream']:>9.3f} {m['stream'] / base['stream']:>6.2f}x "
              f"{m['rss']:>7.1f} MiB")
    print(f"piped stderr lines: {int(runs['piped'][0]['stderr_lines'])}; "
          f"pty bytes drawn: {int(runs['pty'][0]['tty_bytes']):,}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"getrusage(RUSAGE_CHILDREN): peak RSS of any child "
          f"{children.ru_maxrss / 1024:.1f} MiB")
    worst = max(med["piped"]["wall"], med["pty"]["wall"]) / base["wall"]
    peak = max(m["rss"] for m in med.values())
    print(f"target: <= 1.5x bare wall, < 80 MiB -> {worst:.2f}x, {peak:.1f} MiB: "
          f"{'OK' if worst <= 1.5 and peak < 80 else 'MISSED'}")


if __name__ == "__main__":
    main()
