"""Pull stream parsing against the documented shapes (§1.6 Ollama, §2.3 Model Runner), the stall
watchdog, endpoint resolution (§1.1) and the progress renderers. No network: httpx.MockTransport."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from llmctl.backends import model_runner, ollama_models
from llmctl.backends.http import make_client
from llmctl.cli.progress import JsonRenderer, PlainRenderer, TtyRenderer, resolve_mode
from llmctl.errors import ExitCode, NotFoundError, ServerError, UsageError
from llmctl.models import candidate_targets, explicit_target, resolve_target
from llmctl.progress import ProgressEvent

DIGEST = "sha256:" + "ab12cd34ef56" + "0" * 52
DIGEST2 = "sha256:" + "99887766aa55" + "1" * 52


def nd(*docs: dict[str, object]) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in docs)


def client_for(body: Callable[[], Iterator[bytes]] | bytes, status: int = 200,
               seen: list[httpx.Request] | None = None,
               content_type: str = "application/x-ndjson") -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        content = body if isinstance(body, bytes) else body()
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    return make_client("http://127.0.0.1:11434", transport=httpx.MockTransport(handler))


class FakeClock:
    """Advances ``step`` seconds every time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


DOCUMENTED = nd(
    {"status": "pulling manifest"},
    {"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 1000},  # completed omitted
    {"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 1000},  # identical repeat
    {"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 1000, "completed": 400},
    {"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 1000, "completed": 1000},
    {"status": "pulling 99887766aa55", "digest": DIGEST2, "total": 50, "completed": 50},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
)


def test_ollama_documented_stream_succeeds_with_layers_and_steps() -> None:
    events: list[ProgressEvent] = []
    seen: list[httpx.Request] = []
    with client_for(DOCUMENTED, seen=seen) as c:
        out = ollama_models.pull(c, "llama3.2:latest", on_event=events.append, emit_interval=0)
    assert out.success
    assert out.layers == {"ab12cd34ef56": (1000, 1000), "99887766aa55": (50, 50)}
    assert out.statuses == ["pulling manifest", "pulling ab12cd34ef56", "pulling 99887766aa55",
                            "verifying sha256 digest", "writing manifest", "success"]
    assert out.total == 1050
    assert json.loads(seen[0].content) == {"model": "llama3.2:latest", "stream": True}
    assert seen[0].url.path == "/api/pull"
    first_layer = next(e for e in events if e.layer == "ab12cd34ef56")
    assert first_layer.current == 0 and first_layer.total == 1000 and not first_layer.done
    cached = [e for e in events if e.layer == "99887766aa55"]
    assert len(cached) == 1 and cached[0].done  # a cache hit is reported once, complete
    assert events[-1].status == "success" and events[-1].done
    # the identical repeat produced no event of its own
    assert sum(1 for e in events if e.layer == "ab12cd34ef56") == 3


def test_lines_split_across_chunks_are_reassembled() -> None:
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(DOCUMENTED), 7):
            yield DOCUMENTED[i:i + 7]

    with client_for(chunks) as c:
        out = ollama_models.pull(c, "llama3.2:latest")
    assert out.success and out.layers["ab12cd34ef56"] == (1000, 1000)


def test_tensor_fast_path_pulling_model_then_success() -> None:
    body = nd({"status": "pulling model", "digest": "sha256:model", "total": 10,
               "completed": 10}, {"status": "success"})
    with client_for(body) as c:
        out = ollama_models.pull(c, "x/mlx:latest")
    assert out.success and out.total == 10


def test_error_line_after_progress_in_a_200_stream() -> None:
    body = nd({"status": "pulling manifest"},
              {"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 100, "completed": 40},
              {"error": "max retries exceeded: unexpected EOF"})
    with client_for(body) as c, pytest.raises(ServerError) as info:
        ollama_models.pull(c, "llama3.2:latest")
    assert info.value.message == (
        "pulling llama3.2:latest failed (max retries exceeded: unexpected EOF)")
    assert info.value.hint and "resumes" in info.value.hint
    assert info.value.exit_code == ExitCode.FAILURE


def test_unknown_model_error_line_is_not_found() -> None:
    body = nd({"status": "pulling manifest"},
              {"error": "pull model manifest: file does not exist"})
    with client_for(body) as c, pytest.raises(NotFoundError) as info:
        ollama_models.pull(c, "nope:latest")
    assert "model 'nope:latest' not found" in info.value.message
    assert "file does not exist" in info.value.message
    assert info.value.exit_code == ExitCode.NOT_FOUND


@pytest.mark.parametrize(("status", "body", "exc"), [
    (400, b'{"error":"invalid model name"}', ServerError),
    (500, b'{"error":"boom"}', ServerError),
    (404, b'{"error":"pull model manifest: file does not exist"}', NotFoundError),
])
def test_http_errors_before_the_stream(status: int, body: bytes, exc: type[Exception]) -> None:
    with client_for(body, status=status, content_type="application/json") as c, \
            pytest.raises(exc) as info:
        ollama_models.pull(c, "m:latest")
    assert type(info.value) is exc
    assert json.loads(body)["error"] in str(info.value)


def test_stream_ending_without_success_names_the_last_status() -> None:
    body = nd({"status": "pulling manifest"}, {"status": "verifying sha256 digest"},
              {"status": "writing manifest"})
    with client_for(body) as c, pytest.raises(ServerError) as info:
        ollama_models.pull(c, "m:latest")
    assert "ended without 'success'" in info.value.message
    assert "'writing manifest'" in info.value.message
    assert info.value.hint and "resumes" in info.value.hint


def test_identical_lines_forever_are_a_stall() -> None:
    line = nd({"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 100,
               "completed": 50})

    def forever() -> Iterator[bytes]:
        while True:
            yield line * 50

    clock = FakeClock(step=0.5)
    with client_for(forever) as c, pytest.raises(ServerError) as info:
        ollama_models.pull(c, "m:latest", stall_timeout=30, clock=clock)
    assert "stalled at 50% (50 B of 100 B): no progress for 30 s" in info.value.message


def test_progress_going_backwards_does_not_count_as_progress() -> None:
    def backwards() -> Iterator[bytes]:
        n = 0
        while True:
            n += 1
            done = 60 - (n % 20)  # oscillates below the maximum seen
            yield nd({"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 100,
                      "completed": done})

    with client_for(backwards) as c, pytest.raises(ServerError, match="stalled"):
        ollama_models.pull(c, "m:latest", stall_timeout=10, clock=FakeClock(step=0.2))


def test_silent_server_stalls_on_wall_clock_not_read_timeout() -> None:
    """A real socket that stays open and silent: the guard shuts it down at the deadline,
    long before the client's 30 s read timeout."""
    from tests.fakes.llmfake import start_fake

    fake = start_fake("ollama", port=0)
    try:
        start = time.monotonic()
        with make_client(fake.url, timeout=30) as c, \
                pytest.raises(ServerError, match=r"stalled at 0% .*no progress for 0\.5 s"):
            ollama_models.pull(c, "llmfake/stall:latest", stall_timeout=0.5)
        assert time.monotonic() - start < 3
    finally:
        fake.stop()


def test_watched_chunks_reports_a_killed_read_as_the_stall() -> None:
    watchdog = ollama_models.Watchdog(0.2)
    unblock = threading.Event()

    def blocking() -> Iterator[bytes]:
        yield b"x"
        unblock.wait(10)  # a read that only the guard's on_expire can end
        raise OSError("socket shut down")

    chunks = ollama_models.watched_chunks(blocking(), watchdog,
                                          lambda: ServerError("stalled!"), unblock.set)
    with pytest.raises(ServerError, match="stalled!"):
        list(chunks)
    assert watchdog.fired


def test_dropped_connection_is_one_clear_error() -> None:
    def drop() -> Iterator[bytes]:
        yield nd({"status": "pulling manifest"},
                 {"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 100,
                  "completed": 25})
        raise httpx.RemoteProtocolError("peer closed connection without sending complete "
                                        "message body")

    with client_for(drop) as c, pytest.raises(ServerError) as info:
        ollama_models.pull(c, "m:latest")
    assert "broke off at 25% (25 B of 100 B)" in info.value.message
    assert "closed the connection" in info.value.message
    assert info.value.hint and "resumes" in info.value.hint


def test_refused_connection_says_how_to_start_ollama() -> None:
    with make_client("http://127.0.0.1:9") as c, pytest.raises(ServerError) as info:
        ollama_models.pull(c, "m:latest")
    assert "cannot reach Ollama" in info.value.message
    assert info.value.hint and "llmctl up ollama" in info.value.hint


def test_200k_repeated_lines_are_cheap_and_emit_few_events() -> None:
    line = nd({"status": "pulling ab12cd34ef56", "digest": DIGEST, "total": 10**9,
               "completed": 5})
    body = nd({"status": "pulling manifest"}) + line * 200_000 + nd({"status": "success"})
    events: list[ProgressEvent] = []
    start = time.perf_counter()
    with client_for(body) as c:
        out = ollama_models.pull(c, "m:latest", on_event=events.append)
    assert out.success and out.lines >= 200_002
    assert len(events) < 10
    assert time.perf_counter() - start < 2.0


# --- Model Runner ----------------------------------------------------------------------------

RUNNER_LINES = [
    {"type": "progress", "message": "Downloaded: 0.50 MB", "total": 2000,
     "layer": {"id": DIGEST, "size": 1000, "current": 500}, "mode": "pull"},
    {"type": "progress", "message": "Downloaded: 1.00 MB", "total": 2000,
     "layer": {"id": DIGEST, "size": 1000, "current": 1000}, "mode": "pull"},
    {"type": "progress", "total": 2000, "layer": {"id": DIGEST2, "size": 1000, "current": 1000}},
    {"type": "success", "message": "Model pulled successfully"},
]


def go_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&#34;"))


@pytest.mark.parametrize("escaped", [False, True], ids=["json", "html-escaped"])
def test_runner_stream_raw_and_html_escaped(escaped: bool) -> None:
    text = "".join((go_escape(json.dumps(d)) if escaped else json.dumps(d)) + "\n"
                   for d in RUNNER_LINES)
    seen: list[httpx.Request] = []
    events: list[ProgressEvent] = []
    with client_for(text.encode(), seen=seen,
                    content_type="text/plain" if escaped else "application/json") as c:
        out = model_runner.pull(c, "ai/smollm2", on_event=events.append)
    assert out.success
    assert out.layers == {"ab12cd34ef56": (1000, 1000), "99887766aa55": (1000, 1000)}
    assert seen[0].headers["accept"] == "application/json"
    assert json.loads(seen[0].content) == {"from": "ai/smollm2"}
    assert [e.current for e in events if e.layer == "ab12cd34ef56"] == [500, 1000]


def test_runner_error_line_and_plain_text_404() -> None:
    body = (json.dumps(RUNNER_LINES[0]) + "\n" +
            json.dumps({"type": "error", "message": "Error: unexpected EOF"}) + "\n").encode()
    with client_for(body) as c, pytest.raises(ServerError) as info:
        model_runner.pull(c, "ai/smollm2")
    assert info.value.message == "pulling ai/smollm2 failed: unexpected EOF"
    with client_for(b"Model not found\n", status=404, content_type="text/plain") as c, \
            pytest.raises(NotFoundError) as nf:
        model_runner.pull(c, "ai/nope")
    assert "'ai/nope' not found" in nf.value.message and "Model not found" in nf.value.message


def test_runner_401_mentions_tokens_without_leaking_them() -> None:
    seen: list[httpx.Request] = []
    with client_for(b"Unauthorized\n", status=401, seen=seen, content_type="text/plain") as c, \
            pytest.raises(ServerError) as info:
        model_runner.pull(c, "hf.co/org/gated", bearer_token="hf_secret123")
    assert json.loads(seen[0].content)["bearer-token"] == "hf_secret123"
    assert "hf_secret123" not in info.value.message + (info.value.hint or "")
    assert "HF_TOKEN" in (info.value.hint or "")


def test_runner_stream_without_success_fails() -> None:
    body = "".join(json.dumps(d) + "\n" for d in RUNNER_LINES[:2]).encode()
    with client_for(body) as c, pytest.raises(ServerError, match="ended without success"):
        model_runner.pull(c, "ai/smollm2")


def test_parse_models_bare_array() -> None:
    models = model_runner.parse_models([{
        "id": DIGEST, "tags": ["ai/smollm2:latest"], "created": 1700000000,
        "config": {"format": "gguf", "quantization": "Q4_K_M", "parameters": "361.82 M",
                   "architecture": "llama", "size": "256.35 MiB"}}, {"id": DIGEST2}])
    assert models[0].tags == ("ai/smollm2:latest",) and models[0].size == "256.35 MiB"
    assert models[1].tags == () and models[1].quantization is None
    with pytest.raises(ServerError, match="expected a JSON array"):
        model_runner.parse_models({"models": []})


def test_parse_tags_empty_and_shapes() -> None:
    assert ollama_models.parse_tags({"models": []}) == []
    assert ollama_models.parse_tags({"models": None}) == []
    m = ollama_models.parse_tags({"models": [{"name": "a:latest", "size": 5, "digest": "d",
                                              "details": {"parameter_size": "1B"}}]})[0]
    assert (m.name, m.size, m.parameters, m.quantization) == ("a:latest", 5, "1B", None)


# --- endpoints -------------------------------------------------------------------------------


def _server(name: str, endpoint: str, api: str = "ollama", profile: str = "ollama"):  # type: ignore[no-untyped-def]
    from llmctl.managed import ManagedServer

    return ManagedServer(instance=name, profile=profile, api=api, container=f"llmctl-{name}",
                         state="running", image="img", volumes=(), host_ip="127.0.0.1",
                         host_port=1, endpoint=endpoint, endpoint_container=None, exposed=False)


def test_target_order_managed_env_default() -> None:
    managed = [_server("ollama", "http://127.0.0.1:11435")]
    env = {"OLLAMA_HOST": "0.0.0.0:11500"}
    got = candidate_targets("ollama", env=env, managed=managed)
    assert [(t.url, t.source) for t in got] == [
        ("http://127.0.0.1:11435", "managed container llmctl-ollama"),
        ("http://127.0.0.1:11500", "OLLAMA_HOST")]
    assert candidate_targets("ollama", env={}, managed=[])[0].source == "default"
    runner = candidate_targets("model-runner", env={"MODEL_RUNNER_HOST": "http://h:12435"},
                               managed=managed)
    assert [(t.url, t.source) for t in runner] == [("http://h:12435", "MODEL_RUNNER_HOST")]


def test_engine_failure_falls_back_silently() -> None:
    from llmctl.errors import EngineUnavailable

    def no_engine():  # type: ignore[no-untyped-def]
        raise EngineUnavailable("no docker")

    got = candidate_targets("ollama", env={}, engine_factory=no_engine)
    assert [t.source for t in got] == ["default"]


@pytest.mark.parametrize("bad", ["ftp://x", "http://127.0.0.1:0", "http://[::1"])
def test_bad_endpoint_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="is not a valid URL"):
        explicit_target(bad)


def test_ollama_host_and_model_runner_host_are_read_once_each_way() -> None:
    got = candidate_targets("ollama", env={"OLLAMA_HOST": "http://localhost"}, managed=[])
    assert [(t.url, t.source) for t in got] == [("http://127.0.0.1:80", "OLLAMA_HOST")]
    with pytest.raises(UsageError, match="MODEL_RUNNER_HOST 'tcp://h:1' is not a valid URL"):
        candidate_targets("model-runner", env={"MODEL_RUNNER_HOST": "tcp://h:1"}, managed=[])


def test_several_managed_ollama_containers_are_listed_not_picked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl import models

    servers = [_server("a", "http://127.0.0.1:11435"), _server("b", "http://127.0.0.1:11436")]
    monkeypatch.setattr(models, "_managed", lambda *a, **k: servers)
    with pytest.raises(UsageError) as info:
        resolve_target("ollama", engine_factory=lambda: None, env={})  # type: ignore[arg-type,return-value]
    assert info.value.message == (
        "2 Ollama containers that llmctl manages are running: llmctl-a at "
        "http://127.0.0.1:11435, llmctl-b at http://127.0.0.1:11436; which one is meant?")
    assert info.value.hint == ("Choose one with --endpoint http://127.0.0.1:11435 or "
                               "--endpoint http://127.0.0.1:11436.")


# --- renderers -------------------------------------------------------------------------------


def ev(status: str, layer: str | None = None, current: int | None = None,
       total: int | None = None, done: bool = False) -> ProgressEvent:
    return ProgressEvent("model", status, layer=layer, current=current, total=total, done=done,
                         subject="m:latest")


def test_plain_renderer_prints_meaningful_steps_only() -> None:
    buf = io.StringIO()
    r = PlainRenderer(stream=buf, clock=FakeClock(step=0.01))
    r(ev("pulling"))
    r(ev("pulling manifest"))
    r(ev("pulling manifest"))
    for done in range(0, 1_000_001, 10_000):
        r(ev("pulling abc", "abc", done, 1_000_000))
    r(ev("pulling abc", "abc", 1_000_000, 1_000_000, done=True))
    r(ev("pulling abc", "abc", 1_000_000, 1_000_000, done=True))
    r(ev("success", done=True))
    lines = buf.getvalue().splitlines()
    assert lines[0] == "pulling m:latest"
    assert lines[1] == "pulling manifest"
    assert lines[2] == "pulling abc (1.0 MB)"
    assert [ln.split(" (")[0] for ln in lines[3:6]] == ["abc: 25%", "abc: 50%", "abc: 75%"]
    assert lines[6].startswith("abc: done (1.0 MB in ")
    assert lines[7] == "success"
    assert len(lines) == 8


def test_plain_renderer_heartbeat_for_slow_layers() -> None:
    buf = io.StringIO()
    r = PlainRenderer(stream=buf, clock=FakeClock(step=4.0))
    for done in range(10):
        r(ev("pulling abc", "abc", done, 1000))
    lines = buf.getvalue().splitlines()
    assert 2 <= len(lines) <= 5  # first sight, then one line per ~10 s
    assert lines[1].startswith("abc: 0% (")


def test_json_renderer_is_ndjson_and_throttled() -> None:
    buf = io.StringIO()
    r = JsonRenderer(stream=buf, clock=FakeClock(step=0.01), interval=0.25)
    r(ev("pulling manifest"))
    for done in range(100):
        r(ev("pulling abc", "abc", done, 100))
    r(ev("pulling abc", "abc", 100, 100, done=True))
    docs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert docs[0]["status"] == "pulling manifest" and docs[0]["event"] == "progress"
    layer_docs = [d for d in docs if d.get("layer") == "abc"]
    assert 3 <= len(layer_docs) <= 8
    assert layer_docs[-1]["done"] is True and layer_docs[-1]["current"] == 100


def test_tty_renderer_draws_bars_with_sizes() -> None:
    buf = io.StringIO()
    clock = FakeClock(step=0.5)
    with TtyRenderer(stream=buf, clock=clock, width=120, color=False) as r:
        r(ev("pulling manifest"))
        r(ev("pulling abc123", "abc123", 0, 2_000_000))
        r(ev("pulling abc123", "abc123", 1_000_000, 2_000_000))
        r(ev("pulling abc123", "abc123", 2_000_000, 2_000_000, done=True))
        r(ev("success", done=True))
    text = buf.getvalue()
    assert text.startswith("\x1b[?25l") and text.endswith("\x1b[?25h")  # cursor restored
    assert "pulling manifest\n" in text
    assert " 50% 1.0/2.0 MB " in text and "/s eta " in text
    assert "abc123 done" in text and "100% 2.0 MB in " in text
    # the step printed after the bars sits above the redrawn block
    assert text.rindex("success\n") < text.rindex("abc123 done")


def test_tty_renderer_throttles_redraws() -> None:
    buf = io.StringIO()
    r = TtyRenderer(stream=buf, clock=FakeClock(step=0.001), width=100, color=False)
    for done in range(1000):
        r(ev("pulling abc", "abc", done, 10_000))
    assert buf.getvalue().count("\x1b[2K") < 20  # ~1 s of fake time at 10 redraws/s


def test_resolve_mode() -> None:
    assert resolve_mode("json") == "json"
    assert resolve_mode("auto") in ("tty", "plain")
    with pytest.raises(UsageError, match="--progress 'bars' is not one of"):
        resolve_mode("bars")
