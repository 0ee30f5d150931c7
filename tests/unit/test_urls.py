"""llmctl.urls: the one reading of a server URL (--endpoint, probe targets, MODEL_RUNNER_HOST,
the endpoint file) and of OLLAMA_HOST (reference/server-apis.md §1.1). Pure: no I/O."""

from __future__ import annotations

import pytest

from llmctl import urls
from llmctl.errors import ExitCode, UsageError


@pytest.mark.parametrize(("given", "url", "root", "api_path"), [
    ("http://localhost:11434/", "http://127.0.0.1:11434", "http://127.0.0.1:11434", ""),
    ("HTTP://LocalHost:8080/v1/", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080", "/v1"),
    ("http://0.0.0.0:11434", "http://127.0.0.1:11434", "http://127.0.0.1:11434", ""),
    ("http://[::]:11434", "http://[::1]:11434", "http://[::1]:11434", ""),
    ("localhost:11435", "http://127.0.0.1:11435", "http://127.0.0.1:11435", ""),
    ("11434", "http://127.0.0.1:11434", "http://127.0.0.1:11434", ""),
    (":8080", "http://127.0.0.1:8080", "http://127.0.0.1:8080", ""),
    ("http://h:12434/engines/v1", "http://h:12434/engines/v1", "http://h:12434",
     "/engines/v1"),
    ("http://h:12434/engines/llama.cpp/v1/models", "http://h:12434/engines/llama.cpp/v1/models",
     "http://h:12434", "/engines/llama.cpp/v1/models"),
    ("http://h:11434/api/tags", "http://h:11434/api/tags", "http://h:11434", "/api/tags"),
    ("https://gpu.example:8443/proxy/v1", "https://gpu.example:8443/proxy/v1",
     "https://gpu.example:8443/proxy", "/v1"),
    ("http://gpu.example", "http://gpu.example", "http://gpu.example", ""),
])
def test_parse_normalizes(given: str, url: str, root: str, api_path: str) -> None:
    u = urls.parse(given)
    assert (u.url, u.root, u.api_path) == (url, root, api_path)


def test_localhost_is_pinned_but_probe_may_keep_it() -> None:
    u = urls.parse("http://localhost:11435/v1")
    assert u.host == "127.0.0.1" and u.host_as_given == "localhost"
    assert u.root_as_given() == "http://localhost:11435"


@pytest.mark.parametrize(("bad", "why"), [
    ("http://[::1", "Invalid IPv6 URL"),
    ("http://127.0.0.1:0", "port 0 is not a port a server listens on"),
    ("http://h:99999", "the port is not a number from 1 to 65535"),
    ("http://h:", "the port is missing"),
    ("ftp://h:21", "ftp:// is not http:// or https://"),
    ("tcp://127.0.0.1:2375", "tcp:// is not http:// or https://"),
    ("http://:80", "no host"),
    ("http://exa mple:1", "spaces or control characters"),
    ("http://h\x1b[31m:1", "spaces or control characters"),
    ("http://[zz]:1", "does not appear to be an IPv4 or IPv6 address"),
    ("http://h:1/x?q=1", "no ?query or #fragment"),
    ("http://bad_host!:1", "is not a host name or IP address"),
])
def test_bad_urls_are_usage_errors_naming_the_option(bad: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        urls.parse(bad, "--endpoint")
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.message.startswith(f"--endpoint {bad!r} is not a valid URL: ")
    assert why in info.value.message
    assert info.value.hint and "http://127.0.0.1:11434" in info.value.hint


def test_credentials_are_refused_without_echoing_them() -> None:
    with pytest.raises(UsageError) as info:
        urls.parse("http://user:s3cret@h:1")
    assert "s3cret" not in info.value.message and "--token-file" in (info.value.hint or "")


def test_empty_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="the URL is empty"):
        urls.parse("  ", "--endpoint")


@pytest.mark.parametrize(("root", "api", "kind", "base"), [
    ("http://h:11434", "ollama", "ollama", "http://h:11434"),
    ("http://h:11434", "openai", "ollama", "http://h:11434/v1"),
    ("http://h:12434", "openai", "docker-model-runner", "http://h:12434/engines/v1"),
    ("http://h:8000/", "openai", "vllm", "http://h:8000/v1"),
])
def test_api_base(root: str, api: str, kind: str, base: str) -> None:
    assert urls.api_base(root, api, kind) == base


def test_container_url_and_same_server() -> None:
    assert urls.container_url("http://127.0.0.1:11434/v1") == \
        "http://host.docker.internal:11434/v1"
    assert urls.container_url("http://gpu.example:8000/v1") == "http://gpu.example:8000/v1"
    assert urls.same_server("http://localhost:11434/v1", "http://127.0.0.1:11434")
    assert not urls.same_server("http://127.0.0.1:11434", "http://127.0.0.1:11435")


def test_default_ports_have_one_home() -> None:
    assert urls.OLLAMA_URL == "http://127.0.0.1:11434"
    assert urls.MODEL_RUNNER_URL == "http://127.0.0.1:12434"
    assert urls.PROBE_PORTS == (11434, 11435, 12434, 8000, 8080)


# --- OLLAMA_HOST ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "base"), [
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:11435", "http://127.0.0.1:11435"),
    ("myhost", "http://myhost:11434"),
    ("myhost:1234", "http://myhost:1234"),
    ("http://localhost", "http://127.0.0.1:80"),  # Ollama: scheme without port = 80
    ("https://example.com", "https://example.com:443"),
    ("http://example.com:8080/ollama", "http://example.com:8080/ollama"),
    ("ollama.com", "https://ollama.com:443"),
    ("[::]:11434", "http://[::1]:11434"),
    ("::1", "http://[::1]:11434"),
    ('"127.0.0.1:9999"', "http://127.0.0.1:9999"),
])
def test_ollama_host_as_llmctl_uses_it(value: str | None, base: str) -> None:
    parsed = urls.parse_ollama_host(value)
    assert parsed.base_url == base
    assert parsed.warning is None


def test_ollama_host_bad_port_falls_back_with_a_warning() -> None:
    parsed = urls.parse_ollama_host("myhost:99999")
    assert parsed.base_url == "http://myhost:11434"
    assert parsed.warning == ("OLLAMA_HOST='myhost:99999': port '99999' is not valid: Ollama "
                              "uses 11434 instead")


def test_ollama_host_env_unset_or_empty_is_none() -> None:
    assert urls.ollama_host_env({}) is None
    assert urls.ollama_host_env({"OLLAMA_HOST": "  "}) is None
    host = urls.ollama_host_env({"OLLAMA_HOST": "127.0.0.1:11435"})
    assert host is not None and host.base_url == "http://127.0.0.1:11435"
