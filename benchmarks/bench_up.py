#!/usr/bin/env python3
"""`llmctl up`, `status`, `down` and chat's first token against the manual way, in one run.

Every case is a whole process, timed from its start to its end (or to the server's first
answer), and the cases alternate round by round so that a busy machine slows all of them
alike; read the ratios. Per round:

  manual new       `docker run -d -p 127.0.0.1:P:PORT -v VOL:PATH IMAGE`, then `curl` every
                   10 ms until `GET /` answers (argument lists, no shell)
  docker rm -f     removing that container
  manual new, --network llmctl
                   the same on llmctl's network, where `up` puts its servers: what that
                   network adds to a container's start (a user-defined network's DNS), apart
  up new           `llmctl up ollama --name N --image IMAGE --port P` (a new container),
                   and the time from the server's "Listening on" log line (the daemon's
                   timestamp) to `up`'s return; the same for the manual way
  up again         the same command while that container runs and is ready
  status           `llmctl status` (every container llmctl manages, with a health check)
  down             `llmctl down --name N`

With ``--base TREE`` (a source tree of another llmctl, e.g. the commit you started from:
``git archive START | tar -x -C /tmp/base``) the llmctl cases run for both trees, "before"
(``PYTHONPATH=TREE``) and "after" (this checkout), in alternating order.

Chat: a fake Ollama (tests/fakes/llmfake.py, in this process) streams its reply with a fixed
delay between tokens; the time to the first token of `llmctl.chat.chat(..., stream=True)`
is compared with the same request sent with bare httpx, alternated in one child process per
tree (after a warm-up, so imports are not counted). The whole process is timed too:
`llmctl chat PROMPT --endpoint URL` against a bare httpx script (python start-up and
imports included), to the first token on stdout.

Targets (issue 13): up new returns within 150 ms of the server listening, and
up new <= manual new + 150 ms; up again <= 1.5x status and <= manual
new; down <= docker rm -f + 150 ms; chat first token <= bare httpx + 30 ms.

    python benchmarks/bench_up.py [--runs 7] [--image REF] [--port P] [--base TREE] [--json]

The default image is the fake server image of the tests (tests/integration/infra.py builds
it, or finds it built). Bytecode is written and used (PYTHONDONTWRITEBYTECODE is dropped for
the children), as it is for an installed llmctl.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from common import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROFILE = "ollama"
CONTAINER_PORT = 11434
VOLUME_TARGET = "/root/.ollama"
CURL_EVERY = 0.010
# Children run here: `python -m llmctl` puts its working directory first on sys.path, which
# would shadow PYTHONPATH (the tree under test).
NEUTRAL = tempfile.gettempdir()

CHAT_WORKER = r"""
import json, sys, time
import httpx
import llmctl.chat
url, model, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
messages = [{"role": "user", "content": "hello"}]

client = httpx.Client(base_url=url, timeout=30)  # made once: only the request is timed

def bare():
    t0 = time.perf_counter()
    body = {"model": model, "messages": messages, "stream": True}
    with client.stream("POST", "/api/chat", json=body) as response:
        lines = response.iter_lines()
        for line in lines:
            if line and json.loads(line).get("message", {}).get("content"):
                first = time.perf_counter() - t0
                break
        for _ in lines:
            pass
    return first, time.perf_counter() - t0

def through_llmctl():
    t0 = time.perf_counter()
    seen = []
    def on_token(text):
        if not seen and text:
            seen.append(time.perf_counter() - t0)
    llmctl.chat.chat(messages, endpoint=url, model=model, stream=True, on_token=on_token)
    return seen[0], time.perf_counter() - t0

import os
assert llmctl.chat.__file__.startswith(os.environ["PYTHONPATH"]), llmctl.chat.__file__

bare(); through_llmctl()  # warm-up: imports, first connections
out = {"bare": [], "llmctl": []}
for i in range(runs):
    order = (("bare", bare), ("llmctl", through_llmctl))
    for name, fn in (order if i % 2 == 0 else order[::-1]):
        out[name].append(fn())
print(json.dumps(out))
"""

BARE_CHAT_SCRIPT = r"""
import json, sys
import httpx
url, model = sys.argv[1], sys.argv[2]
with httpx.Client(base_url=url, timeout=30) as client:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "stream": True}
    with client.stream("POST", "/api/chat", json=body) as response:
        for line in response.iter_lines():
            text = json.loads(line).get("message", {}).get("content") if line else ""
            if text:
                sys.stdout.write(text)
                sys.stdout.flush()
"""



def child_env(tree: Path | None, config_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(NO_COLOR="1", LLMCTL_CONFIG_DIR=str(config_dir), PYTHONPATH=str(tree or ROOT))
    return env


def timed(cmd: list[str], env: dict[str, str] | None = None, check: bool = True) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, env=env, check=False, cwd=NEUTRAL)
    took = time.perf_counter() - t0
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): "
                         f"{done.stderr.decode(errors='replace').strip()[-400:]}")
    return took


def manual_new(image: str, port: int, name: str, volume: str, timeout: float = 60,
               network: list[str] | None = None) -> float:
    """docker run, then curl every 10 ms until GET / answers: seconds from the start."""
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    subprocess.run(["docker", "run", "-d", "--name", name, *(network or []),
                    "-p", f"127.0.0.1:{port}:{CONTAINER_PORT}", "-v", f"{volume}:{VOLUME_TARGET}",
                    image], capture_output=True, check=True)
    while subprocess.run(["curl", "-sf", "-o", "/dev/null", "--max-time", "2", url],
                         check=False).returncode != 0:
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"the manual container never answered on {url}")
        time.sleep(CURL_EVERY)
    return time.perf_counter() - t0


def listening_at(container: str) -> float | None:
    """When the server in ``container`` started listening (wall clock, seconds): the daemon's
    timestamp of Ollama's "Listening on ..." log line (the fake server writes the same).
    Looking at the port from here instead would disturb what is measured: a connection
    made while the daemon sets the port up delays the server's first answer by most of a
    second on this engine."""
    import datetime

    logs = subprocess.run(["docker", "logs", "--timestamps", container], capture_output=True,
                          text=True, check=False)
    for line in (logs.stdout + logs.stderr).splitlines():
        if "Listening on" in line:
            stamp = line.split(" ", 1)[0].rstrip("Z")
            day, _, fraction = stamp.partition(".")
            return datetime.datetime.fromisoformat(f"{day}.{fraction[:6] or '0'}+00:00"
                                                   ).timestamp()
    return None


def first_output(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from the start of ``cmd`` to the first byte it writes on stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            cwd=NEUTRAL)
    assert proc.stdout is not None
    proc.stdout.read(1)
    first = time.perf_counter() - t0
    proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode})")
    return first


def stats(values: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(values) * 1000, "min_ms": min(values) * 1000,
            "max_ms": max(values) * 1000, "n": len(values)}


def managed_count() -> int:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.llmctl.managed=true"],
                         capture_output=True, text=True, check=False).stdout
    return len(out.split())


def default_image() -> str:
    import docker

    from tests.integration import infra

    return infra.ensure_fake_image(docker.from_env(version="auto", timeout=60))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--image", help="image to run (default: the tests' fake server image)")
    ap.add_argument("--port", type=int, help="host port (default: a free one)")
    ap.add_argument("--base", type=Path, help="source tree of the llmctl to compare with")
    ap.add_argument("--chat-runs", type=int, default=15)
    ap.add_argument("--skip-chat", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    image = args.image or default_image()
    port = args.port or free_port()
    tag = uuid.uuid4().hex[:6]
    trees: dict[str, Path | None] = {"after": None}
    if args.base is not None:
        trees = {"before": args.base.resolve(), "after": None}
    work = Path(tempfile.mkdtemp(prefix="bench-up."))
    envs = {label: child_env(tree, work / label) for label, tree in trees.items()}
    py = sys.executable
    llmctl = [py, "-m", "llmctl"]
    for label, tree in trees.items():  # each tree's children import that tree's llmctl
        where = subprocess.run([py, "-c", "import llmctl; print(llmctl.__file__)"],
                               capture_output=True, text=True, env=envs[label], cwd=NEUTRAL,
                               check=True).stdout.strip()
        if not where.startswith(str(tree or ROOT)):
            raise SystemExit(f"{label}: llmctl comes from {where}, not {tree or ROOT}")
    names = {label: f"bench-{label}-{tag}" for label in trees}
    manual_name, manual_volume = f"bench-manual-{tag}", f"bench-manual-{tag}-data"
    load_before = os.getloadavg()
    samples: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        samples.setdefault(key, []).append(value)

    def up(label: str) -> list[str]:
        return [*llmctl, "up", PROFILE, "--name", names[label], "--image", image,
                "--port", str(port)]

    def llmctl_round(label: str) -> None:
        env = envs[label]
        took = timed(up(label), env)
        end = time.time()
        add(f"{label}: up new", took)
        listening = listening_at(f"llmctl-{names[label]}")
        if listening is not None:
            add(f"{label}: up new, from the server listening", end - listening)
        add(f"{label}: up again", timed(up(label), env))
        add(f"{label}: status", timed([*llmctl, "status"], env))
        add(f"{label}: down", timed([*llmctl, "down", "--name", names[label]], env))

    def manual_round() -> None:
        add("manual new", manual_new(image, port, manual_name, manual_volume))
        end = time.time()
        listening = listening_at(manual_name)
        if listening is not None:
            add("manual new, from the server listening", end - listening)
        add("docker rm -f", timed(["docker", "rm", "-f", manual_name]))
        # The same on llmctl's network (where `up` puts its servers, so that other
        # containers reach them by name): what that network adds to a start, apart.
        add("manual new, --network llmctl", manual_new(
            image, port, manual_name, manual_volume, network=["--network", "llmctl"]))
        timed(["docker", "rm", "-f", manual_name])

    try:
        # Warm-up: bytecode written, image layers, volumes and llmctl's network made.
        for label in trees:
            llmctl_round(label)
        manual_round()
        samples.clear()
        rounds: list[Callable[[], None]] = [manual_round] + [
            (lambda lb=label: llmctl_round(lb)) for label in trees]  # type: ignore[misc]
        for i in range(args.runs):
            k = i % len(rounds)  # a different case goes first in each round
            for step in rounds[k:] + rounds[:k]:
                step()
        if not args.skip_chat:
            chat(trees, envs, args.chat_runs, add)
    finally:
        subprocess.run(["docker", "rm", "-f", manual_name, *names.values()],
                       capture_output=True, check=False)
        subprocess.run(["docker", "volume", "rm", manual_volume,
                        *(f"{n}-{PROFILE}-data" for n in names.values())],
                       capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    report(samples, trees, image, port, args.runs, load_before, os.getloadavg(), args.json)


def chat(trees: dict[str, Path | None], envs: dict[str, dict[str, str]], runs: int,
         add: Callable[[str, float], None]) -> None:
    from tests.fakes.llmfake import start_fake

    fake = start_fake("ollama", port=0, host="127.0.0.1", pulled="tinyllama",
                      token_delay=0.02, reply="one two three four five")
    try:
        for label in trees:
            done = subprocess.run([sys.executable, "-c", CHAT_WORKER, fake.url, "tinyllama",
                                   str(runs)], capture_output=True, text=True,
                                  env=envs[label], check=False, cwd=NEUTRAL)
            if done.returncode != 0:
                raise SystemExit(f"chat worker ({label}) failed: {done.stderr[-600:]}")
            doc = json.loads(done.stdout)
            for first, total in doc["bare"]:
                add(f"{label}: chat first token, bare httpx", first)
                add(f"{label}: chat whole reply, bare httpx", total)
            for first, total in doc["llmctl"]:
                add(f"{label}: chat first token, llmctl", first)
                add(f"{label}: chat whole reply, llmctl", total)
        bare = [sys.executable, "-c", BARE_CHAT_SCRIPT, fake.url, "tinyllama"]
        whole = [sys.executable, "-m", "llmctl", "chat", "hello", "--endpoint", fake.url,
                 "--model", "tinyllama"]
        for label in trees:
            first_output(bare, envs[label])
            first_output(whole, envs[label])
        for i in range(max(3, runs // 2)):
            for label in (list(trees) if i % 2 == 0 else list(trees)[::-1]):
                add(f"{label}: process to first token, bare httpx",
                    first_output(bare, envs[label]))
                add(f"{label}: process to first token, llmctl chat",
                    first_output(whole, envs[label]))
    finally:
        fake.stop()


def report(samples: dict[str, list[float]], trees: dict[str, Path | None], image: str,
           port: int, runs: int, load_before: tuple[float, float, float],
           load_after: tuple[float, float, float], as_json: bool) -> None:
    rows = {key: stats(values) for key, values in samples.items()}

    def med(key: str) -> float:
        return rows[key]["median_ms"] if key in rows else float("nan")

    targets = []
    for label in trees:
        manual, rm = med("manual new"), med("docker rm -f")
        targets += [
            (label, "up new - manual new", med(f"{label}: up new") - manual, "ms", "<= 150"),
            (label, "up new - manual new on llmctl's network",
             med(f"{label}: up new") - med("manual new, --network llmctl"), "ms", "(<= 150)"),
            (label, "up new: from the server listening to return",
             med(f"{label}: up new, from the server listening"), "ms", "<= 150"),
            (label, "up again / status", med(f"{label}: up again") / med(f"{label}: status"),
             "x", "<= 1.5"),
            (label, "up again / manual new", med(f"{label}: up again") / manual, "x", "<= 1.0"),
            (label, "down - docker rm -f", med(f"{label}: down") - rm, "ms", "<= 150"),
            (label, "chat first token: llmctl - bare httpx",
             med(f"{label}: chat first token, llmctl")
             - med(f"{label}: chat first token, bare httpx"), "ms", "<= 30"),
            (label, "process to first token: llmctl chat - bare httpx",
             med(f"{label}: process to first token, llmctl chat")
             - med(f"{label}: process to first token, bare httpx"), "ms", "(start-up)"),
        ]
    meta = {"image": image, "port": port, "runs": runs, "cpus": os.cpu_count(),
            "load_before": load_before, "load_after": load_after,
            "managed_containers": managed_count(),
            "trees": {k: str(v) if v else "this checkout" for k, v in trees.items()}}
    if as_json:
        print(json.dumps({**meta, "results": rows, "targets": [
            {"tree": t, "what": w, "value": v, "unit": u, "target": g}
            for t, w, v, u, g in targets if v == v]}, indent=2))
        return
    print(f"image {image}, port {port}, {runs} rounds, {os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.2f}' for x in load_after)} after; "
          f"{meta['managed_containers']} llmctl containers on the engine at the end")
    print(f"{'case':48} {'median':>8} {'min':>8} {'max':>8}")
    for key, r in rows.items():
        print(f"{key:48} {r['median_ms']:6.0f}ms {r['min_ms']:6.0f}ms {r['max_ms']:6.0f}ms")
    print()
    print(f"{'tree':7} {'what':50} {'value':>9}  target")
    for label, what, value, unit, goal in targets:
        if value != value:  # NaN: a case not run (--skip-chat)
            continue
        shown = f"{value:7.0f}ms" if unit == "ms" else f"{value:8.2f}x"
        print(f"{label:7} {what:50} {shown:>9}  {goal}")


if __name__ == "__main__":
    main()
