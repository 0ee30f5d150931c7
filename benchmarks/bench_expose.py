#!/usr/bin/env python3
"""Benchmark: time to first token through `llmctl expose`'s proxy vs straight to the server.

On the real Docker engine: a fake Ollama (tests/fakes, ``LLMFAKE_TOKEN_DELAY``: a fixed delay
between streamed tokens, so a proxy that buffers would hold the first token back until the
answer ends) is started with `llmctl up`, then exposed on 127.0.0.1 with the proxy test
image (Debian's Caddy, tests/integration/infra.py) or ``--proxy-image``; once with TLS off,
once with ``--tls internal``. Each round streams one chat from a fresh client (as
`llmctl chat` does), alternating direct and proxied, for Ollama's NDJSON (``/api/chat``) and
OpenAI's server-sent events (``/v1/chat/completions``), and records when the first token
arrived and when the answer ended. Printed: median and 90th percentile per way, and the
proxy's extra time to first token (median), against the target: within 20 ms of direct.

    python benchmarks/bench_expose.py [--rounds 30] [--token-delay 0.05] [--proxy-image REF]
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_MS = 20.0
MESSAGES = [{"role": "user", "content": "count"}]


def llmctl(*args: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "llmctl", *args, "--json"],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"llmctl {' '.join(args)} failed: {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)["result"]
    return result


def stream_once(url: str, path: str, body: dict[str, Any], key: str | None,
                verify: Any) -> tuple[float, float]:
    """(first token, end) in seconds for one streamed chat from a fresh client."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    t0 = time.perf_counter()
    first = None
    with httpx.Client(timeout=30, trust_env=False, verify=verify) as client, \
            client.stream("POST", url + path, json=body, headers=headers) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if first is None and line.strip():
                first = time.perf_counter() - t0
    end = time.perf_counter() - t0
    return (first if first is not None else end), end


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"median {statistics.median(ms):7.1f} ms  p90 {p90:7.1f} ms"


def run(args: argparse.Namespace, env: dict[str, str], image: str) -> bool:
    from llmctl.ports import next_free

    name = f"bench-{uuid.uuid4().hex[:6]}"
    port = next_free(24000, "127.0.0.1")
    fake = args.fake_image
    ok = True
    try:
        up = llmctl("up", "ollama", "--name", name, "--port", str(port), "--image", fake,
                    "--env", "LLMFAKE_PULLED=tinyllama",
                    "--env", f"LLMFAKE_TOKEN_DELAY={args.token_delay}",
                    "--env", "LLMFAKE_REPLY=one two three four five six seven eight",
                    "--progress", "none", env=env)
        direct = up["endpoint"]
        print(f"server: {up['container']} ({fake}) at {direct}, a token every "
              f"{args.token_delay * 1000:.0f} ms")
        for tls in ("off", "internal"):
            listen = f"127.0.0.1:{next_free(24100, '127.0.0.1')}"
            doc = llmctl("expose", name, "--listen", listen, "--tls", tls, "--proxy-image",
                         image, env=env)
            cfg = Path(env["LLMCTL_CONFIG_DIR"]) / "endpoints.yaml"
            import yaml

            entry = yaml.safe_load(cfg.read_text())["endpoints"][f"{name}-exposed"]
            key = entry["bearer_token"]
            verify: Any = ssl.create_default_context(cafile=entry["ca_file"]) \
                if tls == "internal" else False
            proxied = doc["url"]
            print(f"\nproxy: {doc['proxy']} ({image}) at {proxied}, TLS {tls}")
            for label, path, body in (
                    ("NDJSON /api/chat", "/api/chat",
                     {"model": "tinyllama", "messages": MESSAGES}),
                    ("SSE /v1/chat/completions", "/v1/chat/completions",
                     {"model": "tinyllama", "messages": MESSAGES, "stream": True})):
                ways: dict[str, list[tuple[float, float]]] = {"direct": [], "proxy": []}
                for _ in range(args.warmup):
                    stream_once(direct, path, body, None, False)
                    stream_once(proxied, path, body, key, verify)
                for _ in range(args.rounds):
                    ways["direct"].append(stream_once(direct, path, body, None, False))
                    ways["proxy"].append(stream_once(proxied, path, body, key, verify))
                print(f"  {label}")
                for way, got in ways.items():
                    print(f"    {way:6}  first token {summary([f for f, _ in got])}   "
                          f"end {summary([e for _, e in got])}")
                extra = (statistics.median(f for f, _ in ways["proxy"])
                         - statistics.median(f for f, _ in ways["direct"])) * 1000
                end = statistics.median(e for _, e in ways["proxy"]) * 1000
                first = statistics.median(f for f, _ in ways["proxy"]) * 1000
                good = extra <= TARGET_MS
                ok = ok and good
                print(f"    proxy's extra time to first token: {extra:+.1f} ms (target: within "
                      f"{TARGET_MS:.0f} ms) {'PASS' if good else 'FAIL'}; first token at "
                      f"{first:.0f} ms of {end:.0f} ms: "
                      f"{'streamed' if first < end / 2 else 'BUFFERED'}")
    finally:
        subprocess.run([sys.executable, "-m", "llmctl", "down", "ollama", "--name", name,
                        "--volumes", "--yes"], capture_output=True, env=env, check=False)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--token-delay", type=float, default=0.05)
    parser.add_argument("--proxy-image", default=None,
                        help="default: the proxy test image (Debian's caddy), built if needed")
    parser.add_argument("--fake-image", default=None,
                        help="default: the fake server test image, built if needed")
    args = parser.parse_args()
    import docker

    from tests.integration import infra

    client = docker.from_env(version="auto", timeout=300)
    image = args.proxy_image or infra.ensure_proxy_image(client)
    args.fake_image = args.fake_image or infra.ensure_fake_image(client)
    with tempfile.TemporaryDirectory(prefix="bench-expose-") as cfg:
        env = {**os.environ, "LLMCTL_CONFIG_DIR": cfg, "NO_COLOR": "1"}
        return 0 if run(args, env, image) else 1


if __name__ == "__main__":
    sys.exit(main())
