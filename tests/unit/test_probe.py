"""llmctl.probe against the fake servers and small bad servers: detection, deadlines, URLs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmctl.errors import UsageError
from llmctl.probe import Fetch, ProbeResult, classify, normalize_target, probe
from tests.fakes.llmfake import start_fake
from tests.support import closed_port as free_port
from tests.support import managed_target, need

# --- small bad servers shared by the probe/client/CLI tests ---

Respond = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def serve(respond: Respond, host: str = "127.0.0.1") -> Iterator[str]:
    """An HTTP/1.1 server whose every GET/POST is answered by ``respond(handler)``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with suppress(OSError):
                respond(self)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.request_body = self.rfile.read(length)
            self.do_GET()

        def log_message(self, *args: object) -> None:
            pass

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    srv = Server((host, 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    try:
        yield f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    finally:
        srv.shutdown()
        srv.server_close()


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str, **headers: str) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in headers.items():
        h.send_header(k.replace("_", "-"), v)
    h.end_headers()
    h.wfile.write(body)


@contextmanager
def fake(kind: str, **options: object) -> Iterator[str]:
    handle = start_fake(kind, port=0, **options)
    try:
        yield handle.url
    finally:
        handle.stop()


# --- detection against the fakes ---


@pytest.mark.parametrize(
    ("kind", "server", "api_type", "suffix"),
    [
        ("ollama", "ollama", "ollama", ""),
        ("model-runner", "docker-model-runner", "openai", "/engines/v1"),
        ("vllm", "vllm", "openai", "/v1"),
        ("llamacpp", "llamacpp", "openai", "/v1"),
        ("tgi", "tgi", "openai", "/v1"),
        ("localai", "localai", "openai", "/v1"),
        ("openai", "openai-compatible", "openai", "/v1"),
    ],
)
def test_detects_each_server_kind_with_evidence(
    kind: str, server: str, api_type: str, suffix: str
) -> None:
    with fake(kind) as url:
        result = probe([url], timeout=3).results[0]
    assert result.server == server, result.evidence
    assert result.status == "ready"
    assert result.api_type == api_type
    assert result.base_url == url + suffix
    assert result.evidence, "detection must say why"
    assert result.latency_ms is not None and result.latency_ms < 1000


def test_ollama_models_version_and_text_evidence() -> None:
    with fake("ollama", pulled="tinyllama,llama3.2") as url:
        r = probe([url]).results[0]
    assert sorted(r.models) == ["llama3.2:latest", "tinyllama:latest"]
    assert r.version and r.version[0].isdigit()
    assert "GET / says 'Ollama is running'" in r.evidence


@pytest.mark.parametrize(("path", "kind"), [("/engines/v1", "model-runner"), ("/v1", "ollama")])
def test_api_urls_are_normalized_to_the_server_root(path: str, kind: str) -> None:
    with fake(kind, pulled="ai/smollm2" if kind == "model-runner" else "tinyllama") as url:
        r = probe([url + path + "/"]).results[0]
    assert r.root == url
    assert r.url == url + path + "/"
    expected = url + "/engines/v1" if kind == "model-runner" else url
    assert r.base_url == expected
    assert r.models


def test_localhost_resolves_to_the_address_that_answers() -> None:
    with fake("ollama") as url:
        port = url.rsplit(":", 1)[1]
        r = probe([f"http://localhost:{port}"]).results[0]
    assert r.server == "ollama"
    assert r.root == f"http://127.0.0.1:{port}"
    assert r.base_url == f"http://127.0.0.1:{port}"


def test_localhost_works_when_the_server_is_on_ipv6_only() -> None:
    need(socket.has_ipv6, "this Python has no IPv6")
    try:
        ctx = serve(lambda h: send(h, 200, b"Ollama is running", "text/plain"), host="::1")
        url = ctx.__enter__()
    except OSError as exc:
        need(False, f"cannot listen on ::1 ({exc})")
        raise
    try:
        port = url.rsplit(":", 1)[1]
        r = probe([f"http://localhost:{port}"], timeout=2).results[0]
    finally:
        ctx.__exit__(None, None, None)
    assert r.server == "ollama"
    assert r.root == f"http://[::1]:{port}"


def test_loading_states() -> None:
    with fake("llamacpp", load_seconds=30) as a, fake("localai", load_seconds=30) as b:
        ra, rb = probe([a, b]).results
    assert (ra.server, ra.status) == ("llamacpp", "loading")
    assert (rb.server, rb.status) == ("localai", "loading")


def test_vllm_loading_refuses_connections() -> None:
    with fake("vllm", load_seconds=30) as url:
        r = probe([url]).results[0]
    assert r.status == "unreachable"
    assert r.reason == "connection refused"
    assert not r.is_llm


def test_vllm_with_api_key() -> None:
    with fake("vllm", api_key="s3cret") as url:
        without = probe([url]).results[0]
        with_key = probe([url], api_key="s3cret").results[0]
    assert without.server == "vllm"
    assert without.models == []
    assert any("API key" in n for n in without.notes)
    assert with_key.models == ["Qwen/Qwen3-0.6B"]


# --- bad servers ---


def test_html_server_is_not_an_llm_api() -> None:
    with fake("ollama", html=True) as url:
        r = probe([url]).results[0]
    assert r.status == "not-llm"
    assert r.server is None
    assert "serving text/html, not an LLM API" in (r.reason or "")


def test_redirects_are_reported_not_followed() -> None:
    hits: list[str] = []

    def respond(h: BaseHTTPRequestHandler) -> None:
        hits.append(h.path)
        send(h, 302, b"", "text/plain", Location="http://example.invalid/login")

    with serve(respond) as url:
        r = probe([url]).results[0]
    assert r.status == "not-llm"
    assert r.reason == "redirects to http://example.invalid/login (not followed)"
    assert "/login" not in hits


def test_json_errors_everywhere_are_not_an_llm_api() -> None:
    with serve(lambda h: send(h, 500, b'{"error":"boom"}', "application/json")) as url:
        r = probe([url]).results[0]
    assert r.status == "not-llm"
    assert "answers HTTP 500" in (r.reason or "")


def test_huge_bodies_are_read_at_most_one_mib() -> None:
    big = b'{"data": [' + b'{"id": "x"},' * 300_000 + b'{"id": "y"}]}'  # ~3.6 MB
    assert len(big) > 3 * 1024 * 1024

    def respond(h: BaseHTTPRequestHandler) -> None:
        if h.path == "/":
            send(h, 200, b"Ollama is running", "text/plain")
        else:
            send(h, 200, big, "application/json")

    with serve(respond) as url:
        r = probe([url]).results[0]
    assert r.server == "ollama"
    assert any("over 1 MiB" in n for n in r.notes)


def test_truncated_json_is_not_taken_as_models() -> None:
    def respond(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, b'{"object":"list","data":[{"id":"m","owned_by":"vll', "application/json")

    with serve(respond) as url:
        r = probe([url]).results[0]
    assert r.server is None
    assert r.status == "not-llm"


@pytest.mark.parametrize("option", ["hang", "trickle"])
def test_silent_and_trickling_servers_are_cut_off_at_the_deadline(option: str) -> None:
    with fake("ollama", **{option: True, "trickle_interval": 0.2}) as url:
        t0 = time.monotonic()
        r = probe([url], timeout=1.0).results[0]
        elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 1.6
    assert r.status == "no-answer"
    assert r.reason == "accepted the connection but sent no HTTP answer within 1s"


def test_refused_port() -> None:
    r = probe([f"http://127.0.0.1:{free_port()}"], timeout=1).results[0]
    assert (r.status, r.reason) == ("unreachable", "connection refused")
    assert not r.reachable


def test_probes_run_concurrently() -> None:
    with fake("ollama", hang=True) as a, fake("ollama", hang=True) as b, fake("ollama") as c:
        t0 = time.monotonic()
        report = probe([a, b, c], timeout=1.0)
        elapsed = time.monotonic() - t0
    assert elapsed < 1.6  # not 2 × 1 s
    assert [r.status for r in report.results] == ["no-answer", "no-answer", "ready"]


def test_proxy_variables_never_route_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with fake("ollama") as url:
        r = probe([url]).results[0]
    assert r.server == "ollama"


# --- targets and URLs ---


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("11434", "http://127.0.0.1:11434"),
        (":8080", "http://127.0.0.1:8080"),
        ("localhost:11435", "http://localhost:11435"),
        ("http://h:12434/engines/v1/", "http://h:12434"),
        ("http://h:12434/engines/llama.cpp/v1", "http://h:12434"),
        ("http://h:11434/v1", "http://h:11434"),
        ("http://h:11434/api/tags", "http://h:11434"),
        ("https://gpu.example:8443/proxy/v1", "https://gpu.example:8443/proxy"),
        ("http://[::1]:11434", "http://[::1]:11434"),
    ],
)
def test_normalize_target(given: str, root: str) -> None:
    assert normalize_target(given)[0] == root


@pytest.mark.parametrize("bad", ["ftp://h/x", "http://h:99999", "http://:80", ""])
def test_bad_urls_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        normalize_target(bad)


def test_default_targets_include_ports_configured_and_managed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmctl import probe as probe_mod
    from llmctl.endpoint import Endpoint, save_endpoint

    with fake("ollama") as configured, fake("vllm") as managed:
        save_endpoint(Endpoint("cfg", "ollama", configured, "tinyllama"))
        monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (free_port(),))
        report = probe(None, timeout=2, targets_from_managed=[managed, managed + "/v1"])
    roots = [r.root for r in report.results]
    assert len(roots) == 3  # the managed URL given twice is probed once
    assert {r.server for r in report.found} == {"ollama", "vllm"}


def test_probe_inside_a_running_event_loop() -> None:
    import asyncio

    async def main(url: str) -> ProbeResult:
        return probe([url]).results[0]

    with fake("ollama") as url:
        assert asyncio.run(main(url)).server == "ollama"


# --- classify (pure) ---


def _f(path: str, status: int, body: object, ctype: str = "application/json") -> Fetch:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Fetch(path, status=status, content_type=ctype, body=raw, elapsed=0.01)


def test_classify_tgi_unhealthy_and_version_from_info() -> None:
    fetches = {
        "/": _f("/", 404, b""),
        "/info": _f("/info", 200, {"router": "text-generation-router", "version": "3.3.5"}),
        "/health": _f("/health", 503, {"error": "unhealthy", "error_type": "healthcheck"}),
        "/v1/models": _f("/v1/models", 200, {"data": [{"id": "m", "owned_by": "m"}]}),
    }
    r = classify(ProbeResult("u", "http://h:80"), fetches)
    assert (r.server, r.status, r.version) == ("tgi", "unhealthy", "3.3.5")


def test_classify_ollama_with_null_data_and_no_models() -> None:
    fetches = {
        "/": _f("/", 200, b"Ollama is running", "text/plain"),
        "/api/tags": _f("/api/tags", 200, {"models": []}),
        "/v1/models": _f("/v1/models", 200, {"object": "list", "data": None}),
        "/api/version": _f("/api/version", 200, {"version": "0.5.1"}),
    }
    r = classify(ProbeResult("u", "http://h:11434"), fetches)
    assert (r.server, r.models, r.version) == ("ollama", [], "0.5.1")


def test_api_tags_alone_does_not_make_ollama() -> None:
    # llama.cpp answers /api/tags too (§7); its owned_by wins.
    fetches = {
        "/api/tags": _f("/api/tags", 200, {"models": [{"name": "m"}]}),
        "/v1/models": _f("/v1/models", 200, {"data": [{"id": "m", "owned_by": "llamacpp"}]}),
    }
    assert classify(ProbeResult("u", "http://h:8080"), fetches).server == "llamacpp"


# --- managed servers: looked up alongside the port probes, never fatal ---


def test_managed_lookup_adds_and_labels_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl import probe as probe_mod

    monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (free_port(),))
    with fake("ollama", pulled="tinyllama") as url:
        report = probe(None, timeout=2, managed_lookup=lambda: [managed_target(url)])
    (found,) = report.found
    assert found.root == url and found.server == "ollama"
    assert found.models == ["tinyllama:latest"]
    assert found.managed is not None and found.managed.instance == "t-one"
    assert found.to_dict()["managed"]["endpoint_container"] == "http://llmctl-t-one:" + (
        url.rsplit(":", 1)[1]
    )
    assert report.notes == []
    assert [r.managed for r in report.results if r is not found] == [None]


def test_managed_on_a_usual_port_is_probed_once_and_labelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmctl import probe as probe_mod

    with fake("vllm") as url:
        monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (int(url.rsplit(":", 1)[1]),))
        managed = managed_target(url.replace("127.0.0.1", "localhost"), profile="vllm",
                                 api="openai")
        report = probe(None, timeout=2, managed_lookup=lambda: [managed])
    (only,) = report.results
    assert only.server == "vllm" and only.managed == managed


def test_engine_unavailable_is_a_note_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl import probe as probe_mod
    from llmctl.errors import EngineUnavailable

    def broken() -> list[object]:
        raise EngineUnavailable("the Docker daemon is not running at unix:///nope.sock")

    with fake("ollama") as url:
        monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (int(url.rsplit(":", 1)[1]),))
        report = probe(None, timeout=2, managed_lookup=broken)  # type: ignore[arg-type]
    assert [r.server for r in report.results] == ["ollama"]
    assert report.notes == [
        "llmctl-managed servers not probed "
        "(the Docker daemon is not running at unix:///nope.sock)"
    ]


def test_a_hanging_engine_is_bounded_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl import probe as probe_mod

    release = threading.Event()

    def hang() -> list[object]:
        release.wait(30)
        return []

    monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (free_port(),))
    t0 = time.monotonic()
    try:
        report = probe(None, timeout=1, managed_lookup=hang)  # type: ignore[arg-type]
    finally:
        release.set()
    assert time.monotonic() - t0 < 2.5
    assert report.notes == [
        "llmctl-managed servers not probed (the Docker engine did not answer within 1s)"
    ]


def test_urls_given_skip_the_managed_lookup() -> None:
    called: list[bool] = []

    def lookup() -> list[object]:
        called.append(True)
        return []

    with fake("ollama") as url:
        report = probe([url], timeout=2, managed_lookup=lookup)  # type: ignore[arg-type]
    assert called == [] and report.found


def test_managed_match_compares_host_and_port() -> None:
    from llmctl.probe import managed_match

    m = managed_target("http://127.0.0.1:21434")
    assert managed_match("http://localhost:21434/v1", [m]) == m
    assert managed_match("127.0.0.1:21434", [m]) == m
    assert managed_match("http://127.0.0.1:21435", [m]) is None
    assert managed_match("not a url://", [m]) is None
