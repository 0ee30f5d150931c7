"""One meaning of a URL in every command (issue "Hardening" items 6-11, 25-27), as a user sees
it: exit codes, stdout and stderr apart, one JSON document with --json.

Servers are real HTTP on loopback: the fake LLM servers (tests/fakes/llmfake.py, one kind
each) and small throwaway servers that redirect, answer nothing, or listen on ::1 only. The
Docker engine is made unreachable (DOCKER_HOST to a missing socket), so no managed container
is found and the endpoint comes from --endpoint, OLLAMA_HOST or MODEL_RUNNER_HOST.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llmctl.cli.app import run
from tests.fakes.llmfake import FakeHandle, start_fake
from tests.support import need


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("MODEL_RUNNER_HOST", raising=False)
    path = tmp_path / "endpoints.yaml"
    monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(path))
    return path


@contextmanager
def fake(kind: str, **options: Any) -> Iterator[FakeHandle]:
    handle = start_fake(kind, port=0, **options)
    try:
        yield handle
    finally:
        handle.stop()


@contextmanager
def serve(respond: Callable[[BaseHTTPRequestHandler], None], host: str = "127.0.0.1",
          port: int = 0) -> Iterator[str]:
    """A throwaway HTTP server: every request, whatever its method, gets ``respond``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            with suppress(OSError):
                respond(self)

        do_GET = do_POST = do_DELETE = do_HEAD = handle_one

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True

    srv = Server((host, port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    bound = srv.server_address[1]
    try:
        yield f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
    finally:
        srv.shutdown()
        srv.server_close()


def redirect(h: BaseHTTPRequestHandler) -> None:
    h.send_response(307)
    h.send_header("Location", "https://login.example/sso")
    h.send_header("Content-Length", "0")
    h.end_headers()


@contextmanager
def silent(host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """Accepts connections, reads nothing, never answers (a hung server or a stray listener)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            with suppress(OSError):
                held.append(sock.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        for c in held:
            c.close()
        sock.close()


def one_doc(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    assert doc["llmctl"] == 1
    return doc  # type: ignore[no-any-return]


def timed(args: list[str]) -> tuple[int, float]:
    start = time.monotonic()
    code = run(args)
    return code, time.monotonic() - start


# --- 6. localhost means 127.0.0.1 ----------------------------------------------------------------


@pytest.fixture
def localhost_v6_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """`localhost` resolves to ::1 first, as on many systems (here /etc/hosts may say only
    127.0.0.1, so the resolver is made to answer like those systems do)."""
    need(socket.has_ipv6, "this Python has no IPv6")
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            v6 = real("::1", port, socket.AF_INET6, socket.SOCK_STREAM)
            return v6 + real("127.0.0.1", port, socket.AF_INET, socket.SOCK_STREAM)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("command", [
    ["pull", "tinyllama", "--progress", "plain"],
    ["models", "--json"],
    ["rm", "tinyllama"],
])
def test_localhost_is_127_0_0_1_not_a_silent_ipv6_listener(
    localhost_v6_first: None, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # Ollama on 127.0.0.1:P, and something on [::1]:P that accepts and never answers: the
    # commands must not wait on ::1 (they did, 15 to 65 s).
    with fake("ollama", pulled="tinyllama") as ollama:
        try:
            ctx = silent("::1", ollama.port)
            ctx.__enter__()
        except OSError as exc:
            need(False, f"cannot listen on [::1]:{ollama.port} ({exc})")
            raise
        try:
            code, took = timed([*command, "--endpoint", f"http://localhost:{ollama.port}"])
        finally:
            ctx.__exit__(None, None, None)
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert took < 5
    assert f"http://127.0.0.1:{ollama.port}" in cap.out + cap.err
    assert "localhost" not in cap.out + cap.err


# --- 7. every command knows what answers at --endpoint ------------------------------------------


def test_models_endpoint_of_an_openai_server_lists_it(capsys: pytest.CaptureFixture[str]) -> None:
    with fake("vllm", model="Qwen/Qwen3-0.6B") as vllm:
        code = run(["models", "--endpoint", f"{vllm.url}/v1", "--json"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    res = one_doc(cap.out)["result"]
    assert [(m["name"], m["backend"], m["endpoint"]) for m in res["models"]] == [
        ("Qwen/Qwen3-0.6B", "openai", vllm.url)]
    assert [(s["server"], s["ok"]) for s in res["sources"]] == [("vllm", True)]
    assert cap.err == ""


def test_models_and_pull_at_model_runner_engines_v1(capsys: pytest.CaptureFixture[str]) -> None:
    with fake("model-runner") as runner:
        api = f"{runner.url}/engines/v1"
        assert run(["pull", "ai/smollm2", "--endpoint", api, "--progress", "none"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("pulled ai/smollm2:latest (")
        assert out.rstrip().endswith(f"into Docker Model Runner at {runner.url}")
        assert run(["models", "--endpoint", api]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[1].split()[:2] == ["ai/smollm2:latest", "model-runner"]
        assert run(["rm", "ai/smollm2", "--endpoint", api]) == 0
        assert capsys.readouterr().out.startswith(
            f"removed ai/smollm2:latest from Docker Model Runner at {runner.url}")


def test_an_ollama_name_sent_to_a_model_runner_is_read_as_the_runner_reads_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    with fake("model-runner") as runner:
        code = run(["pull", "smollm2", "--endpoint", runner.url, "--progress", "none",
                    "--json"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert one_doc(cap.out)["result"]["model"] == "ai/smollm2:latest"


@pytest.mark.parametrize(("kind", "command", "verb"), [
    ("vllm", ["pull", "qwen2.5"], "pull"),
    ("llamacpp", ["rm", "qwen2.5"], "remove"),
])
def test_an_openai_only_server_is_listed_not_pulled_into(
    capsys: pytest.CaptureFixture[str], kind: str, command: list[str], verb: str
) -> None:
    with fake(kind) as server:
        code = run([*command, "--endpoint", f"{server.url}/v1"])
    cap = capsys.readouterr()
    assert code == 2 and cap.out == ""
    first, hint = cap.err.splitlines()
    name = {"vllm": "a vLLM server", "llamacpp": "a llama.cpp server"}[kind]
    assert first == (f"error: {server.url} is {name}: it serves the models it was started with "
                     f"(OpenAI API only), so llmctl cannot {verb} models there")
    assert hint.startswith(f"hint: See what it serves with `llmctl models --endpoint "
                           f"{server.url}/v1`")


@pytest.mark.parametrize("command", [
    ["models"],
    ["pull", "tinyllama"],
    ["rm", "tinyllama"],
    ["endpoint", "write", "--model", "tinyllama"],
    ["chat", "hi", "--model", "tinyllama"],
])
def test_a_wrong_path_is_reported_as_a_wrong_path(capsys: pytest.CaptureFixture[str],
                                                  command: list[str]) -> None:
    with fake("ollama", pulled="tinyllama") as ollama:
        code = run([*command, "--endpoint", f"{ollama.url}/v2"])
    cap = capsys.readouterr()
    assert code == 2 and cap.out == ""
    assert [ln for ln in cap.err.splitlines() if ln.startswith(("error:", "hint:"))] == [
        f"error: --endpoint {ollama.url}/v2: no LLM API at the path /v2 (answers HTTP 404, "
        f"not an LLM API ('404 page not found')); {ollama.url} is an Ollama server",
        f"hint: Use --endpoint {ollama.url}.",
    ]


def test_backend_contradicting_the_server_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    with fake("ollama") as ollama:
        code = run(["pull", "ai/smollm2", "--backend", "model-runner", "--endpoint", ollama.url])
    assert code == 2
    assert capsys.readouterr().err.startswith(
        f"error: --backend model-runner, but {ollama.url} is an Ollama server")


# --- 8. bad URLs are usage errors before any I/O -------------------------------------------------


BAD_URLS = ["http://127.0.0.1:0", "http://[::1", "ftp://127.0.0.1:21", "http://h:99999"]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("command", [
    ["probe"],
    ["pull", "tinyllama", "--endpoint"],
    ["models", "--endpoint"],
    ["rm", "tinyllama", "--endpoint"],
    ["chat", "hi", "--model", "x", "--endpoint"],
    ["endpoint", "write", "--model", "x", "--endpoint"],
    ["endpoint", "write", "--model", "x", "--no-verify", "--endpoint"],
])
def test_bad_urls_exit_2_before_any_io(capsys: pytest.CaptureFixture[str], _no_engine: Path,
                                       command: list[str], url: str) -> None:
    code = run([*command, url])
    cap = capsys.readouterr()
    assert code == 2, cap.err
    assert cap.out == ""
    first = cap.err.splitlines()[0]
    assert first.startswith("error: ") and f"{url!r} is not a valid URL: " in first
    assert "Traceback" not in cap.err and "unexpected" not in cap.err
    assert "not looked up" not in cap.err  # Docker was not asked either
    assert not _no_engine.exists()  # nothing written


def test_bad_url_json_is_one_error_document(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["endpoint", "write", "--endpoint", "http://127.0.0.1:0", "--model", "x",
                "--no-verify", "--json"])
    doc = one_doc(capsys.readouterr().out)
    assert code == 2 and doc["ok"] is False
    assert doc["error"]["message"] == ("--endpoint 'http://127.0.0.1:0' is not a valid URL: "
                                       "port 0 is not a port a server listens on (1-65535)")


# --- 9. redirects say where they point -----------------------------------------------------------


@pytest.mark.parametrize(("command", "env"), [
    (["chat", "hi", "--model", "x", "--endpoint", "{url}"], {}),
    (["chat", "hi", "--model", "x", "--no-stream", "--endpoint", "{url}/v1"], {}),
    (["models", "--backend", "ollama"], {"OLLAMA_HOST": "{url}"}),
    (["models", "--endpoint", "{url}"], {}),
    (["pull", "tinyllama", "--progress", "none"], {"OLLAMA_HOST": "{url}"}),
    (["rm", "tinyllama"], {"OLLAMA_HOST": "{url}"}),
    (["pull", "ai/smollm2", "--progress", "none"], {"MODEL_RUNNER_HOST": "{url}"}),
    (["rm", "ai/smollm2"], {"MODEL_RUNNER_HOST": "{url}"}),
])
def test_a_redirect_says_where_it_points(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    command: list[str], env: dict[str, str],
) -> None:
    with serve(redirect) as url:
        for key, value in env.items():
            monkeypatch.setenv(key, value.format(url=url))
        code = run([c.format(url=url) for c in command])
    cap = capsys.readouterr()
    assert code in (1, 2)
    errors = [ln for ln in cap.err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1
    assert "redirects to https://login.example/sso (not followed)" in errors[0]
    assert "HTTP 307 (HTTP 307)" not in cap.err


# --- 10. a web page is not an LLM API, in every command ------------------------------------------


@pytest.mark.parametrize(("command", "env"), [
    (["chat", "hi", "--model", "x", "--endpoint", "{url}"], {}),
    (["chat", "hi", "--model", "x", "--no-stream", "--endpoint", "{url}"], {}),
    (["chat", "hi", "--model", "x", "--endpoint", "{url}/v1"], {}),
    (["chat", "hi", "--model", "x", "--no-stream", "--endpoint", "{url}/v1"], {}),
    (["pull", "tinyllama", "--progress", "plain"], {"OLLAMA_HOST": "{url}"}),
    (["pull", "tinyllama", "--endpoint", "{url}"], {}),
    (["pull", "ai/smollm2", "--progress", "plain"], {"MODEL_RUNNER_HOST": "{url}"}),
    (["models", "--backend", "ollama"], {"OLLAMA_HOST": "{url}"}),
    (["models", "--endpoint", "{url}"], {}),
    (["rm", "tinyllama"], {"OLLAMA_HOST": "{url}"}),
])
def test_a_web_page_is_serving_text_html_not_an_llm_api(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    command: list[str], env: dict[str, str],
) -> None:
    with fake("ollama", html=True) as page:
        for key, value in env.items():
            monkeypatch.setenv(key, value.format(url=page.url))
        code = run([c.format(url=page.url) for c in command])
    cap = capsys.readouterr()
    assert code == 1
    errors = [ln for ln in cap.err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1
    assert "serving text/html, not an LLM API ('<!DOCTYPE html>" in errors[0]
    for wrong in ("b'", 'b"', "stream ended", "resume", "success", "Traceback"):
        assert wrong not in cap.err


# --- 11. --timeout is a wall clock for every command that talks to a server ----------------------


@pytest.mark.parametrize(("command", "env"), [
    (["models", "--timeout", "1", "--endpoint", "{url}"], {}),
    (["models", "--timeout", "1"], {"OLLAMA_HOST": "{url}", "MODEL_RUNNER_HOST": "{url}"}),
    (["rm", "tinyllama", "--timeout", "1", "--endpoint", "{url}"], {}),
    (["rm", "tinyllama", "--timeout", "1"], {"OLLAMA_HOST": "{url}"}),
    (["rm", "ai/smollm2", "--timeout", "1"], {"MODEL_RUNNER_HOST": "{url}"}),
    (["pull", "tinyllama", "--stall-timeout", "1", "--progress", "none"],
     {"OLLAMA_HOST": "{url}"}),
    (["pull", "ai/smollm2", "--stall-timeout", "1", "--progress", "none"],
     {"MODEL_RUNNER_HOST": "{url}"}),
    (["pull", "tinyllama", "--timeout", "1", "--progress", "none"], {"OLLAMA_HOST": "{url}"}),
    (["pull", "tinyllama", "--stall-timeout", "1", "--progress", "none", "--endpoint", "{url}"],
     {}),
    (["chat", "hi", "--model", "x", "--timeout", "1", "--endpoint", "{url}"], {}),
    (["endpoint", "write", "--model", "x", "--timeout", "1", "--endpoint", "{url}"], {}),
])
@pytest.mark.parametrize("server", ["hang", "trickle"])
def test_a_silent_or_trickling_server_is_cut_off_on_time(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    command: list[str], env: dict[str, str], server: str,
) -> None:
    with fake("ollama", **{server: True, "trickle_interval": 0.3}) as bad:
        for key, value in env.items():
            monkeypatch.setenv(key, value.format(url=bad.url))
        code, took = timed([c.format(url=bad.url) for c in command])
    cap = capsys.readouterr()
    assert code in (1, 6), cap.err  # failed, or not ready in time: never a usage error
    # These servers never finish, so ending at all proves the cut. The promise is the limit
    # plus a second (about 1.1 s here on a quiet machine); a busy one adds scheduling delay.
    assert took < 3.0, cap.err
    errors = [ln for ln in cap.err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1
    assert re.search(r"within 1 ?s|no progress for 1 s", errors[0]), errors[0]
    assert "Traceback" not in cap.err


def test_pull_timeout_names_the_limit_and_where_it_stopped(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with fake("ollama", pull_delay=0.2) as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)
        code, took = timed(["pull", "tinyllama", "--timeout", "0.5", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 1 and took < 1.5
    assert "error: pulling tinyllama:latest did not finish within 0.5 s (--timeout)" in err


@pytest.mark.parametrize("command", [["models"], ["rm", "x"], ["pull", "x"]])
def test_timeout_must_be_positive(capsys: pytest.CaptureFixture[str],
                                  command: list[str]) -> None:
    assert run([*command, "--timeout", "0"]) == 2
    assert "--timeout 0 must be more than 0 seconds" in capsys.readouterr().err


# --- 25. chat --endpoint URL: the only model, and an OpenAI-only server's root --------------------


def test_chat_uses_the_servers_only_model_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with fake("vllm", model="Qwen/Qwen3-0.6B", reply="Hi there.") as vllm:
        code = run(["chat", "hello", "--endpoint", f"{vllm.url}/v1", "--no-stream"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert cap.out == "Hi there.\n"
    assert cap.err.splitlines()[0] == (
        f"note: no --model given: using 'Qwen/Qwen3-0.6B', the only model at {vllm.url}/v1")


def test_chat_without_model_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with fake("ollama", pulled="tinyllama,llama3.2") as ollama:
        code = run(["chat", "hello", "--endpoint", ollama.url])
    cap = capsys.readouterr()
    assert code == 2 and cap.out == ""
    assert cap.err.splitlines()[0] == (
        f"error: no model: pass --model (the server at {ollama.url} has: llama3.2:latest, "
        "tinyllama:latest)")


@pytest.mark.parametrize(("kind", "name", "model"), [
    ("llamacpp", "a llama.cpp server", []),
    ("vllm", "a vLLM server", []),
    ("vllm", "a vLLM server", ["--model", "Qwen/Qwen3-0.6B"]),
])
def test_chat_at_the_root_of_an_openai_only_server_suggests_v1(
    capsys: pytest.CaptureFixture[str], kind: str, name: str, model: list[str]
) -> None:
    with fake(kind) as server:
        code = run(["chat", "hello", "--endpoint", server.url, *model])
    cap = capsys.readouterr()
    assert code == 2 and cap.out == ""
    errors = [ln for ln in cap.err.splitlines() if ln.startswith(("error:", "hint:"))]
    assert errors[0].startswith(f"error: {server.url} is {name}: it speaks the OpenAI API, "
                                "not Ollama's (")
    assert errors[1] == f"hint: Use --endpoint {server.url}/v1, or add --api openai."


# --- 26. endpoint write while llama.cpp loads ---------------------------------------------------


def test_endpoint_write_while_llamacpp_loads_says_wait(
        capsys: pytest.CaptureFixture[str], _no_engine: Path) -> None:
    with fake("llamacpp", load_seconds=60) as server:
        code = run(["endpoint", "write", "--endpoint", server.url])
    cap = capsys.readouterr()
    assert code == 6 and cap.out == ""
    errors = [ln for ln in cap.err.splitlines() if ln.startswith(("error:", "hint:"))]
    assert errors == [
        f"error: {server.url}/v1: the llama.cpp server is still loading its model",
        f"hint: Wait until `llmctl probe {server.url}` says ready, then run this again "
        "(--no-verify writes it without checking).",
    ]
    assert "llmctl pull" not in cap.err and "--model is required" not in cap.err
    assert not _no_engine.exists()
