#!/usr/bin/env python3
"""llmfake: faithful fake LLM servers for llmctl tests.

This module is the entry point: options, ``start_fake`` (in-process) and the script (the
image's entrypoint, the fake docker plugins, the benchmarks). Each server kind lives in its own
module of the ``servers`` package beside it; Python >= 3.10 standard library only, so both run
inside a bare Debian bookworm image with python3.  The wire behaviour follows the project's
reference page (docs copy of server-apis.md); section numbers in comments ("§1.6") point
into it.

Kinds
-----
``ollama`` (default port 11434, servers/ollama.py), ``model-runner`` (12434,
servers/model_runner.py), ``vllm`` (8000, servers/vllm.py), ``llamacpp`` (8080,
servers/llamacpp.py), ``tgi`` (80, like the official image which sets PORT=80, servers/tgi.py),
``localai`` (8080, servers/localai.py), ``openai`` (generic OpenAI-compatible server, 8000,
servers/openai.py).  Shared: servers/base.py (helpers, ``App``) and servers/wire.py (HTTP).

Running
-------
As a script::

    python3 llmfake.py --kind KIND --port PORT [--host 0.0.0.0] [--data-dir DIR] [--OPTION VALUE]

Real-server arguments are accepted too, so a container gets the same args as the real image:
``--model X`` / ``-m PATH`` / ``--model-id X`` (model), ``--served-model-name X``, ``--alias X`` /
``-a X``, ``--api-key K``, ``--max-model-len N`` / ``-c N`` / ``--ctx-size N``, ``--hostname H``,
``--models-path DIR``.  Unknown arguments (``serve``, ``--gpus`` ...) are ignored with a log line.

In-process (pytest)::

    handle = start_fake("ollama", port=0, host="127.0.0.1", pulled="tinyllama")
    handle.url, handle.port, handle.data_dir ; handle.stop()

The Docker image (Dockerfile here) sets ``LLMFAKE_IMAGE_DEFAULT_ARGS`` to its default CMD: when
argv equals it, those args only fill in what ``LLMFAKE_*`` env leaves unset, so
``docker run -e LLMFAKE_KIND=vllm image`` serves vllm on port 8000.  For vllm, a stray ``serve``
argument fails like the real image (exit 2, ``unrecognized arguments: serve``, §3).

Handle attributes: ``url``, ``port``, ``host``, ``kind``, ``options``, ``data_dir``,
``listening`` (threading.Event, set once accepting), ``exit_code`` (3 after exit_after), and
``stop()``; a handle is also a context manager.

Options (keyword of start_fake, ``--option-name`` on the CLI, env ``LLMFAKE_<OPTION>``)
------------------------------------------------------------------------------------
Precedence: keyword/CLI > ``LLMFAKE_*`` env > the real server's env (``MODEL_ID``, ``PORT`` for
tgi; ``LLAMA_ARG_MODEL``, ``LLAMA_ARG_ALIAS``, ``LLAMA_ARG_PORT``, ``LLAMA_ARG_HOST``,
``LLAMA_ARG_CTX_SIZE``, ``LLAMA_API_KEY`` for llamacpp; ``VLLM_API_KEY``; ``MODEL_RUNNER_PORT``,
``MODELS_PATH`` for model-runner; ``LOCALAI_MODELS_PATH``) > default.

=================== ======================================================================
kind                server kind (``LLMFAKE_KIND``)
host                bind address; default 127.0.0.1 (the Dockerfile sets 0.0.0.0)
port                listen port; default per kind (see above); 0 = any free port
data_dir            storage root.  ollama: ``<dir>/models/{manifests,blobs}`` (script default
                    ``/root/.ollama``); model-runner: ``<dir>/models.json`` + ``<dir>/blobs``
                    (script default ``/models``).  In-process default: a fresh temp dir.
version             version string reported (ollama 0.17.1, model-runner v1.0.9, vllm 0.11.0,
                    tgi 3.3.5, llamacpp b6000, localai v3.5.0)
model               served model: vllm (default Qwen/Qwen3-0.6B), tgi (bigscience/bloom-560m),
                    llamacpp (model path, default /models/model.gguf), localai/openai (first id)
served_model_name   vllm: id reported instead of ``model`` (``root`` stays ``model``)
alias               llamacpp: id reported instead of the model path
models              comma list. ollama/model-runner: extra pullable names (capability
                    ``completion``); localai/openai: extra served model ids
pulled              comma list of catalogue names installed at start (ollama/model-runner)
revisions           comma list ``NAME=N``: the registry serves revision N of NAME (default 1): other
                    layer bytes, so another manifest digest, under the same name (a re-push).
                    Changed while running with ``POST /llmfake/registry {"model","revision"}``
                    (a test-control route, not a server API). Model Runner also serves every
                    revision up to the current one by digest (``from: NAME@sha256:...``), as a
                    registry keeps old manifests, and stores such a pull untagged
pull_delay          seconds between streamed pull lines (default 0: lines are batched)
progress_lines      progress lines per layer during a pull (default 4); cheap to make huge
load_seconds        startup loading time.  vllm/tgi: socket bound but not listening
                    (connection refused); llamacpp: 503 "Loading model"; localai: /readyz 503
api_key             vllm: 401 on /v1/* without ``Authorization: Bearer``; llamacpp/openai too
max_model_len       context length reported (default 4096)
reply               assistant text returned by every chat endpoint
token_delay         seconds between streamed chat chunks (default 0)
exit_after          seconds; then print an error line to stderr and exit with code 3 (in-process:
                    the server stops and ``handle.exit_code`` becomes 3)
upload_delay        ollama ``POST /api/blobs``, model-runner ``POST /models/load``: seconds to wait
                    after each MiB read from the request body (a slow upload to interrupt)
create_delay        ollama ``POST /api/create``: seconds to wait after each status line
html                every route answers 200 text/html ("another web app")
hang                accept connections, read nothing, never answer
trickle             answer every connection one byte every ``trickle_interval`` s, forever
trickle_interval    default 2.0
unhealthy           vllm/tgi ``/health`` 503 (dead engine), llamacpp 503, localai /readyz 503
verbose             log every request to stderr
quiet               no startup/log lines (default in-process)
=================== ======================================================================

Catalogues and imports (GGUF files)
-----------------------------------
What ``pull`` finds: servers/ollama_registry.py and servers/model_runner_registry.py.
Imports: servers/ollama_import.py (``/api/blobs``, ``/api/create`` with ``files``) and
servers/model_runner_import.py (``/models/load``, ``/models/{name}/tag``).

Test-control models (both ollama and model-runner; ollama name shown, DMR adds nothing since
the name has a ``/``)
---------------------------------------------------------------------------------------------
``llmfake/stall:latest``      sends ``pulling manifest`` and half of the first layer's progress,
                              then keeps the connection open and sends nothing, forever (until
                              stop()).  With ``stream:false`` it never answers.
``llmfake/drop:latest``       same start, then the TCP connection is shut down mid-stream (no
                              chunked terminator: the client sees an incomplete read).
``llmfake/nosuccess:latest``  streams every layer, ``verifying sha256 digest`` and ``writing
                              manifest``, then ends the stream cleanly WITHOUT ``success``;
                              nothing is persisted.  ``stream:false`` returns the last object
                              (``writing manifest``) with 200, as the real waitForStream does.
``llmfake/error:latest``      half of the first layer, then an in-stream error line (ollama
                              ``{"error":"max retries exceeded: unexpected EOF"}``, DMR
                              ``{"type":"error",...}``) with HTTP 200; ``stream:false`` -> 500.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

if __package__:  # imported: tests.fakes.llmfake
    from .servers import APPS, KINDS
    from .servers.base import App
    from .servers.wire import FakeHTTPServer
else:  # run as a script: the servers package sits beside this file
    from servers import APPS, KINDS
    from servers.base import App
    from servers.wire import FakeHTTPServer


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def _list(v: Any) -> list[str]:
    if isinstance(v, (list, tuple)):
        return [str(x).strip() for x in v if str(x).strip()]
    return [x.strip() for x in str(v).split(",") if x.strip()]


def _opt_float(v: Any) -> float | None:
    return None if v is None or str(v).strip() == "" else float(v)


# name -> (converter, default)
OPTIONS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "kind": (str, "ollama"),
    "host": (str, "127.0.0.1"),
    "port": (int, None),
    "data_dir": (str, None),
    "version": (str, None),
    "model": (str, None),
    "served_model_name": (str, None),
    "alias": (str, None),
    "models": (_list, []),
    "pulled": (_list, []),
    "revisions": (_list, []),
    "pull_delay": (float, 0.0),
    "progress_lines": (int, 4),
    "load_seconds": (float, 0.0),
    "api_key": (str, None),
    "max_model_len": (int, 4096),
    "reply": (str, "Hello! I am a fake model. How can I help you today?"),
    "token_delay": (float, 0.0),
    "exit_after": (_opt_float, None),
    "html": (_bool, False),
    "hang": (_bool, False),
    "trickle": (_bool, False),
    "trickle_interval": (float, 2.0),
    "upload_delay": (float, 0.0),
    "create_delay": (float, 0.0),
    "unhealthy": (_bool, False),
    "verbose": (_bool, False),
    "quiet": (_bool, False),
}


def resolve_options(given: dict[str, Any], environ: dict[str, str] | None = None) -> dict:
    """Merge explicit options, LLMFAKE_* env, the real server's env and defaults."""
    env = os.environ if environ is None else environ
    unknown = set(given) - set(OPTIONS)
    if unknown:
        raise TypeError(f"unknown llmfake option(s): {sorted(unknown)}")
    kind = given.get("kind") or env.get("LLMFAKE_KIND") or "ollama"
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    app = APPS[kind]
    native = app.native_env
    out: dict[str, Any] = {}
    for name, (conv, default) in OPTIONS.items():
        if given.get(name) is not None:
            raw: Any = given[name]
        elif f"LLMFAKE_{name.upper()}" in env:
            raw = env[f"LLMFAKE_{name.upper()}"]
        elif name in native and env.get(native[name]):
            raw = env[native[name]]
        else:
            out[name] = default() if callable(default) else default
            continue
        out[name] = conv(raw)
    out["kind"] = kind
    if out["port"] is None:
        out["port"] = app.default_port
    if out["version"] is None:
        out["version"] = app.default_version
    if out["model"] is None:
        out["model"] = app.default_model
    if isinstance(out["models"], list):
        out["models"] = list(out["models"])
    return out


# ------------------------------------------------------------------------------------------
# running


class FakeHandle:
    """A running fake.  ``url``/``port`` are valid as soon as start_fake returns, even while a
    vllm/tgi fake is still "loading" (bound, not listening)."""

    def __init__(
        self, app: App, server: FakeHTTPServer, in_process: bool, tmpdir: str | None = None
    ):
        self.app = app
        self.kind = app.kind
        self.options = app.opts
        self.server = server
        self.host = app.opts["host"]
        self.port = server.server_address[1]
        connect = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        self.url = (
            f"http://[{connect}]:{self.port}" if ":" in connect else f"http://{connect}:{self.port}"
        )
        self.data_dir = app.opts.get("data_dir")
        self.exit_code: int | None = None
        self.listening = threading.Event()
        self._in_process = in_process
        self._tmpdir = tmpdir
        self._lock = threading.Lock()
        self._stopped = False
        self._serving = False
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        """Wait out load_seconds (refusing kinds), listen, serve until stop()."""
        app = self.app
        if app.refuse_while_loading and app.opts["load_seconds"] > 0:
            for line in app.loading_lines():
                app.log(line)
            # §3/§4: the port refuses connections while the model loads
            if app.stop_event.wait(app.opts["load_seconds"]):
                return
        elif app.opts["load_seconds"] > 0:
            for line in app.loading_lines():
                app.log(line)
        with self._lock:
            if self._stopped:
                return
            self.server.server_activate()
            self._serving = True
        self.listening.set()
        for line in app.startup_lines(
            self.url
            if app.opts["host"] in ("127.0.0.1", "localhost")
            else f"http://{app.opts['host']}:{self.port}"
        ):
            app.log(line)
        self.server.serve_forever(poll_interval=0.1)

    def die(self) -> None:
        """exit_after: the server dies (exit code 3)."""
        msg = (
            f"llmfake {self.kind}: fatal: engine core initialization failed "
            f"(exit_after={self.app.opts['exit_after']})"
        )
        print(msg, file=sys.stderr, flush=True)
        if not self._in_process:
            os._exit(3)
        self.exit_code = 3
        self.stop()

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            serving = self._serving
        self.app.stop_event.set()
        if serving:
            self.server.shutdown()
        self.server.server_close()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> FakeHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<FakeHandle {self.kind} {self.url}>"


def _build(opts: dict, in_process: bool) -> FakeHandle:
    tmpdir = None
    cls = APPS[opts["kind"]]
    if cls.script_data_dir and not opts["data_dir"]:
        if in_process:
            tmpdir = opts["data_dir"] = tempfile.mkdtemp(prefix=f"llmfake-{opts['kind']}-")
        else:
            opts["data_dir"] = cls.script_data_dir
    app = cls(opts)
    server = FakeHTTPServer((opts["host"], opts["port"]), app)
    try:
        server.server_bind()  # bound now; listen() only in serve()
    except OSError:
        server.server_close()
        raise
    handle = FakeHandle(app, server, in_process, tmpdir)
    if opts["exit_after"] is not None:
        t = threading.Timer(opts["exit_after"], handle.die)
        t.daemon = True
        t.start()
    return handle


def start_fake(kind: str, port: int = 0, host: str = "127.0.0.1", **options: Any) -> FakeHandle:
    """Start a fake server in a background thread and return its handle.

    Options are the names in the module docstring (``pulled``, ``load_seconds`` ...); unset
    ones come from ``LLMFAKE_*`` env or defaults.  The call returns once the socket is bound;
    use ``handle.listening.wait()`` to wait for a loading vllm/tgi fake.
    """
    options.setdefault("quiet", True)
    opts = resolve_options(dict(options, kind=kind, port=port, host=host))
    handle = _build(opts, in_process=True)
    handle._thread = threading.Thread(target=handle.serve, name=f"llmfake-{kind}", daemon=True)
    handle._thread.start()
    if not (handle.app.refuse_while_loading and opts["load_seconds"] > 0):
        handle.listening.wait(5)
    return handle


def parse_args(argv: list[str]) -> tuple[dict, list[str]]:
    p = argparse.ArgumentParser(
        prog="llmfake", allow_abbrev=False, description="Fake LLM servers for llmctl tests."
    )
    for name in OPTIONS:
        flags = ["--" + name.replace("_", "-")]
        if name == "data_dir":
            flags.append("--models-path")
        elif name == "model":
            flags += ["-m", "--model-id"]
        elif name == "alias":
            flags.append("-a")
        elif name == "max_model_len":
            flags += ["-c", "--ctx-size"]
        elif name == "host":
            flags.append("--hostname")
        p.add_argument(*flags, dest=name, default=None)
    ns, unknown = p.parse_known_args(argv)
    return {k: v for k, v in vars(ns).items() if v is not None}, unknown


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    given, unknown = parse_args(argv)
    if argv and " ".join(argv) == os.environ.get("LLMFAKE_IMAGE_DEFAULT_ARGS"):
        # the image's default CMD only fills in what LLMFAKE_* env does not set, so
        # `docker run -e LLMFAKE_KIND=vllm image` serves vllm on vllm's default port
        if os.environ.get("LLMFAKE_KIND", given.get("kind")) != given.get("kind"):
            given = {}
        given = {k: v for k, v in given.items() if f"LLMFAKE_{k.upper()}" not in os.environ}
    try:
        opts = resolve_options(given)
    except (TypeError, ValueError) as e:
        print(f"llmfake: {e}", file=sys.stderr, flush=True)
        return 2
    if opts["kind"] == "vllm" and "serve" in unknown:
        # §3: repeating `vllm serve` after the image's entrypoint makes argparse fail
        print("vllm: error: unrecognized arguments: serve", file=sys.stderr, flush=True)
        return 2
    handle = _build(opts, in_process=False)
    if unknown:
        handle.app.log(f"llmfake {opts['kind']}: ignoring arguments {unknown}")

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    try:
        handle.serve()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        handle.app.stop_event.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
