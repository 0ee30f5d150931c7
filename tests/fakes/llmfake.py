#!/usr/bin/env python3
"""llmfake: faithful fake LLM servers for llmctl tests.

One self-contained module, Python >= 3.10 standard library only, so it runs inside a bare
Debian bookworm image with python3.  The wire behaviour follows the project's reference page
(docs copy of server-apis.md); section numbers in comments ("§1.6") point into it.

Kinds
-----
``ollama`` (default port 11434), ``model-runner`` (12434), ``vllm`` (8000), ``llamacpp`` (8080),
``tgi`` (80, like the official image which sets PORT=80), ``localai`` (8080), ``openai``
(generic OpenAI-compatible server, 8000).

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

Catalogues
----------
ollama: ``tinyllama:latest`` (completion), ``qwen2.5:0.5b`` (completion, tools),
``llama3.2:latest`` (completion, tools), ``smollm2:135m`` (completion, tools), ``qwen3:0.6b``
(completion, tools, thinking), ``nomic-embed-text:latest`` (embedding only).
model-runner: ``ai/smollm2:latest`` (same artifact as ``ai/smollm2:360M-Q4_K_M``),
``ai/qwen3:0.6B-Q4_0``, ``ai/gemma3:latest``, ``ai/llama3.2:latest``,
``ai/mxbai-embed-large:latest`` (embedding).  Layers are a few KB..2 MB.

Imports (GGUF files)
--------------------
ollama: ``HEAD/POST /api/blobs/sha256:HEX`` (the body is streamed to disk and hashed; 400
``digest mismatch`` as the real server) and ``POST /api/create`` with ``files``: the GGUF
header, metadata and tensor shapes are read (stdlib) for family, parameter count,
quantization, context length and the chat template; ``/api/tags`` then lists the model.
model-runner: ``POST /models/load`` (the tar archive ``docker model package`` streams:
``blobs/sha256/<hex>`` + ``manifest.json``) and ``POST /models/{name}/tag?repo=&tag=``.

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
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

KINDS = ("ollama", "model-runner", "vllm", "llamacpp", "tgi", "localai", "openai")
DEFAULT_PORTS = {
    "ollama": 11434,
    "model-runner": 12434,
    "vllm": 8000,
    "llamacpp": 8080,
    "tgi": 80,
    "localai": 8080,
    "openai": 8000,
}
DEFAULT_VERSIONS = {
    "ollama": "0.17.1",
    "model-runner": "v1.0.9",
    "vllm": "0.11.0",
    "llamacpp": "b6000",
    "tgi": "3.3.5",
    "localai": "v3.5.0",
    "openai": "1.0.0",
}
DEFAULT_MODELS = {
    "vllm": "Qwen/Qwen3-0.6B",
    "tgi": "bigscience/bloom-560m",
    "llamacpp": "/models/model.gguf",
    "localai": "qwen2.5-0.5b-instruct",
    "openai": "gpt-4o-mini",
}
SCRIPT_DATA_DIRS = {"ollama": "/root/.ollama", "model-runner": "/models"}


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
NATIVE_ENV = {
    "tgi": {"model": "MODEL_ID", "port": "PORT"},
    "llamacpp": {
        "model": "LLAMA_ARG_MODEL",
        "alias": "LLAMA_ARG_ALIAS",
        "port": "LLAMA_ARG_PORT",
        "host": "LLAMA_ARG_HOST",
        "max_model_len": "LLAMA_ARG_CTX_SIZE",
        "api_key": "LLAMA_API_KEY",
    },
    "vllm": {"api_key": "VLLM_API_KEY"},
    "model-runner": {"port": "MODEL_RUNNER_PORT", "data_dir": "MODELS_PATH"},
    "localai": {"data_dir": "LOCALAI_MODELS_PATH"},
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
    native = NATIVE_ENV.get(kind, {})
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
        out["port"] = DEFAULT_PORTS[kind]
    if out["version"] is None:
        out["version"] = DEFAULT_VERSIONS[kind]
    if out["model"] is None:
        out["model"] = DEFAULT_MODELS.get(kind)
    if isinstance(out["models"], list):
        out["models"] = list(out["models"])
    return out


# ------------------------------------------------------------------------------------------
# small helpers


def rfc3339(ts_ns: int, utc: bool = False) -> str:
    """Go time.RFC3339Nano: trailing zeros of the fraction trimmed, Z for UTC."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    if utc:
        dt = datetime.fromtimestamp(secs, timezone.utc)
    else:
        dt = datetime.fromtimestamp(secs).astimezone()
    frac = ("." + f"{ns:09d}".rstrip("0")) if ns else ""
    off = int(dt.utcoffset().total_seconds()) if dt.utcoffset() else 0
    if off == 0:
        tz = "Z"
    else:
        sign = "+" if off > 0 else "-"
        off = abs(off)
        tz = f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + tz


def human_bytes(n: float) -> str:
    """DMR config sizes: binary units, two decimals ("256.35 MiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024.0
        i += 1
    return f"{n:.2f} {units[i]}"


def go_html_escape(s: str) -> str:
    """Go html.EscapeString (not Python's html.escape: Go writes &#34; and &#39;)."""
    return (
        s.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
    )


def blob_content(seed: str, size: int) -> bytes:
    unit = (seed + "\n").encode()
    return (unit * (size // len(unit) + 1))[:size]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def split_tokens(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text) or [text]


def count_prompt_tokens(messages: Any) -> int:
    n = 0
    for m in messages if isinstance(messages, list) else []:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, str):
            n += len(c.split()) + 4
        elif isinstance(c, list):
            n += sum(len(str(p.get("text", "")).split()) for p in c if isinstance(p, dict)) + 4
    return max(n, 1)


def fake_tool_call(tools: list) -> tuple[str, dict]:
    """Call the first tool with placeholder arguments derived from its JSON schema."""
    fn = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
    props = (fn.get("parameters") or {}).get("properties") or {}
    args: dict[str, Any] = {}
    for key, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("enum"):
            args[key] = spec["enum"][0]
        else:
            args[key] = {
                "integer": 1,
                "number": 1.5,
                "boolean": True,
                "array": [],
                "object": {},
            }.get(spec.get("type"), "Tokyo")
    return fn.get("name", "tool"), args


class BadRequest(Exception):
    pass


class Request(NamedTuple):
    method: str
    path: str
    query: dict
    headers: Any
    body: bytes

    def json(self, missing: str = "missing request body") -> Any:
        if not self.body.strip():
            raise BadRequest(missing)
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise BadRequest(str(e)) from e


# ------------------------------------------------------------------------------------------
# HTTP plumbing


class ChunkStream:
    """Chunked transfer-encoding writer.  flush_each=False batches small writes (cheap for
    200k-line pulls); the bytes are still streamed, never built whole in memory."""

    def __init__(self, h: Handler, flush_each: bool):
        self.h = h
        self.flush_each = flush_each
        self.buf: list[bytes] = []
        self.size = 0

    def write(self, data: str | bytes) -> None:
        b = data.encode() if isinstance(data, str) else data
        if self.flush_each:
            self._send(b)
            return
        self.buf.append(b)
        self.size += len(b)
        if self.size >= 32768:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            data = b"".join(self.buf)
            self.buf, self.size = [], 0
            self._send(data)

    def _send(self, data: bytes) -> None:
        if data and not self.h.is_head:
            self.h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def close(self) -> None:
        self.flush()
        if not self.h.is_head:
            self.h.wfile.write(b"0\r\n\r\n")

    def abort(self) -> None:
        """Drop the TCP connection mid-stream (no terminating chunk)."""
        self.flush()
        self.h.close_connection = True
        with contextlib.suppress(OSError):
            self.h.connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer
    is_head = False
    # Go's net package sets TCP_NODELAY on every connection (Ollama, Model Runner): without
    # it, headers and body written apart wait ~40 ms for the client's delayed ACK
    disable_nagle_algorithm = True

    def handle(self) -> None:
        app = self.server.app
        if app.opts["hang"]:
            app.stop_event.wait()  # accepted, never read, never answered
            return
        if app.opts["trickle"]:
            self._trickle(app)
            return
        super().handle()

    def _trickle(self, app: App) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
        i = 0
        try:
            while not app.stop_event.is_set():
                self.wfile.write(head[i : i + 1] if i < len(head) else b".")
                i += 1
                app.stop_event.wait(app.opts["trickle_interval"])
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.opts["verbose"]:
            self.server.app.log(f"{self.address_string()} {format % args}")

    def _dispatch(self) -> None:
        self.is_head = self.command == "HEAD"
        try:
            parts = urlsplit(self.path)
            n = int(self.headers.get("Content-Length") or 0)
            streamed = self.server.app.streams_body(self.command, unquote(parts.path))
            body = self.rfile.read(n) if n > 0 and not streamed else b""
            req = Request(
                self.command, unquote(parts.path), parse_qs(parts.query), self.headers, body
            )
            self.server.app.dispatch(self, req)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = do_PATCH = do_OPTIONS = _dispatch

    def body_chunks(self, size: int = 1 << 20):
        """The request body as it arrives (routes for which App.streams_body is true):
        Content-Length or chunked transfer encoding. A client that hangs up mid-body raises
        ConnectionError."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("the client closed the connection mid-body")
                left = int(line.split(b";")[0].strip() or b"0", 16)
                if left == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                while left:
                    piece = self.rfile.read(min(left, size))
                    if not piece:
                        raise ConnectionError("the client closed the connection mid-body")
                    left -= len(piece)
                    yield piece
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            piece = self.rfile.read(min(left, size))
            if not piece:
                raise ConnectionError("the client closed the connection mid-body")
            left -= len(piece)
            yield piece

    def client_gone(self) -> bool:
        """True when the client closed its side (a request whose context is cancelled)."""
        import select

        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    # --- response helpers
    def start(self, status: int, ctype: str | None, headers: dict | None = None) -> None:
        self.log_request(status)
        self.send_response_only(status)
        server_header = self.server.app.server_header
        if server_header:
            self.send_header("Server", server_header)
        self.send_header("Date", self.date_time_string())
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)

    def send(
        self,
        status: int,
        body: bytes | str = b"",
        ctype: str | None = None,
        headers: dict | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.start(status, ctype, headers)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and not self.is_head:
            self.wfile.write(data)

    def send_json(
        self, status: int, obj: Any, ctype: str = "application/json; charset=utf-8"
    ) -> None:
        self.send(status, dumps(obj), ctype)

    def send_text(self, status: int, text: str, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send(status, text, ctype)

    def go_error(self, status: int, msg: str) -> None:
        """Go net/http http.Error: text/plain, nosniff, trailing newline (§2.1)."""
        self.send(
            status, msg + "\n", "text/plain; charset=utf-8", {"X-Content-Type-Options": "nosniff"}
        )

    def stream(self, status: int, ctype: str, flush_each: bool = True) -> ChunkStream:
        self.start(status, ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        return ChunkStream(self, flush_each)


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], app: App):
        self.app = app
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler, bind_and_activate=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (timeouts, Ctrl-C) is normal for a server:
        # real servers log nothing noisy for it, and tests read the client's stderr.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


Route = tuple[re.Pattern, dict]


# ------------------------------------------------------------------------------------------
# base application


class App:
    kind = "openai"
    server_header: str | None = None
    fingerprint: str | None = None
    sse_ctype = "text/event-stream; charset=utf-8"

    def __init__(self, opts: dict):
        self.opts = opts
        self.stop_event = threading.Event()
        self.started = time.monotonic()
        self.lock = threading.RLock()
        self.routes: list[Route] = []
        self.setup()

    # --- lifecycle hooks
    def setup(self) -> None:
        pass

    @property
    def loading(self) -> bool:
        return time.monotonic() - self.started < self.opts["load_seconds"]

    def log(self, line: str) -> None:
        if not self.opts["quiet"]:
            print(line, file=sys.stderr, flush=True)

    def startup_lines(self, url: str) -> list[str]:
        return [f"llmfake {self.kind}: listening on {url}"]

    def loading_lines(self) -> list[str]:
        return [f"llmfake {self.kind}: loading model {self.opts['model']}"]

    # --- routing
    def route(self, pattern: str, **methods: Callable[..., None]) -> None:
        self.routes.append((re.compile(pattern), {m.upper(): f for m, f in methods.items()}))

    def dispatch(self, h: Handler, req: Request) -> None:
        if self.opts["html"]:
            page = (
                "<!DOCTYPE html><html><head><title>Welcome</title></head><body>"
                "<h1>Another web app</h1><p>Nothing to see here.</p></body></html>"
            )
            h.send(200, page, "text/html; charset=utf-8")
            return
        if self.before(h, req):
            return
        matched = False
        for pattern, methods in self.routes:
            m = pattern.fullmatch(req.path)
            if not m:
                continue
            matched = True
            fn = methods.get(req.method)
            if fn is None:
                continue
            try:
                fn(h, req, **m.groupdict())
            except BadRequest as e:
                self.bad_request(h, str(e))
            return
        if matched:
            self.method_not_allowed(h, req)
        else:
            self.not_found(h, req)

    def before(self, h: Handler, req: Request) -> bool:
        """Return True when the request was answered (auth, loading ...)."""
        return False

    def streams_body(self, method: str, path: str) -> bool:
        """True for routes that read a (large) request body themselves (h.body_chunks)."""
        return False

    def not_found(self, h: Handler, req: Request) -> None:
        h.send_json(
            404,
            {
                "error": {
                    "message": f"Invalid URL ({req.method} {req.path})",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        )

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.send_json(
            405,
            {
                "error": {
                    "message": "Method Not Allowed",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        )

    def bad_request(self, h: Handler, msg: str) -> None:
        self.oai_error(h, 400, msg, "invalid_request_error")

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        """Error envelope on the OpenAI routes; overridden per kind."""
        h.send_json(status, {"error": {"message": msg, "type": etype, "param": None, "code": None}})

    def not_implemented(self, h: Handler, req: Request, **_: Any) -> None:
        h.send_json(501, {"error": f"llmfake: {req.method} {req.path} is not implemented"})

    # --- OpenAI chat, shared by every kind
    def served_ids(self) -> list[str]:
        return [self.opts["model"]] if self.opts["model"] else []

    def chat_extra(self, prompt_tokens: int, completion_tokens: int) -> dict:
        return {}

    def openai_chat(self, h: Handler, body: dict, model: str, tools_ok: bool = True) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self.oai_error(h, 400, "messages is required", "invalid_request_error")
            return
        tools = body.get("tools") if tools_ok else None
        tokens = split_tokens(self.opts["reply"])
        finish = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        tool_calls = None
        if tools:
            name, args = fake_tool_call(tools)
            # OpenAI format: arguments is a JSON *string* (§1.10)
            tool_calls = [
                {
                    "index": 0,
                    "id": "call_" + uuid.uuid4().hex[:8],
                    "type": "function",
                    "function": {"name": name, "arguments": dumps(args)},
                }
            ]
            tokens, finish = [], "tool_calls"
        ptoks, ctoks = count_prompt_tokens(messages), max(len(tokens), 1 if tool_calls else 0)
        usage = {"prompt_tokens": ptoks, "completion_tokens": ctoks, "total_tokens": ptoks + ctoks}
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        base: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
        }
        if self.fingerprint:
            base["system_fingerprint"] = self.fingerprint
        if not body.get("stream"):
            msg: dict[str, Any] = {"role": "assistant", "content": "".join(tokens)}
            if tool_calls:
                msg["tool_calls"] = tool_calls
            out = dict(
                base,
                choices=[{"index": 0, "message": msg, "finish_reason": finish}],
                usage=usage,
                **self.chat_extra(ptoks, ctoks),
            )
            h.send_json(200, out, "application/json")
            return
        base["object"] = "chat.completion.chunk"
        s = h.stream(200, self.sse_ctype)
        deltas: list[dict] = [{"content": t} for t in tokens]
        if tool_calls:
            deltas = [{"tool_calls": tool_calls}]
        first = True
        for d in deltas:
            if first:  # role only in the first delta (§1.10)
                d = {"role": "assistant", **d}
                first = False
            chunk = dict(base, choices=[{"index": 0, "delta": d, "finish_reason": None}])
            s.write(f"data: {dumps(chunk)}\n\n")
            if self.opts["token_delay"]:
                self.stop_event.wait(self.opts["token_delay"])
        final_delta: dict = {"role": "assistant", "content": ""} if first else {}
        last = dict(base, choices=[{"index": 0, "delta": final_delta, "finish_reason": finish}])
        s.write(f"data: {dumps(last)}\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            s.write(f"data: {dumps(dict(base, choices=[], usage=usage))}\n\n")
        s.write("data: [DONE]\n\n")
        s.close()

    def openai_model_list(self, h: Handler, data: list | None) -> None:
        h.send_json(200, {"object": "list", "data": data}, "application/json")


# ------------------------------------------------------------------------------------------
# Ollama


class OName(NamedTuple):
    host: str
    namespace: str
    model: str
    tag: str

    @property
    def shortest(self) -> str:
        """DisplayShortest: drops the default host and library/, keeps the tag (§1.11)."""
        if self.host.lower() == "registry.ollama.ai":
            if self.namespace.lower() == "library":
                return f"{self.model}:{self.tag}"
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def full(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def key(self) -> str:
        return self.full.lower()  # comparison is case-insensitive (§1.11)


_O_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}")
_O_NS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_O_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")


def parse_ollama_name(raw: Any) -> OName | None:
    """types/model/name.go ParseName + IsValid (§1.11); None when invalid."""
    if not isinstance(raw, str) or not raw:
        return None
    s = raw.split("://", 1)[1] if "://" in raw else raw
    s = s.split("@", 1)[0]
    tag = "latest"
    i, j = s.rfind(":"), s.rfind("/")
    if i > j:  # ':' is the tag separator only after the last '/'
        s, tag = s[:i], s[i + 1 :]
    parts = s.split("/")
    if len(parts) > 3:
        return None
    model = parts[-1]
    ns = parts[-2] if len(parts) >= 2 else "library"
    host = parts[-3] if len(parts) == 3 else "registry.ollama.ai"
    if not (
        _O_HOST.fullmatch(host)
        and _O_NS.fullmatch(ns)
        and _O_PART.fullmatch(model)
        and _O_PART.fullmatch(tag)
    ):
        return None
    return OName(host, ns, model, tag)


# name -> family, parameter size, quantization, capabilities, model layer bytes, context length
OLLAMA_CATALOGUE: dict[str, dict[str, Any]] = {
    "tinyllama:latest": dict(
        family="llama", params="1B", quant="Q4_0", caps=["completion"], size=1 << 20, ctx=2048
    ),
    "qwen2.5:0.5b": dict(
        family="qwen2",
        params="494.03M",
        quant="Q4_K_M",
        caps=["completion", "tools"],
        size=512 << 10,
        ctx=32768,
    ),
    "llama3.2:latest": dict(
        family="llama",
        params="3.2B",
        quant="Q4_K_M",
        caps=["completion", "tools"],
        size=2 << 20,
        ctx=131072,
    ),
    "smollm2:135m": dict(
        family="llama",
        params="134.52M",
        quant="F16",
        caps=["completion", "tools"],
        size=128 << 10,
        ctx=8192,
    ),
    "qwen3:0.6b": dict(
        family="qwen3",
        params="751.63M",
        quant="Q4_K_M",
        caps=["completion", "tools", "thinking"],
        size=256 << 10,
        ctx=40960,
    ),
    "nomic-embed-text:latest": dict(
        family="nomic-bert", params="137M", quant="F16", caps=["embedding"], size=64 << 10, ctx=2048
    ),
}
CONTROL_MODELS = ("stall", "drop", "nosuccess", "error")
for _c in CONTROL_MODELS:
    OLLAMA_CATALOGUE[f"llmfake/{_c}:latest"] = dict(
        family="llama",
        params="1M",
        quant="Q4_0",
        caps=["completion"],
        size=64 << 10,
        ctx=2048,
        control=_c,
    )


class Layer(NamedTuple):
    media_type: str
    data: bytes
    hex: str

    @property
    def digest(self) -> str:
        return "sha256:" + self.hex


def ollama_layers(name: OName, spec: dict) -> list[Layer]:
    """Deterministic layers (model, template, license, params, then config last)."""
    seed = name.key
    raw = [
        ("application/vnd.ollama.image.model", blob_content("GGUF " + seed, spec["size"])),
        ("application/vnd.ollama.image.template", b"{{ .System }}\n{{ .Prompt }}"),
        ("application/vnd.ollama.image.license", blob_content("LICENSE " + seed, 1100)),
        ("application/vnd.ollama.image.params", dumps({"stop": ["<|eot_id|>"]}).encode()),
    ]
    layers = [Layer(mt, d, sha256_hex(d)) for mt, d in raw]
    config = {
        "model_format": "gguf",
        "model_family": spec["family"],
        "model_families": [spec["family"]],
        "model_type": spec["params"],
        "file_type": spec["quant"],
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [x.digest for x in layers]},
        # llmfake extension so a restarted fake knows capabilities without its catalogue
        "llmfake": {"capabilities": spec["caps"], "context_length": spec["ctx"]},
    }
    cdata = dumps(config).encode()
    layers.append(Layer("application/vnd.docker.container.image.v1+json", cdata, sha256_hex(cdata)))
    return layers


class OllamaApp(App):
    kind = "ollama"
    fingerprint = "fp_ollama"
    sse_ctype = "text/event-stream"

    def setup(self) -> None:
        self.catalogue = dict(OLLAMA_CATALOGUE)
        for extra in self.opts["models"]:
            n = parse_ollama_name(extra)
            if n:
                self.catalogue.setdefault(
                    n.shortest,
                    dict(
                        family="llama",
                        params="1B",
                        quant="Q4_0",
                        caps=["completion"],
                        size=64 << 10,
                        ctx=4096,
                    ),
                )
        self.root = os.path.join(self.opts["data_dir"], "models")
        self.loaded: dict[str, float] = {}  # full key -> expires (epoch)
        self.create_ends: list[str] = []  # each streamed create: success | error | client gone
        for name in self.opts["pulled"]:
            n = parse_ollama_name(name)
            spec = self.lookup_catalogue(n) if n else None
            if n is None or spec is None:
                raise ValueError(f"pulled: {name!r} is not in the ollama catalogue")
            for _ in self.pull_lines(n, spec):
                pass
        r = self.route
        r("/", GET=self.root_text, HEAD=self.root_text)
        r("/api/version", GET=self.version, HEAD=self.version)
        r("/api/status", GET=self.status)
        r("/api/tags", GET=self.tags, HEAD=self.tags)
        r("/api/ps", GET=self.ps)
        r("/api/pull", POST=self.pull)
        r("/api/show", POST=self.show)
        r("/api/delete", DELETE=self.delete)
        r("/api/chat", POST=self.chat)
        r("/api/generate", POST=self.generate)
        r("/api/embed", POST=self.embed)
        for p in (
            "/api/push",
            "/api/copy",
            "/api/embeddings",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/responses",
            "/v1/audio/transcriptions",
            "/v1/messages",
        ):
            r(p, POST=self.not_implemented)
        r("/api/blobs/(?P<digest>[^/]+)", HEAD=self.blob_head, POST=self.blob_post)
        r("/api/create", POST=self.create_model)
        r("/v1/models", GET=self.v1_models)
        r("/v1/models/(?P<model>.+)", GET=self.v1_model)
        r("/v1/chat/completions", POST=self.v1_chat)

    def startup_lines(self, url: str) -> list[str]:
        now = datetime.now().astimezone().isoformat(timespec="milliseconds")
        port = url.rsplit(":", 1)[1]
        return [
            f'time={now} level=INFO source=routes.go:1500 msg="Listening on '
            f'{self.opts["host"]}:{port} (version {self.opts["version"]})"'
        ]

    # --- §1.1 Host-header check, only when bound to loopback
    def before(self, h: Handler, req: Request) -> bool:
        try:
            bound_loopback = ipaddress.ip_address(self.opts["host"]).is_loopback
        except ValueError:
            bound_loopback = self.opts["host"] == "localhost"
        if bound_loopback and not self.host_allowed(req.headers.get("Host", "")):
            h.send(403, b"")
            return True
        return False

    @staticmethod
    def host_allowed(host: str) -> bool:
        host = host.strip()
        if host.startswith("["):
            host = host[1:].split("]", 1)[0]
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        if not host:
            return True
        try:
            ip = ipaddress.ip_address(host)
            return ip.is_loopback or ip.is_private or ip.is_unspecified
        except ValueError:
            pass
        h = host.lower()
        return h in ("localhost", socket.gethostname().lower()) or h.endswith(
            (".localhost", ".local", ".internal")
        )

    # --- errors: gin texts
    def not_found(self, h: Handler, req: Request) -> None:
        h.send_text(404, "404 page not found", "text/plain")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        # §1.2: HandleMethodNotAllowed = true
        h.send_text(405, "405 method not allowed", "text/plain")

    def bad_request(self, h: Handler, msg: str) -> None:
        h.send_json(400, {"error": msg})

    # --- storage
    def manifest_path(self, n: OName) -> str:
        return os.path.join(self.root, "manifests", n.host, n.namespace, n.model, n.tag)

    def blob_path(self, hexd: str) -> str:
        return os.path.join(self.root, "blobs", "sha256-" + hexd)  # ':' -> '-' (§1.1)

    def installed(self) -> list[tuple[OName, str]]:
        base = os.path.join(self.root, "manifests")
        out = []
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, base).split(os.sep)
            if len(rel) != 3:
                continue
            for f in files:
                out.append((OName(rel[0], rel[1], rel[2], f), os.path.join(dirpath, f)))
        return out

    def find(self, n: OName) -> tuple[OName, str] | None:
        for name, path in self.installed():
            if name.key == n.key:
                return name, path
        return None

    def read_model(self, name: OName, path: str) -> dict:
        with open(path, "rb") as f:
            raw = f.read()
        man = json.loads(raw)
        try:
            with open(self.blob_path(man["config"]["digest"][7:]), "rb") as f:
                cfg = json.loads(f.read())
        except (OSError, ValueError):
            cfg = {}
        size = man["config"]["size"] + sum(x["size"] for x in man["layers"])
        extra = cfg.get("llmfake", {})
        details = {
            "parent_model": "",
            "format": cfg.get("model_format", "gguf"),
            "family": cfg.get("model_family", ""),
            "families": cfg.get("model_families"),
            "parameter_size": cfg.get("model_type", ""),
            "quantization_level": cfg.get("file_type", ""),
        }
        return {
            "name": name,
            "path": path,
            "digest": sha256_hex(raw),
            "size": size,
            "mtime_ns": os.stat(path).st_mtime_ns,
            "details": details,
            "caps": extra.get("capabilities", ["completion"]),
            "ctx": extra.get("context_length", 4096),
        }

    def lookup_catalogue(self, n: OName) -> dict | None:
        for key, spec in self.catalogue.items():
            cn = parse_ollama_name(key)
            if cn and cn.key == n.key:
                return spec
        return None

    # --- pull (§1.6)
    def pull_lines(self, n: OName, spec: dict | None):
        """Yield NDJSON lines (no newline); ('control', what) tuples for control models."""
        yield '{"status":"pulling manifest"}'
        if spec is None:
            # registry 404 -> os.ErrNotExist, right after "pulling manifest" (§1.6)
            yield '{"error":"pull model manifest: file does not exist"}'
            return
        control = spec.get("control")
        layers = ollama_layers(n, spec)
        nlines = max(1, self.opts["progress_lines"])
        delay = self.opts["pull_delay"]
        os.makedirs(os.path.join(self.root, "blobs"), exist_ok=True)
        for idx, layer in enumerate(layers):
            short, total, digest = layer.hex[:12], len(layer.data), layer.digest
            path = self.blob_path(layer.hex)
            if os.path.exists(path) and os.path.getsize(path) == total:
                # cache hit: reported once with completed == total
                yield (
                    f'{{"status":"pulling {short}","digest":"{digest}","total":{total},'
                    f'"completed":{total}}}'
                )
                continue
            steps = max(1, (nlines + 1) // 2)
            for i in range(nlines):
                if control and control != "nosuccess" and idx == 0 and i == max(1, nlines // 2):
                    if control == "error":
                        yield '{"error":"max retries exceeded: unexpected EOF"}'
                        return
                    yield ("control", control)
                    return
                # each value is sent twice: the real server repeats identical lines (~60 ms)
                done = total if i == nlines - 1 else total * (i // 2) // max(1, steps - 1)
                if done:
                    yield (
                        f'{{"status":"pulling {short}","digest":"{digest}","total":{total},'
                        f'"completed":{done}}}'
                    )
                else:  # completed is omitempty (§1.6)
                    yield f'{{"status":"pulling {short}","digest":"{digest}","total":{total}}}'
                if delay:
                    self.stop_event.wait(delay)
            tmp = f"{path}-partial-{uuid.uuid4().hex[:6]}"
            with open(tmp, "wb") as f:
                f.write(layer.data)
            os.replace(tmp, path)
        yield '{"status":"verifying sha256 digest"}'
        yield '{"status":"writing manifest"}'
        if control == "nosuccess":
            return
        config, body = layers[-1], layers[:-1]
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": config.media_type,
                "digest": config.digest,
                "size": len(config.data),
            },
            "layers": [
                {"mediaType": x.media_type, "digest": x.digest, "size": len(x.data)} for x in body
            ],
        }
        mpath = self.manifest_path(n)
        with self.lock:
            old = self.find(n)
            if old and old[1] != mpath:
                os.remove(old[1])
            os.makedirs(os.path.dirname(mpath), exist_ok=True)
            with open(mpath, "w") as f:
                f.write(dumps(manifest))
        yield '{"status":"success"}'

    def pull(self, h: Handler, req: Request) -> None:
        body = req.json()
        raw = body.get("model") or body.get("name")  # legacy "name" still accepted
        n = parse_ollama_name(raw)
        if n is None:
            h.send_json(400, {"error": "invalid model name"})
            return
        spec = self.lookup_catalogue(n)
        delay = self.opts["pull_delay"]
        if body.get("stream", True) is False:
            last = None
            for line in self.pull_lines(n, spec):
                if isinstance(line, tuple):
                    self.control(h, None, line[1])
                    return
                last = line
                if last.startswith('{"error"'):
                    h.send(500, last, "application/json; charset=utf-8")  # §1.6 waitForStream
                    return
            h.send(200, last or "{}", "application/json; charset=utf-8")
            return
        s = h.stream(200, "application/x-ndjson", flush_each=bool(delay))
        for line in self.pull_lines(n, spec):
            if isinstance(line, tuple):
                self.control(h, s, line[1])
                return
            s.write(line + "\n")
        s.close()

    def control(self, h: Handler, s: ChunkStream | None, what: str) -> None:
        if s is not None:
            s.flush()
        if what == "stall":
            self.stop_event.wait()  # keep the connection open, send nothing
            h.close_connection = True
        else:  # drop
            (s or ChunkStream(h, True)).abort()

    # --- simple routes
    def root_text(self, h: Handler, req: Request) -> None:
        h.send_text(200, "Ollama is running")

    def version(self, h: Handler, req: Request) -> None:
        h.send_json(200, {"version": self.opts["version"]})

    def status(self, h: Handler, req: Request) -> None:
        h.send_json(200, {"cloud": {"disabled": False, "source": "default"}})

    def tag_entry(self, m: dict) -> dict:
        short = m["name"].shortest
        return {
            "name": short,
            "model": short,
            "modified_at": rfc3339(m["mtime_ns"]),
            "size": m["size"],
            "digest": m["digest"],
            "details": m["details"],
        }

    def models(self) -> list[dict]:
        ms = []
        for name, path in self.installed():
            try:
                ms.append(self.read_model(name, path))
            except (OSError, ValueError, KeyError):
                continue
        ms.sort(key=lambda m: -m["mtime_ns"])
        return ms

    def tags(self, h: Handler, req: Request) -> None:
        # §1.3: {"models":[]} when empty, never null
        h.send_json(200, {"models": [self.tag_entry(m) for m in self.models()]})

    def ps(self, h: Handler, req: Request) -> None:
        now = time.time()
        out = []
        with self.lock:
            live = {k: v for k, v in self.loaded.items() if v > now}
            self.loaded = live
        by_key = {m["name"].key: m for m in self.models()}
        for key, expires in sorted(live.items(), key=lambda kv: -kv[1]):  # longest first
            m = by_key.get(key)
            if not m:
                continue
            e = self.tag_entry(m)
            del e["modified_at"]
            e.update(
                expires_at=rfc3339(int(expires * 1e9)),
                size_vram=0,
                context_length=min(m["ctx"], self.opts["max_model_len"]),
            )
            out.append(e)
        h.send_json(200, {"models": out})

    def show(self, h: Handler, req: Request) -> None:
        body = req.json()
        raw = body.get("model") or body.get("name")
        if not raw:
            h.send_json(400, {"error": "model is required"})
            return
        n = parse_ollama_name(raw)
        found = self.find(n) if n else None
        if not found:
            shown = n.shortest if n else raw
            h.send_json(404, {"error": f"model '{shown}' not found"})
            return
        m = self.read_model(*found)
        d = m["details"]
        fam = d["family"] or "llama"
        out = {
            "license": "Fake license",
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {m["path"]}\n',
            "parameters": 'stop                           "<|eot_id|>"',
            "template": "{{ .System }}\n{{ .Prompt }}",
            "details": d,
            "model_info": {
                "general.architecture": fam,
                "general.parameter_count": 1000000,
                f"{fam}.context_length": m["ctx"],
            },
            "tensors": [],
            "capabilities": m["caps"],
            "modified_at": rfc3339(m["mtime_ns"]),
        }
        h.send_json(200, out)

    def delete(self, h: Handler, req: Request) -> None:
        body = req.json()
        raw = body.get("model") or body.get("name")
        n = parse_ollama_name(raw)
        if n is None:
            h.send_json(400, {"error": f"name {dumps(raw)} is invalid"})
            return
        with self.lock:
            found = self.find(n)
            if not found:
                h.send_json(404, {"error": f"model '{raw}' not found"})  # as given (§1.9)
                return
            os.remove(found[1])
            self.loaded.pop(n.key, None)
            self.prune_blobs()
        h.send(200, b"")

    def prune_blobs(self) -> None:
        used = set()
        for _name, path in self.installed():
            with open(path) as f:
                man = json.load(f)
            used.update(x["digest"][7:] for x in [man["config"], *man["layers"]])
        bdir = os.path.join(self.root, "blobs")
        for f in os.listdir(bdir) if os.path.isdir(bdir) else []:
            if f.startswith("sha256-") and f[7:] not in used:
                os.remove(os.path.join(bdir, f))

    def blob_head(self, h: Handler, req: Request, digest: str) -> None:
        ok = os.path.exists(self.blob_path(digest.replace("sha256:", "")))
        h.send(200 if ok else 404, b"")

    # --- create from files (reference/real-servers.md "Ollama's create-from-file API")
    def streams_body(self, method: str, path: str) -> bool:
        return method == "POST" and path.startswith("/api/blobs/")

    def blob_post(self, h: Handler, req: Request, digest: str) -> None:
        """routes.go CreateBlobHandler: 200 without reading when the blob exists; else the
        body is written to a temporary file while hashed, renamed to its real digest, and
        compared with the URL's (400 "digest mismatch"); 201 when they agree. A body cut
        short leaves nothing (the temporary file is removed)."""
        m = re.fullmatch(r"sha256[:-]([0-9a-fA-F]{64})", digest)
        if not m:
            h.close_connection = True
            h.send_json(400, {"error": "invalid digest format"})
            return
        if os.path.exists(self.blob_path(m.group(1))):
            h.close_connection = True  # the body is not read
            h.send(200, b"")
            return
        bdir = os.path.join(self.root, "blobs")
        os.makedirs(bdir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="sha256-", dir=bdir)
        hasher = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as f:
                for piece in h.body_chunks():
                    hasher.update(piece)
                    f.write(piece)
                    if self.opts["upload_delay"]:
                        self.stop_event.wait(self.opts["upload_delay"])
        except (OSError, ValueError):  # the client went away mid-body
            with contextlib.suppress(OSError):
                os.remove(tmp)
            h.close_connection = True
            return
        got = hasher.hexdigest()
        with self.lock:
            if os.path.exists(self.blob_path(got)):
                os.remove(tmp)
            else:
                os.replace(tmp, self.blob_path(got))
        if "sha256:" + got != digest:
            h.send_json(400, {"error": f'digest mismatch, expected "{digest}", '
                                       f'got "sha256:{got}"'})
            return
        h.send(201, b"")

    def create_model(self, h: Handler, req: Request) -> None:
        """server/create.go CreateHandler for ``files`` (GGUF): checks before streaming
        (400), then NDJSON status lines; the manifest is written last, and not at all once
        the client is gone (the request context is cancelled)."""
        body = req.json()
        files = body.get("files")
        if files is not None and not isinstance(files, dict):
            h.send_json(400, {"error": "json: cannot unmarshal files into map[string]string"})
            return
        for fp, dg in (files or {}).items():
            parts = str(fp).split("/")
            if (fp in ("", ".") or str(fp).startswith("/") or ".." in parts or "" in parts
                    or "\\" in fp or ":" in fp):
                h.send_json(400, {"error": f"file path must be relative: {fp}"})
                return
            if not isinstance(dg, str) or not re.fullmatch(r"sha256[:-][0-9a-fA-F]{64}", dg):
                h.send_json(400, {"error": f"invalid digest for {fp}: invalid digest format"})
                return
        n = parse_ollama_name(body.get("model") or body.get("name"))
        if n is None:
            h.send_json(400, {"error": "invalid model name"})
            return
        lines = self.create_lines(h, n, files or {}, bool(body.get("from")))
        if body.get("stream", True) is False:  # routes.go waitForStream
            last: dict = {}
            for doc in lines:
                if "error" in doc:
                    h.send_json(doc.get("status", 500), {"error": doc["error"]})
                    return
                last = doc
            h.send_json(200, last)
            return
        s = h.stream(200, "application/x-ndjson")
        end = "client gone"  # what became of each streamed create, for tests (create_ends)
        try:
            for doc in lines:
                s.write(dumps(doc) + "\n")
                end = "success" if doc.get("status") == "success" else \
                    ("error" if "error" in doc else end)
                if self.opts["create_delay"]:
                    self.stop_event.wait(self.opts["create_delay"])
            s.close()
        finally:
            self.create_ends.append(end)

    def create_lines(self, h: Handler, n: OName, files: dict, has_from: bool):
        if not files:
            if has_from:
                yield {"error": "llmfake: create FROM a model is not implemented"}
            else:
                yield {"error": "neither 'from' or 'files' was specified", "status": 400}
            return
        yield {"status": "parsing GGUF"}
        layers: list[dict] = []
        info: dict[str, Any] = {}
        for fp in sorted(files):
            hexd = files[fp][7:].lower()
            path = self.blob_path(hexd)
            if not os.path.exists(path):
                yield {"error": f"open {path}: no such file or directory"}
                return
            try:
                info = gguf_info(path)
            except (OSError, ValueError) as e:
                yield {"error": str(e)}
                return
            layers.append({"mediaType": "application/vnd.ollama.image.model",
                           "digest": "sha256:" + hexd, "size": os.path.getsize(path),
                           "from": fp})
            yield {"status": f"using existing layer sha256:{hexd}"}
        meta = info.get("metadata", {})
        arch = str(meta.get("general.architecture") or "")
        template = chat_template_name(meta.get("tokenizer.chat_template"))
        if template:
            yield {"status": f"using autodetected template {template}"}
            data = CHAT_TEMPLATES[template].encode()
            hexd = sha256_hex(data)
            with open(self.blob_path(hexd), "wb") as f:
                f.write(data)
            layers.append({"mediaType": "application/vnd.ollama.image.template",
                           "digest": "sha256:" + hexd, "size": len(data)})
            yield {"status": f"creating new layer sha256:{hexd}"}
        caps = ["completion"]
        if "tools" in str(meta.get("tokenizer.chat_template") or ""):
            caps.append("tools")
        config = {
            "model_format": "gguf",
            "model_family": arch,
            "model_families": [arch] if arch else None,
            "model_type": human_number(int(info.get("parameters") or 0)),
            "file_type": GGUF_FILE_TYPES.get(meta.get("general.file_type"), "unknown"),
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]},
            "llmfake": {"capabilities": caps,
                        "context_length": int(meta.get(f"{arch}.context_length") or 4096)},
        }
        cdata = dumps(config).encode()
        chex = sha256_hex(cdata)
        with open(self.blob_path(chex), "wb") as f:
            f.write(cdata)
        yield {"status": "writing manifest"}
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "digest": "sha256:" + chex, "size": len(cdata)},
            "layers": layers,
        }
        if h.client_gone():  # create.go: ctx.Err() before WriteManifest
            return
        with self.lock:
            old = self.find(n)  # routes.go getExistingName: an existing name keeps its case
            mpath = old[1] if old else self.manifest_path(n)
            os.makedirs(os.path.dirname(mpath), exist_ok=True)
            # beside the manifests tree, not in it: installed() never sees a half file
            tmp = os.path.join(self.root, "manifests", f".tmp-{uuid.uuid4().hex[:6]}")
            with open(tmp, "w") as f:
                f.write(dumps(manifest))
            os.replace(tmp, mpath)
        yield {"status": "success"}

    # --- inference
    def resolve_for_inference(
        self, raw: Any, tools: Any, *, chat: bool = True
    ) -> tuple[int, str, dict | None]:
        """(status, error message, model) for the native and OpenAI chat routes."""
        if not raw:
            return 400, "model is required", None
        n = parse_ollama_name(raw)
        found = self.find(n) if n else None
        if not found:
            return 404, f"model '{raw}' not found", None
        m = self.read_model(*found)
        if chat and "completion" not in m["caps"]:
            return 400, f"{dumps(raw)} does not support chat", None
        if tools and "tools" not in m["caps"]:
            # the name in this message is fully qualified (§1.8)
            return 400, f"{m['name'].full} does not support tools", None
        return 200, "", m

    def mark_loaded(self, m: dict, keep_alive: Any) -> None:
        with self.lock:
            if keep_alive in (0, "0", "0s", "0m"):
                self.loaded.pop(m["name"].key, None)
            else:
                self.loaded[m["name"].key] = time.time() + 300

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        status, err, m = self.resolve_for_inference(body.get("model"), body.get("tools"))
        if m is None:
            h.send_json(status, {"error": err})
            return
        self.mark_loaded(m, body.get("keep_alive"))
        self.native_respond(h, body, "message")

    def generate(self, h: Handler, req: Request) -> None:
        body = req.json()
        status, err, m = self.resolve_for_inference(body.get("model"), None)
        if m is None:
            h.send_json(status, {"error": err})
            return
        self.mark_loaded(m, body.get("keep_alive"))
        self.native_respond(h, body, "response")

    def native_respond(self, h: Handler, body: dict, field: str) -> None:
        model = body.get("model")
        tokens = split_tokens(self.opts["reply"])
        tool_calls = None
        if field == "message" and body.get("tools"):
            name, args = fake_tool_call(body["tools"])
            # native API: arguments is an object, not a string (§1.8)
            tool_calls = [
                {
                    "id": "call_" + uuid.uuid4().hex[:8],
                    "function": {"index": 0, "name": name, "arguments": args},
                }
            ]
            tokens = []
        prompt_n = count_prompt_tokens(body.get("messages") or [{"content": body.get("prompt")}])
        eval_n = max(1, len(tokens))
        metrics = {
            "total_duration": 0,
            "load_duration": 1_234_567,
            "prompt_eval_count": prompt_n,
            "prompt_eval_duration": prompt_n * 2_000_000,
            "eval_count": eval_n,
            "eval_duration": eval_n * 10_000_000,
        }
        metrics["total_duration"] = (
            metrics["load_duration"] + metrics["prompt_eval_duration"] + metrics["eval_duration"]
        )

        def obj(content: str, done: bool, calls: Any = None) -> dict:
            o: dict[str, Any] = {"model": model, "created_at": rfc3339(time.time_ns(), utc=True)}
            if field == "message":
                msg: dict[str, Any] = {"role": "assistant", "content": content}
                if calls:
                    msg["tool_calls"] = calls
                o["message"] = msg
            else:
                o["response"] = content
            o["done"] = done
            if done:
                o["done_reason"] = "stop"
                o.update(metrics)
            return o

        if body.get("stream", True) is False:
            h.send_json(200, obj("".join(tokens), True, tool_calls))
            return
        s = h.stream(200, "application/x-ndjson")
        if tool_calls:  # tool calls come in a non-final chunk with content "" (§1.8)
            s.write(dumps(obj("", False, tool_calls)) + "\n")
        for t in tokens:
            s.write(dumps(obj(t, False)) + "\n")
            if self.opts["token_delay"]:
                self.stop_event.wait(self.opts["token_delay"])
        s.write(dumps(obj("", True)) + "\n")  # final chunk: content "" + metrics
        s.close()

    def embed(self, h: Handler, req: Request) -> None:
        body = req.json()
        status, err, m = self.resolve_for_inference(body.get("model"), None, chat=False)
        if m is None:
            h.send_json(status, {"error": err})
            return
        if "embedding" not in m["caps"]:
            h.send_json(400, {"error": f"{dumps(body['model'])} does not support embeddings"})
            return
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        vecs = [[round((hash((str(x), i)) % 2000) / 1000 - 1, 6) for i in range(8)] for x in inputs]
        h.send_json(200, {"model": body["model"], "embeddings": vecs})

    # --- OpenAI compatibility (§1.10)
    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.send_json(status, {"error": {"message": msg, "type": etype, "param": None, "code": None}})

    def v1_entry(self, m: dict) -> dict:
        return {
            "id": m["name"].shortest,
            "object": "model",
            "created": m["mtime_ns"] // 10**9,
            "owned_by": m["name"].namespace,
        }  # owned_by = namespace (§1.10)

    def v1_models(self, h: Handler, req: Request) -> None:
        data = [self.v1_entry(m) for m in self.models()]
        # §1.10: `var data []Model` without omitempty: null, not [], when empty
        self.openai_model_list(h, data or None)

    def v1_model(self, h: Handler, req: Request, model: str) -> None:
        n = parse_ollama_name(model)
        found = self.find(n) if n else None
        if not found:
            self.oai_error(h, 404, f"model '{model}' not found", "not_found_error")
            return
        h.send_json(200, self.v1_entry(self.read_model(*found)), "application/json")

    def v1_chat(self, h: Handler, req: Request) -> None:
        try:
            body = req.json()
        except BadRequest as e:
            self.oai_error(h, 400, str(e), "invalid_request_error")
            return
        status, err, m = self.resolve_for_inference(body.get("model"), body.get("tools"))
        if m is None:
            etype = "not_found_error" if status == 404 else "invalid_request_error"
            self.oai_error(h, status, err, etype)
            return
        self.mark_loaded(m, None)
        self.openai_chat(h, body, body["model"])


# ------------------------------------------------------------------------------------------
# GGUF files (imports): header, metadata and tensor shapes, stdlib only

# llama.cpp llama_ftype -> the name Ollama shows (fs/ggml FileType.String)
GGUF_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
}
_GGUF_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
               11: "q", 12: "d"}


def gguf_info(path: str) -> dict[str, Any]:
    """Read a GGUF file's header, scalar/string metadata and tensor shapes (not the data).

    Returns {"version", "metadata": {key: value}, "tensors", "parameters"}; arrays are
    skipped (their length is kept as "<key>#len"). ValueError("invalid file magic") for
    anything that is not GGUF v2/v3, as Ollama's reader says."""
    import struct

    with open(path, "rb") as f:
        def read(n: int) -> bytes:
            data = f.read(n)
            if len(data) != n:
                raise ValueError("unexpected end of GGUF file")
            return data

        def u32() -> int:
            return struct.unpack("<I", read(4))[0]

        def u64() -> int:
            return struct.unpack("<Q", read(8))[0]

        def string() -> str:
            return read(u64()).decode("utf-8", "replace")

        def value(vtype: int) -> Any:
            if vtype in _GGUF_FIXED:
                fmt = "<" + _GGUF_FIXED[vtype]
                return struct.unpack(fmt, read(struct.calcsize(fmt)))[0]
            if vtype == 8:
                return string()
            raise ValueError(f"unknown GGUF value type {vtype}")

        if f.read(4) != b"GGUF":
            raise ValueError("invalid file magic")
        version = u32()
        if version not in (2, 3):
            raise ValueError(f"unsupported GGUF version {version}")
        n_tensors, n_kv = u64(), u64()
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key, vtype = string(), u32()
            if vtype != 9:
                meta[key] = value(vtype)
                continue
            etype, count = u32(), u64()
            meta[key + "#len"] = count
            if etype in _GGUF_FIXED:
                f.seek(count * struct.calcsize("<" + _GGUF_FIXED[etype]), 1)
            elif etype == 8:
                for _ in range(count):
                    f.seek(u64(), 1)
            else:
                raise ValueError(f"unsupported GGUF array type {etype}")
        params = 0
        for _ in range(n_tensors):
            f.seek(u64(), 1)  # name
            dims = [u64() for _ in range(u32())]
            u32()  # type
            u64()  # offset
            n = 1
            for d in dims:
                n *= d
            params += n
    return {"version": version, "metadata": meta, "tensors": n_tensors, "parameters": params}


def human_number(n: int) -> str:
    """Ollama format.HumanNumber: 134515008 -> 134.52M, 3212749888 -> 3.2B."""
    for unit, div, prec in (("B", 1e9, 1), ("M", 1e6, 2), ("K", 1e3, 2)):
        if n >= div:
            v = n / div
            return f"{int(v)}{unit}" if v == int(v) else f"{v:.{prec}f}{unit}"
    return str(n)


def chat_template_name(template: Any) -> str | None:
    """The template Ollama's autodetection would name, for the few families tests use."""
    if not isinstance(template, str) or not template:
        return None
    if "<|im_start|>" in template:
        return "chatml"
    if "<|start_header_id|>" in template:
        return "llama3-instruct"
    if "<start_of_turn>" in template:
        return "gemma-instruct"
    return None


CHAT_TEMPLATES = {
    "chatml": "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n",
    "llama3-instruct": "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>"
    "\n\n{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
    "gemma-instruct": "{{- range .Messages }}<start_of_turn>{{ .Role }}\n{{ .Content }}"
    "<end_of_turn>\n{{ end }}<start_of_turn>model\n",
}


# ------------------------------------------------------------------------------------------
# Docker Model Runner (§2)

_DMR_COMP = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DMR_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"  # noqa: E501
_DMR_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DMR_HEXID = re.compile(r"(?:sha256:)?([0-9a-f]{64}|[0-9a-f]{12})")


def dmr_normalize(raw: Any) -> str | None:
    """distribution/client.go normalizeModelName (§2.2); returns "repo:tag" or
    "sha256:<hex>" for ID references, None when invalid."""
    if not isinstance(raw, str):
        return None
    s = raw.strip()
    if not s:
        return None
    if _DMR_HEXID.fullmatch(s):
        return "sha256:" + _DMR_HEXID.fullmatch(s).group(1)
    if s.startswith("hf.co/"):
        s = "huggingface.co/" + s[len("hf.co/") :]
    s = s.split("@", 1)[0]
    name, tag = s, "latest"
    i, j = s.rfind(":"), s.rfind("/")
    if i > j:
        name, tag = s[:i], s[i + 1 :]
    name = name.lower()  # the name part is lower-cased, the tag is not
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if "/" not in name:
        name = "ai/" + name
    parts = name.split("/")
    first = parts[0]
    if "." in first or ":" in first or first == "localhost":
        if not re.fullmatch(_DMR_DOMAIN, first):
            return None
        parts = parts[1:]
    if not parts or not all(re.fullmatch(_DMR_COMP, p) for p in parts):
        return None
    if len(name) > 255 or not _DMR_TAG.fullmatch(tag):
        return None
    return f"{name}:{tag}"


# normalized name -> artifact key, config strings, parameter bytes, mode
DMR_CATALOGUE: dict[str, dict[str, Any]] = {
    "ai/smollm2:latest": dict(
        artifact="smollm2-360m-q4km",
        arch="llama",
        params="361.82 M",
        quant="IQ2_XXS/Q4_K_M",
        size=1 << 20,
        ctx=8192,
    ),
    "ai/smollm2:360M-Q4_K_M": dict(
        artifact="smollm2-360m-q4km",
        arch="llama",
        params="361.82 M",
        quant="IQ2_XXS/Q4_K_M",
        size=1 << 20,
        ctx=8192,
    ),
    "ai/qwen3:0.6B-Q4_0": dict(
        artifact="qwen3-0.6b-q40",
        arch="qwen3",
        params="751.63 M",
        quant="Q4_0",
        size=512 << 10,
        ctx=40960,
    ),
    "ai/gemma3:latest": dict(
        artifact="gemma3-4b",
        arch="gemma3",
        params="3.88 B",
        quant="IQ2_XXS/Q4_K_M",
        size=2 << 20,
        ctx=131072,
    ),
    "ai/llama3.2:latest": dict(
        artifact="llama3.2-3b",
        arch="llama",
        params="3.21 B",
        quant="IQ2_XXS/Q4_K_M",
        size=2 << 20,
        ctx=131072,
    ),
    "ai/mxbai-embed-large:latest": dict(
        artifact="mxbai",
        arch="bert",
        params="334.09 M",
        quant="F16",
        size=256 << 10,
        ctx=512,
        mode="embedding",
    ),
}
for _c in CONTROL_MODELS:
    DMR_CATALOGUE[f"llmfake/{_c}:latest"] = dict(
        artifact=f"control-{_c}",
        arch="llama",
        params="1.00 M",
        quant="Q4_0",
        size=64 << 10,
        ctx=2048,
        control=_c,
    )
DMR_BACKENDS = ("llama.cpp", "vllm", "sglang", "mlx", "diffusers")


class ModelRunnerApp(App):
    kind = "model-runner"

    def setup(self) -> None:
        self.catalogue = dict(DMR_CATALOGUE)
        for extra in self.opts["models"]:
            norm = dmr_normalize(extra)
            if norm and not norm.startswith("sha256:"):
                self.catalogue.setdefault(
                    norm,
                    dict(
                        artifact=norm,
                        arch="llama",
                        params="1.00 B",
                        quant="Q4_0",
                        size=64 << 10,
                        ctx=4096,
                    ),
                )
        self.root = self.opts["data_dir"]
        self.index_path = os.path.join(self.root, "models.json")
        self.running: dict[str, dict] = {}
        for name in self.opts["pulled"]:
            norm = dmr_normalize(name)
            if norm not in self.catalogue:
                raise ValueError(f"pulled: {name!r} is not in the model-runner catalogue")
            for _ in self.pull_lines(norm, self.catalogue[norm]):
                pass
        r = self.route
        r("/", GET=self.root_text)
        r(
            "/version",
            GET=lambda h, req: h.send_json(
                200, {"version": self.opts["version"]}, "application/json"
            ),
        )
        r("/metrics", GET=lambda h, req: h.send_text(200, "# HELP llmfake 1\nllmfake_up 1\n"))
        r("/models", GET=self.list_models)
        r("/models/create", POST=self.create)
        r("/models/(?P<name>.+)", GET=self.get_model, DELETE=self.delete_model)
        r("/engines/status", GET=self.engines_status)
        r("/engines/ps", GET=self.engines_ps)
        r("/engines/df", GET=self.engines_df)
        r("/engines/unload", POST=self.engines_unload)
        eng = r"/engines(?:/(?P<backend>[^/]+))?/v1"
        for prefix in (eng, "/v1"):
            r(prefix + "/models", GET=self.oai_models)
            r(prefix + "/models/(?P<name>.+)", GET=self.oai_model)
            r(prefix + "/chat/completions", POST=self.oai_chat)
            r(prefix + "/(?:completions|embeddings)", POST=self.not_implemented)
        r("/api/tags", GET=self.api_tags)
        for p in ("/api/show", "/api/chat", "/api/generate", "/api/embeddings"):
            r(p, POST=self.not_implemented)
        r("/models/load", POST=self.load_model)
        r("/models/(?P<name>.+)/tag", POST=self.tag_model)

    def startup_lines(self, url: str) -> list[str]:
        return [
            f'time={rfc3339(time.time_ns())} level=info msg="Listening on '
            f'{url.rsplit(":", 1)[1]}" component=model-runner'
        ]

    # --- Go net/http texts; errors are plain text (§2.1)
    def not_found(self, h: Handler, req: Request) -> None:
        h.go_error(404, "404 page not found")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.go_error(405, "Method Not Allowed")

    def bad_request(self, h: Handler, msg: str) -> None:
        h.go_error(400, msg)

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.go_error(status, msg)

    def not_implemented(self, h: Handler, req: Request, **_: Any) -> None:
        h.go_error(501, f"llmfake: {req.method} {req.path} is not implemented")

    # --- storage: <data-dir>/models.json index + <data-dir>/blobs/sha256/<hex>
    def load_index(self) -> list[dict]:
        try:
            with open(self.index_path) as f:
                return json.load(f).get("index", [])
        except (OSError, ValueError):
            return []

    def save_index(self, idx: list[dict]) -> None:
        os.makedirs(self.root, exist_ok=True)
        tmp = self.index_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"index": idx}, f)
        os.replace(tmp, self.index_path)

    def find(self, ref: str, partial: bool = False) -> dict | None:
        norm = dmr_normalize(ref)
        if norm is None:
            return None
        idx = self.load_index()
        for m in idx:
            if norm.startswith("sha256:"):
                if m["id"] == norm or m["id"].startswith(norm):
                    return m
            elif norm in m.get("tags", []):
                return m
        if partial:  # §2.2: "smollm2" finds "ai/smollm2:latest"
            bare = ref.strip().lower()
            for m in idx:
                for t in m.get("tags", []):
                    if bare in t.lower():
                        return m
        return None

    @staticmethod
    def layers(spec: dict) -> list[Layer]:
        art = spec["artifact"]
        raw = [
            ("application/vnd.docker.ai.gguf.v3", blob_content("GGUF " + art, spec["size"])),
            ("application/vnd.docker.ai.license", blob_content("LICENSE " + art, 1100)),
        ]
        return [Layer(mt, d, sha256_hex(d)) for mt, d in raw]

    @staticmethod
    def config(spec: dict, total: int) -> dict:
        return {
            "format": "gguf",
            "quantization": spec["quant"],
            "parameters": spec["params"],
            "architecture": spec["arch"],
            "size": human_bytes(total),
            "context_size": spec["ctx"],
        }

    def pull_lines(self, norm: str, spec: dict):
        layers = self.layers(spec)
        total = sum(len(x.data) for x in layers)
        model_id = "sha256:" + sha256_hex(("|".join(x.hex for x in layers)).encode())
        control = spec.get("control")

        def msg(typ: str, message: str, lid: str | None = None, size: int = 0, cur: int = 0) -> str:
            layer: dict[str, Any] = {"size": size, "current": cur}
            if lid:
                layer = {"id": lid, **layer}
            return dumps(
                {"type": typ, "message": message, "total": total, "layer": layer, "mode": "pull"}
            )

        with self.lock:
            idx = self.load_index()
            existing = next((m for m in idx if m["id"] == model_id), None)
            if existing:
                if norm not in existing["tags"]:
                    existing["tags"].append(norm)
                    self.save_index(idx)
                yield msg("success", f"Using cached model: {human_bytes(total)}")
                return
        nlines = max(1, self.opts["progress_lines"])
        delay = self.opts["pull_delay"]
        bdir = os.path.join(self.root, "blobs", "sha256")
        os.makedirs(bdir, exist_ok=True)
        downloaded = 0
        for li, layer in enumerate(layers):
            size = len(layer.data)
            for i in range(nlines):
                if control and control != "nosuccess" and li == 0 and i == max(1, nlines // 2):
                    if control == "error":
                        yield dumps(
                            {
                                "type": "error",
                                "message": "Error: unexpected EOF while reading layer",
                            }
                        )
                        return
                    yield ("control", control)
                    return
                cur = size * (i + 1) // nlines
                yield msg(
                    "progress",
                    f"Downloaded: {(downloaded + cur) / 1e6:.2f} MB",
                    layer.digest,
                    size,
                    cur,
                )
                if delay:
                    self.stop_event.wait(delay)
            downloaded += size
            with open(os.path.join(bdir, layer.hex), "wb") as f:
                f.write(layer.data)
        if control == "nosuccess":
            return
        with self.lock:
            idx = self.load_index()
            for m in idx:  # a tag moves to the new model
                if norm in m["tags"]:
                    m["tags"].remove(norm)
            idx.append(
                {
                    "id": model_id,
                    "tags": [norm],
                    "created": int(time.time()),
                    "files": [x.digest for x in layers],
                    "config": self.config(spec, total),
                    "mode": spec.get("mode"),
                }
            )
            self.save_index(idx)
        yield msg("success", "Model pulled successfully")

    # --- routes
    def root_text(self, h: Handler, req: Request) -> None:
        h.send_text(200, "Docker Model Runner is running")

    @staticmethod
    def model_obj(m: dict) -> dict:
        o: dict[str, Any] = {"id": m["id"]}
        if m.get("tags"):  # omitempty
            o["tags"] = m["tags"]
        o.update(created=m["created"], config=m["config"])
        return o

    def list_models(self, h: Handler, req: Request) -> None:
        # §2.2: a bare array, [] when empty
        h.send_json(200, [self.model_obj(m) for m in self.load_index()], "application/json")

    def get_model(self, h: Handler, req: Request, name: str) -> None:
        if req.query.get("remote", [""])[0] == "true":
            norm = dmr_normalize(name)
            spec = self.catalogue.get(norm or "")
            if not spec:
                h.go_error(404, "Model not found")
                return
            layers = self.layers(spec)
            total = sum(len(x.data) for x in layers)
            mid = "sha256:" + sha256_hex(("|".join(x.hex for x in layers)).encode())
            h.send_json(
                200,
                {"id": mid, "tags": [norm], "created": 0, "config": self.config(spec, total)},
                "application/json",
            )
            return
        m = self.find(name, partial=True)
        if not m:
            h.go_error(404, "model not found")
            return
        h.send_json(200, self.model_obj(m), "application/json")

    def create(self, h: Handler, req: Request) -> None:
        try:
            body = req.json()
        except BadRequest:
            h.go_error(400, "Invalid request body")
            return
        norm = dmr_normalize(body.get("from") if isinstance(body, dict) else None)
        if norm is None:
            h.go_error(400, "Invalid model reference")
            return
        spec = self.catalogue.get(norm)
        if spec is None:  # before anything is streamed: plain-text status (§2.3)
            h.go_error(404, "Model not found")
            return
        # §2.3: raw JSON only with "Accept: application/json" exactly
        raw_json = req.headers.get("Accept") == "application/json"
        s = h.stream(
            200,
            "application/json" if raw_json else "text/plain",
            flush_each=bool(self.opts["pull_delay"]),
        )
        for line in self.pull_lines(norm, spec):
            if isinstance(line, tuple):
                s.flush()
                if line[1] == "stall":
                    self.stop_event.wait()
                    h.close_connection = True
                else:
                    s.abort()
                return
            s.write((line if raw_json else go_html_escape(line)) + "\n")
        s.close()

    def delete_model(self, h: Handler, req: Request, name: str) -> None:
        with self.lock:
            m = self.find(name)
            if not m:
                h.go_error(404, "model not found")
                return
            norm = dmr_normalize(name) or ""
            force = req.query.get("force", [""])[0] == "true"
            if len(m.get("tags", [])) > 1 and not force:
                if norm.startswith("sha256:"):  # docker-rmi semantics (not in the reference)
                    h.go_error(
                        409,
                        f"unable to delete {name!r} (must be forced) due to "
                        "multiple tag references",
                    )
                    return
                idx = self.load_index()
                for x in idx:
                    if x["id"] == m["id"]:
                        x["tags"].remove(norm)
                self.save_index(idx)
                self.running.pop(norm, None)
                h.send_json(200, [{"Untagged": norm}], "application/json")
                return
            idx = [x for x in self.load_index() if x["id"] != m["id"]]
            self.save_index(idx)
            bdir = os.path.join(self.root, "blobs", "sha256")
            for d in m.get("files", []):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(bdir, d[7:]))
            for t in m.get("tags", []):
                self.running.pop(t, None)
        # capitalized keys (§2.1 DeleteModelAction)
        out = [{"Untagged": t} for t in m.get("tags", [])] + [{"Deleted": m["id"]}]
        h.send_json(200, out, "application/json")

    # --- `docker model package` loads here (cmd/cli/desktop LoadModel, Tag)
    def streams_body(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/models/load"

    def load_model(self, h: Handler, req: Request) -> None:
        """``POST /models/load`` with the tar archive the package command streams
        (pkg/distribution/tarball: ``blobs/sha256/<hex>`` for each layer and the config,
        then ``manifest.json``). The model is stored untagged under the id sha256(manifest);
        blobs are checked against their names. A broken stream stores nothing."""
        import io
        import tarfile

        chunks = h.body_chunks()
        delay = self.opts["upload_delay"]

        class Body(io.RawIOBase):
            pending = b""

            def readable(self) -> bool:
                return True

            def readinto(self, b: Any) -> int:
                while not self.pending:
                    try:
                        self.pending = next(chunks)
                    except StopIteration:
                        return 0
                    if delay:
                        app.stop_event.wait(delay)
                n = min(len(b), len(self.pending))
                b[:n] = self.pending[:n]
                self.pending = self.pending[n:]
                return n

        app = self
        bdir = os.path.join(self.root, "blobs", "sha256")
        os.makedirs(bdir, exist_ok=True)
        written: list[str] = []
        manifest_raw = b""
        try:
            with tarfile.open(fileobj=io.BufferedReader(Body(), 1 << 20), mode="r|") as tf:
                for member in tf:
                    if not member.isfile():
                        continue
                    src = tf.extractfile(member)
                    assert src is not None
                    if member.name == "manifest.json":
                        manifest_raw = src.read()
                        continue
                    hexd = member.name.rsplit("/", 1)[-1]
                    if not re.fullmatch(r"[0-9a-f]{64}", hexd):
                        raise ValueError(f"unexpected archive entry {member.name!r}")
                    fd, tmp = tempfile.mkstemp(prefix=".load-", dir=bdir)
                    hasher = hashlib.sha256()
                    with os.fdopen(fd, "wb") as out:
                        while piece := src.read(1 << 20):
                            hasher.update(piece)
                            out.write(piece)
                    if hasher.hexdigest() != hexd:
                        os.remove(tmp)
                        raise ValueError(f"blob {hexd[:12]} does not match its digest")
                    os.replace(tmp, os.path.join(bdir, hexd))
                    written.append(hexd)
        except (OSError, ValueError, EOFError, tarfile.TarError) as e:
            for name in os.listdir(bdir):
                if name.startswith(".load-"):
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(bdir, name))
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.go_error(400, f"invalid model archive: {e}")
            return
        try:
            man = json.loads(manifest_raw)
            with open(os.path.join(bdir, man["config"]["digest"][7:]), "rb") as f:
                cfg = json.load(f).get("config", {})
        except (OSError, ValueError, KeyError, TypeError):
            h.go_error(400, "invalid model archive: no manifest.json or config")
            return
        model_id = "sha256:" + sha256_hex(manifest_raw)
        with self.lock:
            idx = self.load_index()
            if not any(m["id"] == model_id for m in idx):
                idx.append({
                    "id": model_id,
                    "tags": [],
                    "created": int(time.time()),
                    "files": [x["digest"] for x in man.get("layers", [])]
                    + [man["config"]["digest"]],
                    "config": {k: cfg[k] for k in ("format", "quantization", "parameters",
                                                   "architecture", "size", "context_size")
                               if k in cfg},
                })
                self.save_index(idx)
        h.send_json(200, {"id": model_id}, "application/json")

    def tag_model(self, h: Handler, req: Request, name: str) -> None:
        """``POST /models/{name}/tag?repo=R&tag=T`` -> 201 {"message","target"} (§2.1)."""
        repo = (req.query.get("repo") or [""])[0]
        tag = (req.query.get("tag") or ["latest"])[0] or "latest"
        target = dmr_normalize(f"{repo}:{tag}") if repo else None
        if target is None:
            h.go_error(400, "invalid tag")
            return
        with self.lock:
            m = self.find(name)
            if not m:
                h.go_error(404, "model not found")
                return
            idx = self.load_index()
            for x in idx:  # a tag moves to the model it now names
                if target in x["tags"]:
                    x["tags"].remove(target)
                if x["id"] == m["id"]:
                    x["tags"].append(target)
            self.save_index(idx)
        h.send_json(201, {"message": "Model tagged successfully", "target": target},
                    "application/json")

    def engines_status(self, h: Handler, req: Request) -> None:
        h.send_json(
            200,
            {
                "llama.cpp": "Running: llama.cpp latest-cpu (sha256:"
                + sha256_hex(b"llama.cpp")[:12]
                + ") b6000",
                "vllm": "Not Installed",
                "sglang": "Not Installed",
                "mlx": "Not Installed",
                "diffusers": "Not Installed",
            },
            "application/json",
        )

    def engines_ps(self, h: Handler, req: Request) -> None:
        with self.lock:
            h.send_json(200, list(self.running.values()), "application/json")

    def engines_df(self, h: Handler, req: Request) -> None:
        total = 0
        bdir = os.path.join(self.root, "blobs", "sha256")
        for f in os.listdir(bdir) if os.path.isdir(bdir) else []:
            total += os.path.getsize(os.path.join(bdir, f))
        h.send_json(
            200, {"models_disk_usage": total, "default_backend_disk_usage": 0}, "application/json"
        )

    def engines_unload(self, h: Handler, req: Request) -> None:
        body = req.json() if req.body.strip() else {}
        with self.lock:
            if body.get("all"):
                n = len(self.running)
                self.running.clear()
            else:
                names = [dmr_normalize(x) for x in body.get("models") or []]
                n = sum(1 for x in names if self.running.pop(x or "", None))
        h.send_json(200, {"unloaded_runners": n}, "application/json")

    def check_backend(self, h: Handler, backend: str | None) -> bool:
        if backend is None or backend == "llama.cpp":
            return True
        if backend in DMR_BACKENDS:
            h.go_error(
                412,
                f'backend "{backend}" is not installed; run: docker model '
                f"install-runner --backend {backend}",
            )
        else:
            h.go_error(404, "backend not found")
        return False

    def oai_entry(self, m: dict) -> dict:
        tags = m.get("tags") or []
        c = m.get("config")
        o: dict[str, Any] = {
            "id": tags[0] if tags else m["id"],
            "object": "model",
            "created": m["created"],
            "owned_by": "docker",
        }
        if c:
            o["dmr"] = {
                "context_window": c.get("context_size"),
                "architecture": c.get("architecture"),
                "parameters": c.get("parameters"),
                "quantization": c.get("quantization"),
                "size": c.get("size"),
            }
        return o

    def oai_models(self, h: Handler, req: Request, backend: str | None = None) -> None:
        if backend is not None and backend not in DMR_BACKENDS:
            h.go_error(404, "backend not found")
            return
        # data is never null here (§2.2 ToOpenAIList)
        self.openai_model_list(h, [self.oai_entry(m) for m in self.load_index()])

    def oai_model(self, h: Handler, req: Request, name: str, backend: str | None = None) -> None:
        m = self.find(name)
        if not m:
            h.go_error(404, "model not found")
            return
        h.send_json(200, self.oai_entry(m), "application/json")

    def oai_chat(self, h: Handler, req: Request, backend: str | None = None) -> None:
        if not self.check_backend(h, backend):
            return
        try:
            body = req.json()
        except BadRequest:
            h.go_error(400, "invalid request body")
            return
        if not body.get("model"):
            h.go_error(400, "model is required")
            return
        m = self.find(body["model"])
        if not m:
            h.go_error(404, f"model not found: {body['model']}")
            return
        tag = (m.get("tags") or [m["id"]])[0]
        with self.lock:
            self.running[tag] = {
                "backend_name": "llama.cpp",
                "model_name": tag,
                "mode": m.get("mode") or "completion",
                "last_used": rfc3339(time.time_ns()),
            }
        self.openai_chat(h, body, body["model"])

    def api_tags(self, h: Handler, req: Request) -> None:
        out = []
        for m in self.load_index():
            name = (m.get("tags") or [m["id"]])[0]
            c = m.get("config") or {}
            out.append(
                {
                    "name": name,
                    "model": name,
                    "modified_at": rfc3339(m["created"] * 10**9),
                    "size": sum(
                        os.path.getsize(os.path.join(self.root, "blobs", "sha256", d[7:]))
                        for d in m.get("files", [])
                        if os.path.exists(os.path.join(self.root, "blobs", "sha256", d[7:]))
                    ),
                    "digest": m["id"][7:],
                    "details": {
                        "format": "gguf",
                        "family": c.get("architecture", ""),
                        "parameter_size": c.get("parameters", ""),
                        "quantization_level": c.get("quantization", ""),
                    },
                }
            )
        h.send_json(200, {"models": out})


# ------------------------------------------------------------------------------------------
# vLLM (§3)


class VllmApp(App):
    kind = "vllm"
    server_header = "uvicorn"
    refuse_while_loading = True

    def setup(self) -> None:
        self.created = int(time.time())
        r = self.route
        r("/health", GET=self.health)
        r("/ping", GET=self.health, POST=self.health)
        r(
            "/version",
            GET=lambda h, req: h.send_json(
                200, {"version": self.opts["version"]}, "application/json"
            ),
        )
        r("/load", GET=lambda h, req: h.send_json(200, {"server_load": 0}, "application/json"))
        r("/metrics", GET=lambda h, req: h.send_text(200, "# llmfake\nvllm:num_requests 0\n"))
        r("/v1/models", GET=self.models)
        r("/v1/chat/completions", POST=self.chat)
        r("/v1/(?:completions|embeddings|responses)", POST=self.not_implemented)

    @property
    def served(self) -> str:
        return self.opts["served_model_name"] or self.opts["model"]

    def startup_lines(self, url: str) -> list[str]:
        return [
            "INFO:     Started server process [1]",
            "INFO:     Waiting for application startup.",
            "INFO:     Application startup complete.",
            f"INFO:     Uvicorn running on {url} (Press CTRL+C to quit)",
        ]

    def loading_lines(self) -> list[str]:
        return [
            f"INFO llmfake vllm: non-default args: {{'model': '{self.opts['model']}'}}",
            "INFO llmfake vllm: Loading model weights took 0.00 GB",
        ]

    def before(self, h: Handler, req: Request) -> bool:
        key = self.opts["api_key"]
        auth = req.headers.get("Authorization", "")
        if key and req.path.startswith("/v1") and auth != f"Bearer {key}":
            h.send_json(401, {"error": "Unauthorized"}, "application/json")  # §3
            return True
        return False

    def not_found(self, h: Handler, req: Request) -> None:
        h.send_json(404, {"detail": "Not Found"}, "application/json")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.send_json(405, {"detail": "Method Not Allowed"}, "application/json")

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        # `code` is an int here (§3 ErrorInfo)
        h.send_json(
            status,
            {"error": {"message": msg, "type": etype, "param": None, "code": status}},
            "application/json",
        )

    def health(self, h: Handler, req: Request) -> None:
        h.send(503 if self.opts["unhealthy"] else 200, b"")  # empty body either way

    def models(self, h: Handler, req: Request) -> None:
        card = {
            "id": self.served,
            "object": "model",
            "created": self.created,
            "owned_by": "vllm",
            "root": self.opts["model"],
            "parent": None,
            "max_model_len": self.opts["max_model_len"],
            "permission": [
                {
                    "id": "modelperm-" + uuid.uuid4().hex,
                    "object": "model_permission",
                    "created": self.created,
                    "allow_create_engine": False,
                    "allow_sampling": True,
                    "allow_logprobs": True,
                    "allow_search_indices": False,
                    "allow_view": True,
                    "allow_fine_tuning": False,
                    "organization": "*",
                    "group": None,
                    "is_blocking": False,
                }
            ],
        }
        self.openai_model_list(h, [card])

    def chat(self, h: Handler, req: Request) -> None:
        try:
            body = req.json()
        except BadRequest as e:
            self.oai_error(h, 400, str(e), "BadRequestError")
            return
        model = body.get("model") or self.served
        if model != self.served:
            self.oai_error(h, 404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        self.openai_chat(h, body, model)


# ------------------------------------------------------------------------------------------
# llama.cpp server (§6)

LLAMACPP_LOADING_HTML = (
    '<!DOCTYPE html><html><head><meta http-equiv="refresh" content="5"></head>'
    '<body><div id="loading">The model is loading. Please wait.<br/>'
    "The user interface will appear soon.</div></body></html>"
)


class LlamaCppApp(App):
    kind = "llamacpp"
    server_header = "llama.cpp"
    sse_ctype = "text/event-stream"

    def setup(self) -> None:
        self.created = int(time.time())
        self.fingerprint = f"{self.opts['version']}-llmfake"
        r = self.route
        r("/", GET=self.index)
        r("/(?:v1/)?health", GET=self.health)
        r("/(?:v1/)?models", GET=self.models)
        r("/api/tags", GET=self.models)
        r("/props", GET=self.props, POST=self.not_implemented)
        r(
            "/metrics",
            GET=lambda h, req: self.oai_error(
                h,
                501,
                "This server does not support metrics endpoint. Start it with `--metrics`",
                "not_supported_error",
            ),
        )
        r("/(?:v1/)?chat/completions", POST=self.chat)
        r(
            "/(?:v1/)?(?:completions|embeddings)|/completion|/tokenize|/detokenize",
            POST=self.not_implemented,
        )

    @property
    def model_id(self) -> str:
        return self.opts["alias"] or self.opts["model"]

    def startup_lines(self, url: str) -> list[str]:
        return [
            f"main: server is listening on {url} - starting the main loop",
            "srv  update_slots: all slots are idle",
        ]

    def loading_lines(self) -> list[str]:
        return [f"llama_model_loader: loaded meta data from {self.opts['model']}"]

    PUBLIC = ("/health", "/v1/health", "/models", "/v1/models", "/api/tags")

    def before(self, h: Handler, req: Request) -> bool:
        if self.loading and req.path not in ("/models", "/v1/models", "/api/tags"):
            if req.path == "/":
                h.send(503, LLAMACPP_LOADING_HTML, "text/html; charset=utf-8")
            else:  # §6: every other route answers the same 503 while loading
                self.oai_error(h, 503, "Loading model", "unavailable_error")
            return True
        key = self.opts["api_key"]
        auth = req.headers.get("Authorization", "")
        if key and req.path not in self.PUBLIC and auth != f"Bearer {key}":
            self.oai_error(h, 401, "Invalid API Key", "authentication_error")
            return True
        return False

    def not_found(self, h: Handler, req: Request) -> None:
        self.oai_error(h, 404, "File Not Found", "not_found_error")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        self.oai_error(h, 405, "Method Not Allowed", "invalid_request_error")

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.send_json(
            status,
            {"error": {"code": status, "message": msg, "type": etype}},
            "application/json; charset=utf-8",
        )

    def index(self, h: Handler, req: Request) -> None:
        h.send(
            200,
            "<!DOCTYPE html><html><head><title>llama.cpp - chat</title></head>"
            '<body><div id="app"></div></body></html>',
            "text/html; charset=utf-8",
        )

    def health(self, h: Handler, req: Request) -> None:
        if self.opts["unhealthy"]:
            self.oai_error(h, 503, "Loading model", "unavailable_error")
            return
        h.send_json(200, {"status": "ok"}, "application/json; charset=utf-8")

    def models(self, h: Handler, req: Request) -> None:
        mid = self.model_id
        meta = (
            None
            if self.loading
            else {  # meta is null while loading (§6)
                "vocab_type": 2,
                "n_vocab": 32000,
                "n_ctx_train": self.opts["max_model_len"],
                "n_embd": 2048,
                "n_params": 1100048384,
                "size": 667815936,
            }
        )
        h.send_json(
            200,
            {
                # newer builds add this Ollama-style array with dummy *string* values (§6)
                "models": [
                    {
                        "name": mid,
                        "model": mid,
                        "modified_at": "",
                        "size": "",
                        "digest": "",
                        "type": "model",
                        "description": "",
                        "tags": [""],
                        "capabilities": ["completion"],
                        "parameters": "",
                        "details": {
                            "parent_model": "",
                            "format": "gguf",
                            "family": "",
                            "families": [""],
                            "parameter_size": "",
                            "quantization_level": "",
                        },
                    }
                ],
                "object": "list",
                "data": [
                    {
                        "id": mid,
                        "object": "model",
                        "created": self.created,
                        "owned_by": "llamacpp",
                        "meta": meta,
                    }
                ],
            },
            "application/json; charset=utf-8",
        )

    def props(self, h: Handler, req: Request) -> None:
        h.send_json(
            200,
            {
                "default_generation_settings": {
                    "n_ctx": self.opts["max_model_len"],
                    "params": {"temperature": 0.8, "top_k": 40},
                },
                "total_slots": 1,
                "model_path": self.opts["model"],
                "chat_template": "{{ messages }}",
                "modalities": {"vision": False},
                "build_info": f"{self.opts['version']}-llmfake",
            },
        )

    def chat_extra(self, prompt_tokens: int, completion_tokens: int) -> dict:
        return {
            "timings": {
                "prompt_n": prompt_tokens,
                "prompt_ms": 1.0,
                "predicted_n": completion_tokens,
                "predicted_ms": 2.0,
            }
        }

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        # the single loaded model answers whatever `model` says
        self.openai_chat(h, body, body.get("model") or self.model_id)


# ------------------------------------------------------------------------------------------
# TGI (§4)


class TgiApp(App):
    kind = "tgi"
    refuse_while_loading = True

    def setup(self) -> None:
        self.fingerprint = f"{self.opts['version']}-sha-llmfake"
        r = self.route
        r("/(?:health|ping)", GET=self.health)
        r("/info", GET=self.info)
        r("/v1/models", GET=self.models)
        r("/v1/chat/completions", POST=self.chat)
        r("/generate", POST=self.generate)
        r(
            "/|/v1/completions|/generate_stream|/tokenize|/invocations|/vertex",
            POST=self.not_implemented,
        )
        r("/metrics", GET=lambda h, req: h.send_text(200, "tgi_request_count 0\n"))

    def startup_lines(self, url: str) -> list[str]:
        return [
            f'INFO text_generation_router::server: Serving revision for "{self.opts["model"]}"',
            "INFO text_generation_router::server: Connected",
        ]

    def loading_lines(self) -> list[str]:
        return [f"INFO text_generation_launcher: Starting shard rank=0 model={self.opts['model']}"]

    def not_found(self, h: Handler, req: Request) -> None:
        h.send(404, b"")

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.send(405, b"")

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.send_json(status, {"error": msg, "error_type": etype}, "application/json")

    def bad_request(self, h: Handler, msg: str) -> None:
        self.oai_error(h, 422, msg, "validation")

    def health(self, h: Handler, req: Request) -> None:
        if self.opts["unhealthy"]:
            h.send_json(
                503, {"error": "unhealthy", "error_type": "healthcheck"}, "application/json"
            )
            return
        h.send(200, b"")

    def info(self, h: Handler, req: Request) -> None:
        ctx = self.opts["max_model_len"]
        h.send_json(
            200,
            {
                "model_id": self.opts["model"],
                "model_sha": None,
                "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": 128,
                "max_best_of": 2,
                "max_stop_sequences": 4,
                "max_input_tokens": ctx - 1,
                "max_total_tokens": ctx,
                "validation_workers": 2,
                "max_client_batch_size": 4,
                "router": "text-generation-router",
                "version": self.opts["version"],
                "sha": "llmfake",
                "docker_label": "sha-llmfake",
            },
            "application/json",
        )

    def models(self, h: Handler, req: Request) -> None:
        mid = self.opts["model"]
        self.openai_model_list(
            h, [{"id": mid, "object": "model", "created": 0, "owned_by": mid}]
        )  # owned_by = model_id (§4)

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        self.openai_chat(h, body, self.opts["model"])

    def generate(self, h: Handler, req: Request) -> None:
        req.json()
        h.send_json(200, {"generated_text": self.opts["reply"]}, "application/json")


# ------------------------------------------------------------------------------------------
# LocalAI (§5)


class LocalAIApp(App):
    kind = "localai"

    def setup(self) -> None:
        r = self.route
        r(
            "/",
            GET=lambda h, req: h.send(
                200,
                "<!DOCTYPE html><html><head><title>LocalAI"
                "</title></head><body>LocalAI</body></html>",
                "text/html; charset=utf-8",
            ),
        )
        r("/healthz", GET=lambda h, req: h.send(200, b""))  # liveness: always 200
        r("/readyz", GET=self.readyz)
        r("/version", GET=lambda h, req: h.send_json(200, {"version": self.opts["version"]}))
        r("/(?:v1/)?models", GET=self.models)
        r("/(?:v1/)?chat/completions", POST=self.chat)
        r("/(?:v1/)?(?:completions|embeddings)", POST=self.not_implemented)

    def startup_lines(self, url: str) -> list[str]:
        return [
            f"INF LocalAI API is listening! Please connect to the endpoint for API "
            f"documentation. endpoint={url}"
        ]

    def served_ids(self) -> list[str]:
        ids = [self.opts["model"]] if self.opts["model"] else []
        return ids + [m for m in self.opts["models"] if m not in ids]

    def not_found(self, h: Handler, req: Request) -> None:
        h.send_json(404, {"message": "Not Found"})

    def method_not_allowed(self, h: Handler, req: Request) -> None:
        h.send_json(405, {"message": "Method Not Allowed"})

    def oai_error(self, h: Handler, status: int, msg: str, etype: str) -> None:
        h.send_json(status, {"error": {"code": status, "message": msg, "type": etype}})

    def readyz(self, h: Handler, req: Request) -> None:
        if self.loading or self.opts["unhealthy"]:
            h.send_json(503, {"status": "starting", "reason": "startup preload in progress"})
            return
        h.send(200, b"")

    def models(self, h: Handler, req: Request) -> None:
        ids = self.served_ids()
        flt = req.query.get("filter", [""])[0]
        if flt:
            ids = [i for i in ids if re.search(flt, i)]
        # no created / owned_by (§5)
        self.openai_model_list(h, [{"id": i, "object": "model"} for i in ids])

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        model = body.get("model")
        if model not in self.served_ids():
            self.oai_error(h, 404, f"could not load model: model {model!r} not found", "")
            return
        self.openai_chat(h, body, model)


# ------------------------------------------------------------------------------------------
# generic OpenAI-compatible server


class OpenAIApp(App):
    kind = "openai"
    fingerprint = "fp_llmfake"

    def setup(self) -> None:
        self.created = int(time.time())
        r = self.route
        r("/health", GET=lambda h, req: h.send_json(200, {"status": "ok"}, "application/json"))
        r("/v1/models", GET=self.models)
        r("/v1/models/(?P<model>.+)", GET=self.model)
        r("/v1/chat/completions", POST=self.chat)

    def served_ids(self) -> list[str]:
        ids = [self.opts["model"]] if self.opts["model"] else []
        return ids + [m for m in self.opts["models"] if m not in ids]

    def before(self, h: Handler, req: Request) -> bool:
        key = self.opts["api_key"]
        auth = req.headers.get("Authorization", "")
        if key and req.path.startswith("/v1") and auth != f"Bearer {key}":
            h.send_json(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                "application/json",
            )
            return True
        return False

    def entry(self, mid: str) -> dict:
        return {"id": mid, "object": "model", "created": self.created, "owned_by": "openai"}

    def models(self, h: Handler, req: Request) -> None:
        self.openai_model_list(h, [self.entry(i) for i in self.served_ids()])

    def model(self, h: Handler, req: Request, model: str) -> None:
        if model not in self.served_ids():
            self.oai_error(h, 404, f"The model '{model}' does not exist", "invalid_request_error")
            return
        h.send_json(200, self.entry(model), "application/json")

    def chat(self, h: Handler, req: Request) -> None:
        body = req.json()
        model = body.get("model")
        if model not in self.served_ids():
            self.oai_error(h, 404, f"The model '{model}' does not exist", "invalid_request_error")
            return
        self.openai_chat(h, body, model)


APPS: dict[str, type[App]] = {
    "ollama": OllamaApp,
    "model-runner": ModelRunnerApp,
    "vllm": VllmApp,
    "llamacpp": LlamaCppApp,
    "tgi": TgiApp,
    "localai": LocalAIApp,
    "openai": OpenAIApp,
}


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
        if getattr(app, "refuse_while_loading", False) and app.opts["load_seconds"] > 0:
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
    if opts["kind"] in SCRIPT_DATA_DIRS and not opts["data_dir"]:
        if in_process:
            tmpdir = opts["data_dir"] = tempfile.mkdtemp(prefix=f"llmfake-{opts['kind']}-")
        else:
            opts["data_dir"] = SCRIPT_DATA_DIRS[opts["kind"]]
    app = APPS[opts["kind"]](opts)
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
    if not (getattr(handle.app, "refuse_while_loading", False) and opts["load_seconds"] > 0):
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
