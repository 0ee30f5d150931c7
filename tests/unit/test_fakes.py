"""The fake LLM servers answer like the reference says the real ones do (real HTTP)."""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import llmfake
from tests.fakes.llmfake import start_fake
from tests.fakes.servers.model_runner_registry import dmr_normalize
from tests.fakes.servers.ollama_registry import parse_ollama_name

CHAT = {"model": "", "messages": [{"role": "user", "content": "Say hi"}]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


class Resp:
    def __init__(self, status: int, headers: Any, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def ctype(self) -> str:
        return self.headers.get("Content-Type") or ""

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[Any]:
        return [json.loads(x) for x in self.text.splitlines() if x.strip()]


def call(
    handle: Any,
    method: str,
    path: str,
    body: Any = None,
    headers: dict | None = None,
    timeout: float = 5,
) -> Resp:
    conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=timeout)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers=headers or {})
    r = conn.getresponse()
    out = Resp(r.status, r.headers, r.read())
    conn.close()
    return out


def sse(resp: Resp) -> list[Any]:
    events = [x[len("data: ") :] for x in resp.text.split("\n\n") if x.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


@pytest.fixture
def fake() -> Iterator[Any]:
    handles: list[Any] = []

    def make(kind: str, **opts: Any) -> Any:
        h = start_fake(kind, **opts)
        handles.append(h)
        return h

    yield make
    for h in handles:
        h.stop()


# --- Ollama ----------------------------------------------------------------------------


def test_ollama_root_version_empty_lists(fake: Any) -> None:
    h = fake("ollama")
    r = call(h, "GET", "/")
    assert (r.status, r.text) == (200, "Ollama is running")
    assert r.ctype.startswith("text/plain")
    assert call(h, "GET", "/api/version").json() == {"version": "0.17.1"}
    tags = call(h, "GET", "/api/tags")
    assert tags.json() == {"models": []}  # never null
    assert tags.ctype == "application/json; charset=utf-8"
    assert call(h, "GET", "/v1/models").json() == {"object": "list", "data": None}  # null!
    assert call(h, "GET", "/api/ps").json() == {"models": []}
    assert call(h, "HEAD", "/").status == 200


def test_ollama_wrong_method_is_405_unknown_path_404(fake: Any) -> None:
    h = fake("ollama")
    assert call(h, "GET", "/api/pull").status == 405
    assert call(h, "POST", "/api/tags").status == 405
    assert call(h, "GET", "/api/nothing").status == 404


def test_ollama_host_header_check_on_loopback(fake: Any) -> None:
    h = fake("ollama")
    assert call(h, "GET", "/", headers={"Host": "evil.example.com"}).status == 403
    assert call(h, "GET", "/", headers={"Host": "box.internal:11434"}).status == 200


def test_ollama_pull_stream_shape(fake: Any) -> None:
    h = fake("ollama", progress_lines=6)
    r = call(h, "POST", "/api/pull", {"model": "tinyllama"})
    assert r.status == 200 and r.ctype == "application/x-ndjson"
    lines = r.lines()
    assert lines[0] == {"status": "pulling manifest"}
    assert [x["status"] for x in lines[-3:]] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    layer = [x for x in lines if x["status"].startswith("pulling ") and "digest" in x]
    assert len(layer) == 5 * 6  # 4 layers + config, 6 lines each
    first = layer[0]
    assert first["status"] == "pulling " + first["digest"][7:19]
    assert "completed" not in first  # omitempty while 0
    assert layer[5]["completed"] == layer[5]["total"]
    assert any(a == b for a, b in itertools.pairwise(layer))  # repeated identical lines


def test_ollama_pull_errors(fake: Any) -> None:
    h = fake("ollama")
    r = call(h, "POST", "/api/pull", {"model": "no-such-model"})
    assert r.status == 200
    assert r.lines() == [
        {"status": "pulling manifest"},
        {"error": "pull model manifest: file does not exist"},
    ]
    r = call(h, "POST", "/api/pull", {"model": "bad:"})
    assert (r.status, r.json()) == (400, {"error": "invalid model name"})
    r = call(h, "POST", "/api/pull", {"model": "no-such-model", "stream": False})
    assert (r.status, r.json()) == (500, {"error": "pull model manifest: file does not exist"})
    r = call(h, "POST", "/api/pull", {"name": "smollm2:135m", "stream": False})  # legacy key
    assert (r.status, r.json()) == (200, {"status": "success"})


def test_ollama_pull_persists_and_cache_hit(tmp_path: Path) -> None:
    with start_fake("ollama", data_dir=str(tmp_path)) as h:
        call(h, "POST", "/api/pull", {"model": "qwen2.5:0.5b"})
    manifest = tmp_path / "models/manifests/registry.ollama.ai/library/qwen2.5/0.5b"
    assert manifest.is_file()
    blobs = list((tmp_path / "models/blobs").iterdir())
    assert blobs and all(b.name.startswith("sha256-") and len(b.name) == 71 for b in blobs)
    with start_fake("ollama", data_dir=str(tmp_path)) as h:
        tags = call(h, "GET", "/api/tags").json()["models"]
        assert [m["name"] for m in tags] == ["qwen2.5:0.5b"]
        assert len(tags[0]["digest"]) == 64 and not tags[0]["digest"].startswith("sha256")
        assert tags[0]["details"]["family"] == "qwen2"
        v1 = call(h, "GET", "/v1/models").json()["data"]
        assert v1[0]["id"] == "qwen2.5:0.5b" and v1[0]["owned_by"] == "library"
        again = call(h, "POST", "/api/pull", {"model": "qwen2.5:0.5b"}).lines()
        layer = [x for x in again if "digest" in x]
        assert len(layer) == 5 and all(x["completed"] == x["total"] for x in layer)


def test_ollama_control_models(fake: Any) -> None:
    h = fake("ollama", progress_lines=4)
    r = call(h, "POST", "/api/pull", {"model": "llmfake/nosuccess"})
    assert r.status == 200 and r.lines()[-1] == {"status": "writing manifest"}
    r = call(h, "POST", "/api/pull", {"model": "llmfake/error"})
    assert r.lines()[-1] == {"error": "max retries exceeded: unexpected EOF"}
    with pytest.raises(http.client.IncompleteRead):
        call(h, "POST", "/api/pull", {"model": "llmfake/drop"})
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=0.5)
    conn.request("POST", "/api/pull", json.dumps({"model": "llmfake/stall"}))
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.readline()) == {"status": "pulling manifest"}
    resp.readline(), resp.readline()  # two progress lines, then silence
    with pytest.raises(TimeoutError):
        resp.readline()
    conn.close()
    assert call(h, "GET", "/api/tags").json() == {"models": []}


def test_ollama_show_chat_delete(fake: Any) -> None:
    h = fake("ollama", pulled="tinyllama,llama3.2,nomic-embed-text")
    show = call(h, "POST", "/api/show", {"model": "llama3.2"}).json()
    assert show["capabilities"] == ["completion", "tools"]
    assert "general.architecture" in show["model_info"]
    r = call(h, "POST", "/api/show", {"model": "ghost"})
    assert (r.status, r.json()) == (404, {"error": "model 'ghost:latest' not found"})

    msgs = {"messages": CHAT["messages"]}
    r = call(h, "POST", "/api/chat", {"model": "tinyllama", **msgs})  # stream by default
    chunks = r.lines()
    assert r.ctype == "application/x-ndjson" and len(chunks) > 2
    assert chunks[0]["done"] is False and chunks[0]["message"]["role"] == "assistant"
    last = chunks[-1]
    assert last["done"] is True and last["done_reason"] == "stop"
    assert last["message"]["content"] == "" and last["eval_count"] > 0
    assert last["total_duration"] >= last["eval_duration"] > 1000  # nanoseconds

    one = call(h, "POST", "/api/chat", {"model": "tinyllama", "stream": False, **msgs}).json()
    assert one["done"] is True and one["message"]["content"]

    body = {"model": "llama3.2", "stream": False, "tools": TOOLS, **msgs}
    call_ = call(h, "POST", "/api/chat", body).json()["message"]["tool_calls"][0]
    assert call_["function"]["name"] == "get_weather"
    assert isinstance(call_["function"]["arguments"], dict)  # object, not a string

    r = call(h, "POST", "/api/chat", {"model": "tinyllama", "tools": TOOLS, **msgs})
    assert (r.status, r.json()["error"]) == (
        400,
        "registry.ollama.ai/library/tinyllama:latest does not support tools",
    )
    r = call(h, "POST", "/api/chat", {"model": "qwen9", **msgs})
    assert (r.status, r.json()) == (404, {"error": "model 'qwen9' not found"})
    r = call(h, "POST", "/api/chat", {"model": "nomic-embed-text", **msgs})
    assert r.status == 400 and "does not support chat" in r.json()["error"]
    ps = call(h, "GET", "/api/ps").json()["models"]
    assert {m["name"] for m in ps} == {"tinyllama:latest", "llama3.2:latest"}

    r = call(h, "DELETE", "/api/delete", {"model": "tinyllama"})
    assert (r.status, r.body) == (200, b"")
    r = call(h, "DELETE", "/api/delete", {"model": "tinyllama"})
    assert (r.status, r.json()) == (404, {"error": "model 'tinyllama' not found"})
    assert call(h, "DELETE", "/api/delete").json() == {"error": "missing request body"}


def test_ollama_openai_chat(fake: Any) -> None:
    h = fake("ollama", pulled="llama3.2")
    body = dict(CHAT, model="llama3.2", stream=True, stream_options={"include_usage": True})
    r = call(h, "POST", "/v1/chat/completions", body)
    assert r.ctype.startswith("text/event-stream")
    chunks = sse(r)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"

    body = dict(CHAT, model="llama3.2", tools=TOOLS)
    out = call(h, "POST", "/v1/chat/completions", body).json()
    assert out["system_fingerprint"] == "fp_ollama" and out["usage"]["prompt_tokens"] > 0
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    tc = choice["message"]["tool_calls"][0]
    assert tc["type"] == "function" and json.loads(tc["function"]["arguments"]) == {
        "city": "Tokyo"
    }  # JSON string here
    r = call(h, "POST", "/v1/chat/completions", dict(CHAT, model="ghost"))
    err = r.json()["error"]
    assert r.status == 404 and err["type"] == "not_found_error" and err["param"] is None


def test_pull_benchmark_lines_are_cheap(fake: Any) -> None:
    h = fake("ollama", progress_lines=40_000)
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
    conn.request("POST", "/api/pull", json.dumps({"model": "tinyllama"}))
    n = sum(1 for _ in conn.getresponse())
    conn.close()
    assert n == 200_004
    assert time.monotonic() - start < 5


# --- Docker Model Runner ----------------------------------------------------------------


def test_dmr_basics_and_plain_text_errors(fake: Any) -> None:
    h = fake("model-runner")
    r = call(h, "GET", "/")
    assert (r.status, r.text) == (200, "Docker Model Runner is running")
    assert call(h, "GET", "/models").json() == []  # bare array
    assert call(h, "GET", "/v1/models").json() == {"object": "list", "data": []}
    assert call(h, "GET", "/health").status == 404  # no /health route
    assert "llama.cpp" in call(h, "GET", "/engines/status").json()
    r = call(h, "POST", "/models/create", {"from": "ai/does-not-exist"})
    assert (r.status, r.text) == (404, "Model not found\n")
    assert r.ctype.startswith("text/plain")
    r = call(h, "POST", "/engines/v1/chat/completions", {"messages": CHAT["messages"]})
    assert (r.status, r.text) == (400, "model is required\n")
    r = call(h, "POST", "/engines/v1/chat/completions", dict(CHAT, model="gemma3"))
    assert r.status == 404 and "model not found" in r.text


def test_dmr_pull_accept_header_list_delete(tmp_path: Path) -> None:
    with start_fake("model-runner", data_dir=str(tmp_path), progress_lines=3) as h:
        r = call(h, "POST", "/models/create", {"from": "smollm2"}, {"Accept": "application/json"})
        assert r.ctype == "application/json"
        lines = r.lines()
        prog = lines[0]
        assert prog["type"] == "progress" and prog["mode"] == "pull"
        assert set(prog["layer"]) == {"id", "size", "current"} and prog["total"] > 0
        assert lines[-1]["type"] == "success"
        r = call(h, "POST", "/models/create", {"from": "ai/qwen3:0.6B-Q4_0"})  # no Accept
        assert r.ctype.startswith("text/plain")
        assert r.text.startswith("{&#34;type&#34;:&#34;progress&#34;")
    with start_fake("model-runner", data_dir=str(tmp_path)) as h:  # persisted
        models = call(h, "GET", "/models").json()
        tags = sorted(t for m in models for t in m["tags"])
        assert tags == ["ai/qwen3:0.6B-Q4_0", "ai/smollm2:latest"]
        assert all(isinstance(m["config"]["size"], str) for m in models)
        one = call(h, "GET", "/models/smollm2").json()  # partial-name fallback
        assert one["tags"] == ["ai/smollm2:latest"] and one["id"].startswith("sha256:")
        data = call(h, "GET", "/engines/llama.cpp/v1/models").json()["data"]
        assert {d["owned_by"] for d in data} == {"docker"}
        chat = call(h, "POST", "/v1/chat/completions", dict(CHAT, model="smollm2")).json()
        assert chat["choices"][0]["message"]["content"]
        assert call(h, "GET", "/engines/ps").json()[0]["model_name"] == "ai/smollm2:latest"
        api = call(h, "GET", "/api/tags").json()["models"]
        assert len(api) == 2
        r = call(h, "DELETE", "/models/smollm2")
        assert r.json() == [{"Untagged": "ai/smollm2:latest"}, {"Deleted": one["id"]}]
        assert call(h, "DELETE", "/models/smollm2").status == 404


# --- vLLM / TGI / llama.cpp / LocalAI / generic ------------------------------------------


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("kind", ["vllm", "tgi"])
def test_refuses_connections_while_loading(fake: Any, kind: str) -> None:
    h = fake(kind, load_seconds=0.4)
    assert _refused(h.port)
    assert h.listening.wait(3)
    r = call(h, "GET", "/health")
    assert (r.status, r.body) == (200, b"")


def test_vllm_models_auth_and_errors(fake: Any) -> None:
    h = fake("vllm", model="Qwen/Qwen3-0.6B", api_key="sekret")
    assert call(h, "GET", "/health").status == 200  # open without key
    assert call(h, "GET", "/version").json() == {"version": "0.11.0"}
    r = call(h, "GET", "/v1/models")
    assert (r.status, r.json()) == (401, {"error": "Unauthorized"})
    auth = {"Authorization": "Bearer sekret"}
    card = call(h, "GET", "/v1/models", headers=auth).json()["data"][0]
    assert card["owned_by"] == "vllm" and card["root"] == "Qwen/Qwen3-0.6B"
    assert card["max_model_len"] == 4096
    r = call(h, "POST", "/v1/chat/completions", dict(CHAT, model="other"), auth)
    assert r.status == 404 and r.json()["error"]["code"] == 404  # int code


def test_llamacpp_loading_then_ready(fake: Any) -> None:
    h = fake("llamacpp", load_seconds=0.5, model="/models/tiny.gguf", alias="tiny")
    r = call(h, "GET", "/health")
    assert r.status == 503
    assert r.json() == {
        "error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}
    }
    models = call(h, "GET", "/v1/models")
    assert models.status == 200 and models.json()["data"][0]["meta"] is None
    assert call(h, "GET", "/api/tags").status == 200
    root = call(h, "GET", "/")
    assert root.status == 503 and root.ctype.startswith("text/html")
    assert call(h, "POST", "/v1/chat/completions", dict(CHAT, model="x")).status == 503
    time.sleep(0.6)
    assert call(h, "GET", "/health").json() == {"status": "ok"}
    data = call(h, "GET", "/models").json()["data"][0]
    assert (data["id"], data["owned_by"]) == ("tiny", "llamacpp")
    out = call(h, "POST", "/v1/chat/completions", dict(CHAT, model="anything")).json()
    assert "timings" in out


def test_tgi_info_and_models(fake: Any) -> None:
    h = fake("tgi", model="org/m")
    assert call(h, "GET", "/info").json()["model_id"] == "org/m"
    d = call(h, "GET", "/v1/models").json()["data"][0]
    assert d == {"id": "org/m", "object": "model", "created": 0, "owned_by": "org/m"}
    h2 = fake("tgi", unhealthy=True)
    r = call(h2, "GET", "/health")
    assert (r.status, r.json()["error_type"]) == (503, "healthcheck")


def test_localai_readiness(fake: Any) -> None:
    h = fake("localai", load_seconds=0.4, model="m1", models="m2")
    assert call(h, "GET", "/healthz").status == 200
    r = call(h, "GET", "/readyz")
    assert (r.status, r.json()) == (
        503,
        {"status": "starting", "reason": "startup preload in progress"},
    )
    data = call(h, "GET", "/v1/models").json()["data"]
    assert data == [{"id": "m1", "object": "model"}, {"id": "m2", "object": "model"}]
    time.sleep(0.5)
    assert call(h, "GET", "/readyz").status == 200


@pytest.mark.parametrize("kind", ["vllm", "llamacpp", "tgi", "localai", "openai"])
def test_openai_chat_stream_for_every_kind(fake: Any, kind: str) -> None:
    h = fake(kind, model="m")
    body = dict(CHAT, model="m", stream=True, max_tokens=3)
    chunks = sse(call(h, "POST", "/v1/chat/completions", body))
    assert chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert sum(1 for c in chunks if "role" in c["choices"][0]["delta"]) == 1
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert "usage" not in chunks[-1]  # only with stream_options.include_usage


def test_generic_behaviour_options(fake: Any) -> None:
    h = fake("ollama", html=True)
    r = call(h, "GET", "/api/tags")
    assert r.status == 200 and r.ctype.startswith("text/html")
    h = fake("ollama", hang=True)
    with pytest.raises(TimeoutError):
        call(h, "GET", "/", timeout=0.3)
    h = fake("vllm", exit_after=0.2, load_seconds=10)
    time.sleep(0.4)
    assert h.exit_code == 3 and _refused(h.port)


def test_script_mode_exit_after_and_real_args(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            llmfake.__file__,
            "--kind",
            "vllm",
            "--port",
            "0",
            "--exit-after",
            "0.2",
            "--model",
            "foo/bar",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 3 and "fatal" in proc.stderr
    proc = subprocess.run(
        [sys.executable, llmfake.__file__, "--kind", "vllm", "--port", "0", "serve"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 2 and "unrecognized arguments: serve" in proc.stderr
    opts, _ = llmfake.parse_args(["-m", "/m.gguf", "--alias", "a", "-c", "512"])
    assert opts == {"model": "/m.gguf", "alias": "a", "max_model_len": "512"}
    assert llmfake.resolve_options({"kind": "tgi"}, {"MODEL_ID": "x/y"})["model"] == "x/y"
    assert llmfake.resolve_options({}, {"LLMFAKE_KIND": "vllm"})["port"] == 8000


def test_name_normalisation() -> None:
    n = parse_ollama_name("myhost:5000/ns/model:v1")
    assert n is not None and n.shortest == "myhost:5000/ns/model:v1"
    assert parse_ollama_name("llama3.2").shortest == "llama3.2:latest"
    for bad in ("n/m:", "mm:", "a.b/c", "a/b/c/d"):
        assert parse_ollama_name(bad) is None, bad
    assert dmr_normalize(" SmolLM2 ") == "ai/smollm2:latest"
    assert dmr_normalize("ai/qwen3:0.6B-F16") == "ai/qwen3:0.6B-F16"  # tag keeps case
    assert dmr_normalize("docker.io/ai/gemma3") == "ai/gemma3:latest"
    assert dmr_normalize("hf.co/bartowski/X-GGUF").startswith("huggingface.co/")


# --- the image ---------------------------------------------------------------------------


def test_the_image_tag_follows_every_file_the_image_copies(tmp_path: Path) -> None:
    """A cached fake image is reused by its tag: any change to what it copies moves the tag;
    what it does not copy (the plugins, compiled Python, this package's __init__) does not.
    tests/integration/test_fake_image.py checks the image holds exactly these files."""
    import shutil

    from tests.integration import infra

    root = tmp_path / "fakes"
    shutil.copytree(infra.FAKES, root, ignore=shutil.ignore_patterns("__pycache__"))
    tag = infra.fake_image_tag(root)
    assert tag == infra.fake_image_tag()
    files = infra.fake_image_files(root)
    assert {root / "llmfake.py", root / "servers" / "ollama.py"} <= set(files)
    for f in files:
        before = f.read_bytes()
        f.write_bytes(before + b"\n")
        assert infra.fake_image_tag(root) != tag, f
        f.write_bytes(before)
    assert infra.fake_image_tag(root) == tag
    (root / "plugins" / "docker-model").write_text("changed")
    (root / "__init__.py").write_text("changed")
    (root / "servers" / "__pycache__").mkdir()
    (root / "servers" / "__pycache__" / "base.cpython-311.pyc").write_bytes(b"\0")
    assert infra.fake_image_tag(root) == tag
    (root / "servers" / "newkind.py").write_text("")  # a new module is copied, so hashed
    assert infra.fake_image_tag(root) != tag


def test_each_kind_has_its_module_saying_what_it_stands_in_for() -> None:
    import sys

    from tests.fakes.servers import APPS, KINDS

    assert KINDS == ("ollama", "model-runner", "vllm", "llamacpp", "tgi", "localai", "openai")
    modules = {sys.modules[app.__module__] for app in APPS.values()}
    assert len(modules) == len(KINDS)  # one module per kind
    for kind, app in APPS.items():
        assert app.kind == kind and app.default_port and app.default_version
        assert "stands in for" in (sys.modules[app.__module__].__doc__ or ""), kind
