"""llmctl.client: one normalized reply from Ollama and OpenAI-compatible servers, clear errors."""

from __future__ import annotations

import asyncio
import json
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from llmctl.backends import ollama, openai
from llmctl.backends.chat import classify_error
from llmctl.backends.http import make_client
from llmctl.client import (
    ChatTimeout,
    EndpointUnreachable,
    ModelNotFound,
    Reply,
    ServerLoading,
    ToolsNotSupported,
    achat,
    chat,
    load_endpoint,
)
from llmctl.endpoint import Endpoint, endpoint_from_url, save_endpoint
from llmctl.errors import ExitCode, NotFoundError, ServerError
from tests.unit.test_probe import fake, free_port, send, serve

WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def _ep(url: str, model: str, api: str | None = None) -> Endpoint:
    return endpoint_from_url(url, api=api, model=model)


# --- real (fake) servers ---


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("kind", "suffix", "model"),
    [
        ("ollama", "", "llama3.2"),
        ("ollama", "/v1", "llama3.2"),
        ("model-runner", "/engines/v1", "ai/smollm2"),
        ("vllm", "/v1", "Qwen/Qwen3-0.6B"),
        ("llamacpp", "/v1", "/models/model.gguf"),
    ],
)
def test_chat_text_usage_and_timings(kind: str, suffix: str, model: str, stream: bool) -> None:
    tokens: list[str] = []
    pulled = {"ollama": "llama3.2", "model-runner": "ai/smollm2"}.get(kind)
    options = {"pulled": pulled} if pulled else {}
    with fake(kind, reply="Whales sing.", **options) as url:
        reply = chat(
            [{"role": "user", "content": "A fact?"}],
            endpoint=_ep(url + suffix, model),
            stream=stream,
            on_token=tokens.append,
        )
    assert reply.text == "Whales sing."
    assert reply.finish_reason == "stop"
    assert reply.api_type == ("ollama" if suffix == "" else "openai")
    assert reply.usage.completion_tokens and reply.usage.completion_tokens > 0
    assert reply.timings.total_s is not None and reply.timings.total_s < 5
    assert reply.timings.tokens_per_s and reply.timings.tokens_per_s > 0
    if stream:
        assert "".join(tokens) == "Whales sing."
        assert reply.timings.ttft_s is not None
        assert reply.timings.ttft_s <= reply.timings.total_s
    else:
        assert tokens == []


@pytest.mark.parametrize(("suffix", "api"), [("", "ollama"), ("/v1", "openai")])
@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_have_dict_arguments(suffix: str, api: str, stream: bool) -> None:
    with fake("ollama", pulled="llama3.2") as url:
        reply = chat(
            "Weather in Tokyo?", WEATHER, endpoint=_ep(url + suffix, "llama3.2"), stream=stream
        )
    assert reply.api_type == api
    assert len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert call.name == "get_weather"
    assert isinstance(call.arguments, dict) and call.arguments
    assert call.id
    assert reply.finish_reason == "tool_calls"


def test_tool_call_history_round_trips_on_both_apis() -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
            ],
        },
        {"role": "tool", "content": "5 C", "tool_name": "get_weather"},
    ]
    _, body = openai.build_chat_request("m", history)
    assert body["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    assert body["messages"][2]["name"] == "get_weather"
    history[1]["tool_calls"][0]["function"]["arguments"] = '{"city": "Oslo"}'
    _, body = ollama.build_chat_request("m", history)
    assert body["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    with fake("ollama", pulled="llama3.2") as url:
        assert chat(history, endpoint=_ep(url, "llama3.2")).text


def test_achat_matches_chat() -> None:
    with fake("vllm", reply="Async hi.") as url:
        ep = _ep(url + "/v1", "Qwen/Qwen3-0.6B")
        reply = asyncio.run(achat("hi", endpoint=ep, stream=True))
        same = chat("hi", endpoint=ep, stream=True)
    assert isinstance(reply, Reply)
    assert reply.text == same.text == "Async hi."
    assert reply.timings.ttft_s is not None


def test_default_endpoint_from_the_config() -> None:
    with fake("ollama", pulled="qwen2.5:0.5b", reply="From config.") as url:
        save_endpoint(Endpoint("local", "ollama", url, "qwen2.5:0.5b", llm_type="ollama"))
        assert load_endpoint().endpoint == url
        assert chat("hi").text == "From config."
        assert chat("hi", endpoint="local").text == "From config."


def test_bearer_token_is_sent() -> None:
    with fake("vllm", api_key="s3cret") as url:
        ep = _ep(url + "/v1", "Qwen/Qwen3-0.6B")
        with pytest.raises(ServerError, match="HTTP 401") as info:
            chat("hi", endpoint=ep)
        assert "s3cret" not in str(info.value.message)
        ep.bearer_token = "s3cret"
        assert chat("hi", endpoint=ep).text


# --- errors from real (fake) servers ---


def test_ollama_model_not_found_names_the_pull_command() -> None:
    with fake("ollama") as url, pytest.raises(ModelNotFound) as info:
        chat("hi", endpoint=_ep(url, "qwen2.5:0.5b"))
    assert info.value.hint == "Pull it first: llmctl pull qwen2.5:0.5b"
    assert info.value.exit_code == ExitCode.NOT_FOUND
    assert isinstance(info.value, NotFoundError)


@pytest.mark.parametrize(
    ("kind", "suffix", "model"),
    [("model-runner", "/engines/v1", "ai/gemma3"), ("vllm", "/v1", "nope"), ("ollama", "/v1", "x")],
)
def test_model_not_found_on_openai_servers(kind: str, suffix: str, model: str) -> None:
    with fake(kind) as url, pytest.raises(ModelNotFound):
        chat("hi", endpoint=_ep(url + suffix, model), stream=True)


def test_tools_not_supported() -> None:
    with fake("ollama", pulled="tinyllama") as url, pytest.raises(ToolsNotSupported) as info:
        chat("hi", WEATHER, endpoint=_ep(url, "tinyllama"))
    assert "does not support tools" in info.value.message
    assert isinstance(info.value, ServerError)


def test_unreachable() -> None:
    with pytest.raises(EndpointUnreachable, match="connection refused"):
        chat("hi", endpoint=_ep(f"http://127.0.0.1:{free_port()}", "m"), timeout=2)


def test_llamacpp_loading_is_not_ready() -> None:
    with fake("llamacpp", load_seconds=30) as url, pytest.raises(ServerLoading) as info:
        chat("hi", endpoint=_ep(url + "/v1", "m"))
    assert info.value.exit_code == ExitCode.NOT_READY


# --- bad servers ---


def test_html_200_is_a_clear_error() -> None:
    with fake("ollama", html=True) as url, pytest.raises(ServerError, match="text/html"):
        chat("hi", endpoint=_ep(url, "m"))


def test_truncated_json() -> None:
    truncated = b'{"message": {"content": "Hel'
    with (
        serve(lambda h: send(h, 200, truncated, "application/json")) as url,
        pytest.raises(ServerError, match="truncated or invalid JSON"),
    ):
        chat("hi", endpoint=_ep(url, "m"))


def test_json_5xx() -> None:
    body = json.dumps({"error": {"message": "engine crashed", "type": "api_error"}}).encode()
    with (
        serve(lambda h: send(h, 500, body, "application/json")) as url,
        pytest.raises(ServerError, match=r"HTTP 500: engine crashed"),
    ):
        chat("hi", endpoint=_ep(url + "/v1", "m"))


def test_redirect_is_not_followed() -> None:
    redirect = {"Location": "http://evil.invalid/"}
    with (
        serve(lambda h: send(h, 307, b"", "text/plain", **redirect)) as url,
        pytest.raises(ServerError, match="redirect"),
    ):
        chat("hi", endpoint=_ep(url, "m"))


def _stream_forever(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/x-ndjson")
    h.end_headers()
    while True:
        h.wfile.write(b'{"message":{"role":"assistant","content":"la "},"done":false}\n')
        h.wfile.flush()
        time.sleep(0.02)


@pytest.mark.parametrize("use_async", [False, True])
def test_stream_forever_is_cut_at_the_timeout(use_async: bool) -> None:
    tokens: list[str] = []
    with serve(_stream_forever) as url:
        t0 = time.monotonic()
        with pytest.raises(ChatTimeout, match="did not finish within 1s"):
            if use_async:
                asyncio.run(
                    achat(
                        "hi", endpoint=_ep(url, "m"), stream=True, timeout=1, on_token=tokens.append
                    )
                )
            else:
                chat("hi", endpoint=_ep(url, "m"), stream=True, timeout=1, on_token=tokens.append)
        elapsed = time.monotonic() - t0
    assert 0.9 < elapsed < 2.0
    assert tokens and tokens[0] == "la "


@pytest.mark.parametrize("use_async", [False, True])
def test_accept_and_never_answer(use_async: bool) -> None:
    with fake("ollama", hang=True) as url:
        t0 = time.monotonic()
        with pytest.raises(ChatTimeout):
            if use_async:
                asyncio.run(achat("hi", endpoint=_ep(url, "m"), timeout=1))
            else:
                chat("hi", endpoint=_ep(url, "m"), timeout=1)
        assert time.monotonic() - t0 < 2.0


def test_trickling_server_is_cut_at_the_timeout() -> None:
    # The headers themselves trickle in: only a wall-clock deadline can stop this.
    with fake("ollama", trickle=True, trickle_interval=0.1) as url:
        t0 = time.monotonic()
        with pytest.raises(ChatTimeout):
            chat("hi", endpoint=_ep(url, "m"), timeout=1, stream=True)
        assert time.monotonic() - t0 < 2.0


def test_mid_stream_error_line() -> None:
    def respond(h: BaseHTTPRequestHandler) -> None:
        body = (
            b'{"message":{"role":"assistant","content":"Hi"},"done":false}\n'
            b'{"error":"an error was encountered while running the model: CUDA OOM"}\n'
        )
        send(h, 200, body, "application/x-ndjson")

    with serve(respond) as url, pytest.raises(ServerError, match="CUDA OOM"):
        chat("hi", endpoint=_ep(url, "m"), stream=True)


def test_openai_mid_stream_error_and_early_end() -> None:
    def respond(h: BaseHTTPRequestHandler) -> None:
        body = (
            b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
            b'data: {"error":{"message":"overloaded","code":503}}\n\n'
        )
        send(h, 200, body, "text/event-stream")

    with serve(respond) as url, pytest.raises(ServerLoading, match="overloaded"):
        chat("hi", endpoint=_ep(url + "/v1", "m"), stream=True)

    def ends_early(h: BaseHTTPRequestHandler) -> None:
        send(
            h,
            200,
            b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
            "text/event-stream",
        )

    with serve(ends_early) as url, pytest.raises(ServerError, match="ended before"):
        chat("hi", endpoint=_ep(url + "/v1", "m"), stream=True)


def test_openai_stream_tool_call_fragments_are_joined() -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c9",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"ci'},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]
                    },
                }
            ]
        },
        {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
            "timings": {"predicted_per_second": 42.5},
        },
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 9}},
    ]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    body += b"data: [DONE]\n\n"
    with serve(lambda h: send(h, 200, body, "text/event-stream")) as url:
        reply = chat("hi", WEATHER, endpoint=_ep(url + "/v1", "m"), stream=True)
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("c9", "get_weather", {"city": "Oslo"})
    ]
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 9)
    assert reply.timings.tokens_per_s == 42.5  # the server's own counter wins


def test_ollama_durations_are_nanoseconds() -> None:
    final = {
        "model": "m",
        "message": {"role": "assistant", "content": "ok"},
        "done": True,
        "done_reason": "stop",
        "eval_count": 50,
        "eval_duration": 2_000_000_000,
        "prompt_eval_count": 3,
    }
    with serve(lambda h: send(h, 200, json.dumps(final).encode(), "application/json")) as url:
        reply = chat("hi", endpoint=_ep(url, "m"))
    assert reply.timings.tokens_per_s == 25.0
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 50)


# --- error classification (pure) ---


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (404, "model 'qwen:latest' not found", ModelNotFound),
        (404, 'model "qwen" not found, try pulling it first', ModelNotFound),
        (404, "model not found", ModelNotFound),
        (404, "The model `x` does not exist.", ModelNotFound),
        (
            400,
            "registry.ollama.ai/library/tinyllama:latest does not support tools",
            ToolsNotSupported,
        ),
        (500, "tools param requires --jinja flag", ToolsNotSupported),
        (503, "Loading model", ServerLoading),
        (404, "backend not found", ServerError),
        (None, "model 'x' not found", ModelNotFound),
    ],
)
def test_classify_error(status: int | None, text: str, expected: type) -> None:
    exc = classify_error(status, text, model="x")
    assert type(exc) is expected


def test_library_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, llmctl.client; print('httpx' in sys.modules, 'typer' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        check=True,
    ).stdout
    assert out.split() == ["False", "False"]


def test_backend_helpers_against_ollama() -> None:
    with fake("ollama", pulled="llama3.2,tinyllama") as url, make_client(url) as client:
        assert ollama.version(client)
        assert sorted(ollama.list_tags(client)) == ["llama3.2:latest", "tinyllama:latest"]
        assert ollama.supports_tools(client, "llama3.2") is True
        assert ollama.supports_tools(client, "tinyllama") is False
        with pytest.raises(ModelNotFound):
            ollama.show(client, "nope")
    with fake("ollama", pulled="llama3.2") as url, make_client(url + "/v1") as client:
        assert openai.list_models(client) == ["llama3.2:latest"]


# --- transport errors: the same words from the sync and the async client ---


def _connect_error(url: str, *, use_async: bool) -> BaseException:
    import httpx

    from llmctl.backends.http import make_async_client

    async def aget() -> None:
        async with make_async_client(url, timeout=2, connect_timeout=2) as client:
            await client.get("/")

    try:
        if use_async:
            asyncio.run(aget())
        else:
            with make_client(url, timeout=2, connect_timeout=2) as client:
                client.get("/")
    except httpx.HTTPError as exc:
        return exc
    raise AssertionError(f"{url} answered")


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_refused_reads_connection_refused_from_both_clients(use_async: bool) -> None:
    from llmctl.backends.http import describe_transport_error

    exc = _connect_error(f"http://127.0.0.1:{free_port()}", use_async=use_async)
    assert describe_transport_error(exc) == "connection refused"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_unknown_host_reads_host_name_not_found(use_async: bool) -> None:
    from llmctl.backends.http import describe_transport_error

    exc = _connect_error("http://no-such-host.invalid:1", use_async=use_async)
    assert describe_transport_error(exc) == "host name not found"


def test_refused_inside_an_exception_group_is_found() -> None:
    import httpx

    from llmctl.backends.http import describe_transport_error

    class Group(Exception):  # ExceptionGroup's shape (a builtin only from Python 3.11)
        exceptions = (OSError(101, "Network is unreachable"), ConnectionRefusedError(111, "no"))

    try:
        try:
            raise Group("attempts")
        except Exception as group:
            raise OSError("All connection attempts failed") from group
    except OSError as inner:
        exc = httpx.ConnectError("All connection attempts failed")
        exc.__cause__ = inner
    assert describe_transport_error(exc) == "connection refused"


def test_achat_refused_says_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EndpointUnreachable) as info:
        asyncio.run(achat("hi", endpoint=_ep(url, "m"), timeout=2))
    assert info.value.message == f"cannot reach {url}: connection refused"
