#!/usr/bin/env python3
"""Benchmark: `llmctl pull FILE.gguf` (import into Ollama) vs a bare httpx upload of the same
bytes.

A fake Ollama (tests/fakes/llmfake.py, its own process) takes the uploads: it streams each
blob to disk while hashing it, as Ollama does. The input is the real SmolLM2-135M-Instruct
Q4_1 GGUF (98,362,432 bytes; fetched once into the test cache by tests/integration/infra.py)
unless ``--file`` names another. In the same run, each of these is timed as a separate child
process, ``--repeat`` times, interleaved (median reported); before every run the model and its
blob are deleted on the server, so every run uploads:

  bare    a bare script: sha256 of the file (hashlib, 1 MiB reads: the upload URL needs
          the digest), HEAD /api/blobs, POST /api/blobs (httpx, the file streamed in 1 MiB
          chunks with a Content-Length), POST /api/create, reading its NDJSON lines
  llmctl  ``python -m llmctl pull FILE --endpoint URL --json`` with stderr a pipe (plain
          progress) and an empty digest cache: it hashes, checks, uploads and creates
  cached  the same with the file's digest already in llmctl's cache (a second import of the
          same file into another server): no hashing pass

For each: wall time of the whole process (interpreter start and imports included), the
import's own time (bare: measured around the work; llmctl: ``duration_s``), the ratio to bare,
and peak RSS of the child (``os.wait4`` rusage). Targets (issue 11): llmctl at most 1.2x bare,
under 80 MiB (the file is streamed, never read whole).

    python benchmarks/bench_import.py [--repeat 7] [--file PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, start_fake_ollama, wait_child

NAME = "bench-import:latest"

BARE = r"""
import hashlib, json, sys, time
import httpx
url, path, name = sys.argv[1:4]
start = time.perf_counter()
h = hashlib.sha256()
with open(path, "rb") as f:
    while chunk := f.read(1 << 20):
        h.update(chunk)
digest = "sha256:" + h.hexdigest()
size = __import__("os").path.getsize(path)

def chunks():
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk

with httpx.Client(base_url=url, timeout=60) as client:
    assert client.head(f"/api/blobs/{digest}").status_code == 404
    r = client.post(f"/api/blobs/{digest}", content=chunks(),
                    headers={"Content-Length": str(size)})
    assert r.status_code == 201, r.text
    lines = 0
    with client.stream("POST", "/api/create",
                       json={"model": name, "files": {"model.gguf": digest}}) as resp:
        for line in resp.iter_lines():
            lines += 1
            assert "error" not in line, line
print(json.dumps({"seconds": time.perf_counter() - start, "lines": lines}))
"""


def reset(url: str, digest: str) -> None:
    """Delete the model (the fake then prunes its blobs): the next run uploads again."""
    import httpx

    httpx.request("DELETE", url + "/api/delete", json={"model": NAME}, timeout=30)
    if httpx.head(f"{url}/api/blobs/sha256:{digest}", timeout=10).status_code != 404:
        raise SystemExit("the blob is still on the server after the reset")


def run_bare(url: str, path: Path, _cache: str) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", BARE, url, str(path), NAME],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    code, rss = wait_child(proc)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"bare upload failed ({code})")
    return {"wall": wall, "work": json.loads(out)["seconds"], "rss": rss}


def run_llmctl(url: str, path: Path, cache: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "LLMCTL_CACHE_DIR": cache}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmctl", "pull", str(path), "--endpoint", url, "--name", NAME,
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr or []), daemon=True)
    reader.start()
    out = proc.stdout.read()
    code, rss = wait_child(proc)
    reader.join(5)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"llmctl pull failed ({code}): {b''.join(err)[-800:]!r}")
    result = json.loads(out)["result"]
    if not result["uploaded"]:
        raise SystemExit("llmctl did not upload (the reset did not work)")
    return {"wall": wall, "work": result["duration_s"], "rss": rss,
            "hashed": float(result["hashed"]), "stderr_lines": len(err)}


def default_file() -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.integration import infra

    return infra.smollm2_gguf()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--file", type=Path, default=None)
    args = ap.parse_args()
    path = (args.file or default_file()).resolve()
    size = path.stat().st_size
    import hashlib

    h = hashlib.sha256()
    t = time.perf_counter()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    hash_s = time.perf_counter() - t
    digest = h.hexdigest()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        data_dir = os.path.join(tmp, "ollama")
        cold_root = os.path.join(tmp, "cold")
        warm = os.path.join(tmp, "warm")
        fake, url = start_fake_ollama(data_dir)
        runs: dict[str, list[dict[str, float]]] = {"bare": [], "llmctl": [], "cached": []}
        try:
            reset(url, digest)
            run_llmctl(url, path, warm)  # fills the warm cache (not timed)
            for i in range(args.repeat):  # interleaved, so drift hits every variant alike
                for name, fn, cache in (("bare", run_bare, ""),
                                        ("llmctl", run_llmctl, f"{cold_root}-{i}"),
                                        ("cached", run_llmctl, warm)):
                    reset(url, digest)
                    runs[name].append(fn(url, path, cache))
        finally:
            fake.send_signal(signal.SIGTERM)
            fake.wait(10)
    assert all(r["hashed"] for r in runs["llmctl"]) and not any(r["hashed"]
                                                                for r in runs["cached"])
    print(f"{path.name}: {size:,} bytes; fake Ollama in its own process; median of "
          f"{args.repeat} interleaved runs; Python {sys.version.split()[0]}; "
          f"{os.cpu_count()} CPUs")
    print(f"sha256 of the file alone (page cache warm): {hash_s:.3f} s "
          f"({size / hash_s / 1e6:.0f} MB/s)")
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("wall", "work", "rss")}
           for n, rs in runs.items()}
    base = med["bare"]
    print(f"{'variant':<8} {'wall s':>8} {'x bare':>7} {'work s':>8} {'x bare':>7} "
          f"{'peak RSS':>10} {'MB/s':>7}")
    for name, m in med.items():
        print(f"{name:<8} {m['wall']:>8.3f} {m['wall'] / base['wall']:>6.2f}x "
              f"{m['work']:>8.3f} {m['work'] / base['work']:>6.2f}x "
              f"{m['rss']:>7.1f} MiB {size / m['wall'] / 1e6:>7.0f}")
    print(f"llmctl stderr lines (plain progress): {int(runs['llmctl'][0]['stderr_lines'])}")
    worst = med["llmctl"]["wall"] / base["wall"]
    peak = max(med["llmctl"]["rss"], med["cached"]["rss"])
    print(f"target: <= 1.2x bare wall, < 80 MiB -> {worst:.2f}x, {peak:.1f} MiB: "
          f"{'OK' if worst <= 1.2 and peak < 80 else 'MISSED'}")


if __name__ == "__main__":
    main()
