"""Probe concurrency and whole-process probe latency, in one run.

1. Eight targets at once: 2 fast (fake Ollama), 2 answering after 0.5 s, 2 refusing,
   2 accepting but never answering; against the slowest single probe of the same targets,
   measured in the same run. Target (issue 5): total <= 1.2x the slowest single, and the
   silent ones bounded by --timeout.
2. `llmctl probe URL --json` of a live fake Ollama as a whole process, median of N runs
   after a warm-up. Target: <= 250 ms median.

Usage: python benchmarks/bench_probe.py [--timeout 3] [--runs 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmctl.probe import probe  # noqa: E402
from tests.fakes.llmfake import start_fake  # noqa: E402


def slow_server(delay: float) -> tuple[str, ThreadingHTTPServer]:
    """Answers like Ollama, but only after ``delay`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            time.sleep(delay)
            if self.path == "/":
                body, ctype = b"Ollama is running", "text/plain; charset=utf-8"
            elif self.path == "/api/version":
                body, ctype = b'{"version":"0.17.1"}', "application/json"
            elif self.path == "/api/tags":
                body, ctype = b'{"models":[]}', "application/json"
            else:
                body, ctype = b"404 page not found", "text/plain"
            self.send_response(200 if not body.startswith(b"404") else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the default backlog of 5 drops SYNs under 10 parallel GETs

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}", srv



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    fakes = [start_fake("ollama", port=0, pulled="tinyllama") for _ in range(2)]
    hangs = [start_fake("ollama", port=0, hang=True) for _ in range(2)]
    slows = [slow_server(0.5) for _ in range(2)]
    targets = {
        "fast": [f.url for f in fakes],
        "slow 0.5 s": [u for u, _ in slows],
        "refused": [f"http://127.0.0.1:{free_port()}" for _ in range(2)],
        "silent": [h.url for h in hangs],
    }
    all_urls = [u for urls in targets.values() for u in urls]
    try:
        singles: dict[str, float] = {}
        for kind, urls in targets.items():
            for url in urls:
                t0 = time.perf_counter()
                probe([url], timeout=args.timeout, include_configured=False)
                singles[f"{kind} {url}"] = time.perf_counter() - t0
        slowest = max(singles.values())
        t0 = time.perf_counter()
        report = probe(all_urls, timeout=args.timeout, include_configured=False)
        together = time.perf_counter() - t0
        statuses = {r.url: (r.status, r.elapsed_ms / 1000) for r in report.results}
        silent_max = max(statuses[u][1] for u in targets["silent"])

        # whole process against a live fake
        env = {**os.environ, "NO_COLOR": "1", "LLMCTL_CONFIG_DIR": str(ROOT / ".bench-cfg")}
        cmd = [sys.executable, "-m", "llmctl", "probe", fakes[0].url, "--json"]
        subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT, check=True)  # warm-up
        runs = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT, check=True)
            runs.append(time.perf_counter() - t0)
            json.loads(done.stdout)
        floor = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            floor.append(time.perf_counter() - t0)
    finally:
        for h in fakes + hangs:
            h.stop()
        for _, srv in slows:
            srv.shutdown()

    figures = {
        "timeout_s": args.timeout,
        "single_probe_s": {k: round(v, 3) for k, v in singles.items()},
        "slowest_single_s": round(slowest, 3),
        "eight_at_once_s": round(together, 3),
        "ratio_together_to_slowest": round(together / slowest, 3),
        "silent_elapsed_max_s": round(silent_max, 3),
        "silent_over_timeout": round(silent_max / args.timeout, 3),
        "statuses": {u: s for u, (s, _) in statuses.items()},
        "process_probe_json_median_ms": round(statistics.median(runs) * 1000, 1),
        "process_probe_json_runs_ms": [round(r * 1000, 1) for r in runs],
        "python_floor_median_ms": round(statistics.median(floor) * 1000, 1),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"timeout per target: {args.timeout:g} s")
    for k, v in singles.items():
        print(f"  single  {k:<40} {v:7.3f} s")
    print(f"slowest single probe:        {slowest:7.3f} s")
    print(
        f"all 8 at once:               {together:7.3f} s  "
        f"(ratio {together / slowest:.3f}; target <= 1.2)"
    )
    print(
        f"silent targets finished by:  {silent_max:7.3f} s  "
        f"({silent_max / args.timeout:.3f} x timeout)"
    )
    print("statuses: " + ", ".join(sorted({s for s, _ in statuses.values()})))
    print(
        f"`llmctl probe URL --json`, whole process, median of {args.runs}: "
        f"{figures['process_probe_json_median_ms']} ms (target <= 250 ms; "
        f"python -c pass: {figures['python_floor_median_ms']} ms)"
    )


if __name__ == "__main__":
    main()
