"""What every fake server shares: small helpers in the real servers' formats, the request,
the model layers and test-control models of the two model stores, and ``App``, the base of
each kind: its defaults, routing, the error envelopes each kind overrides and the OpenAI chat
completions every kind serves (reference/server-apis.md §1.10).

Section numbers in comments ("§1.6") point into reference/server-apis.md (the project's
docs copy of it). Standard library only: this runs inside a bare Debian image.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

if TYPE_CHECKING:
    from .wire import Handler


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


def revision_seed(seed: str, revision: int) -> str:
    """Layer content of a registry revision: revision 1 is the original bytes."""
    return seed if revision <= 1 else f"{seed}#r{revision}"


def parse_revisions(items: list[str]) -> dict[str, int]:
    """The ``revisions`` option: ``NAME=N`` items (names as given)."""
    out = {}
    for item in items:
        name, _, n = item.rpartition("=")
        if not name or not n.isdigit() or int(n) < 1:
            raise ValueError(f"revisions: {item!r} is not NAME=N (N >= 1)")
        out[name] = int(n)
    return out


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


class Layer(NamedTuple):
    """One blob of a model the fake stores pull (deterministic bytes, so digests are stable)."""

    media_type: str
    data: bytes
    hex: str

    @property
    def digest(self) -> str:
        return "sha256:" + self.hex


# The test-control models both model stores (ollama, model-runner) offer: see the
# "Test-control models" section of llmfake.py's docstring.
CONTROL_MODELS = ("stall", "drop", "nosuccess", "error")


Route = tuple[re.Pattern, dict]


# ------------------------------------------------------------------------------------------
# base application


class App:
    """One fake server: ``opts`` are the resolved options (llmfake.resolve_options); each kind
    sets its defaults below, registers its routes in ``setup`` and overrides the hooks."""

    kind = ""
    default_port = 0
    default_version = ""
    default_model: str | None = None  # the model served when no option names one
    script_data_dir: str | None = None  # storage root when run as a script (model stores)
    native_env: ClassVar[dict[str, str]] = {}  # option -> the real server's env variable
    refuse_while_loading = False  # load_seconds: bound but not listening (vllm, tgi)
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

