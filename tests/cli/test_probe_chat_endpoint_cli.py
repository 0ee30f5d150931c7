"""`llmctl probe`, `chat` and `endpoint` as a user sees them: exit codes, stdout, stderr."""

from __future__ import annotations

import io
import json
import shlex
import stat
from pathlib import Path
from typing import Any

import pytest

from llmctl.cli.app import run
from llmctl.probe import ManagedTarget
from tests.support import managed_target
from tests.unit.test_probe import fake, free_port


def _json(text: str) -> dict[str, Any]:
    doc = json.loads(text)  # exactly one document
    assert doc["llmctl"] == 1
    return doc  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def managed(monkeypatch: pytest.MonkeyPatch) -> list[ManagedTarget]:
    """The servers llmctl runs, as the commands see them: none, unless a test adds some
    (so the engine on this machine does not leak into these tests)."""
    servers: list[ManagedTarget] = []
    monkeypatch.setattr("llmctl.cli.managed_targets.managed_targets", lambda: list(servers))
    return servers


@pytest.fixture
def endpoints_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "endpoints.yaml"
    monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(path))
    return path


# --- probe ---


def test_probe_human(capsys: pytest.CaptureFixture[str]) -> None:
    with fake("ollama", pulled="tinyllama") as url:
        code = run(["probe", url])
    cap = capsys.readouterr()
    assert code == 0
    lines = cap.out.splitlines()
    assert lines[0].split() == ["TARGET", "SERVER", "STATUS", "USE", "VERSION", "MODELS", "LATENCY"]
    assert lines[1].startswith(url) and "Ollama" in lines[1] and "ready" in lines[1]
    assert "tinyllama:latest" in lines[1]
    assert f"{url}: Ollama (ollama API) — GET / says 'Ollama is running'" in cap.out
    assert cap.err.startswith("1 LLM server(s) found in ")


def test_probe_json_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    with fake("model-runner", pulled="ai/smollm2") as url:
        code = run(["probe", url + "/engines/v1", "--json"])
    cap = capsys.readouterr()
    assert code == 0
    doc = _json(cap.out)
    assert doc["ok"] is True and doc["command"] == "probe"
    (r,) = doc["result"]["results"]
    assert r["server"] == "docker-model-runner"
    assert r["base_url"] == url + "/engines/v1"
    assert r["models"] == ["ai/smollm2:latest"]
    assert cap.err == ""


def test_probe_not_llm_and_refused_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    with fake("ollama", html=True) as url:
        code = run(["probe", url, refused, "--timeout", "1"])
    cap = capsys.readouterr()
    assert code == 1
    assert f"{url}: serving text/html, not an LLM API" in cap.out
    assert f"{refused}: connection refused" in cap.out
    assert cap.err == "no LLM server answered\n"


def test_probe_bad_url_is_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["probe", "ftp://x", "--json"])
    doc = _json(capsys.readouterr().out)
    assert code == 2
    assert doc["ok"] is False
    assert doc["error"]["message"] == ("'ftp://x' is not a valid URL: ftp:// is not http:// or "
                                       "https://")


# --- chat ---


def test_chat_streams_tokens_to_stdout_and_timings_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake("ollama", pulled="llama3.2", reply="Whales sing songs.") as url:
        code = run(["chat", "A fact?", "--endpoint", url, "--model", "llama3.2"])
    cap = capsys.readouterr()
    assert code == 0
    assert cap.out == "Whales sing songs.\n"
    assert cap.err.startswith(f"llama3.2 via {url} (ollama): first token ")
    assert "tokens/s" in cap.err


def test_chat_json_and_stdin_prompt(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Piped prompt\n"))
    with fake("vllm", reply="Piped answer.") as url:
        code = run(["chat", "--endpoint", url + "/v1", "--model", "Qwen/Qwen3-0.6B", "--json"])
    cap = capsys.readouterr()
    assert code == 0
    doc = _json(cap.out)
    assert doc["result"]["reply"]["text"] == "Piped answer."
    assert doc["result"]["api_type"] == "openai"
    assert doc["result"]["reply"]["tool_calls"] == []
    assert cap.err == ""


def test_chat_no_prompt_is_usage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty(""))
    code = run(["chat", "--endpoint", "http://127.0.0.1:1", "--model", "m"])
    cap = capsys.readouterr()
    assert code == 2
    assert cap.err.startswith("error: no prompt")
    assert cap.out == ""


def test_chat_missing_model_exit_7_with_pull_hint(capsys: pytest.CaptureFixture[str]) -> None:
    with fake("ollama") as url:
        code = run(["chat", "hi", "--endpoint", url, "--model", "qwen2.5:0.5b"])
    cap = capsys.readouterr()
    assert code == 7
    assert cap.out == ""
    assert "error: model 'qwen2.5:0.5b' not found" in cap.err
    assert "hint: Pull it first: llmctl pull qwen2.5:0.5b" in cap.err


def test_chat_without_config_says_how_to_write_one(
    capsys: pytest.CaptureFixture[str], endpoints_file: Path
) -> None:
    code = run(["chat", "hi"])
    cap = capsys.readouterr()
    assert code == 7
    assert "no endpoint configured" in cap.err
    assert "llmctl endpoint write" in cap.err


# --- endpoint ---


def test_endpoint_write_show_env_list_remove(
    capsys: pytest.CaptureFixture[str], endpoints_file: Path, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("tok-very-secret\n")
    with fake("ollama", pulled="llama3.2") as url:
        code = run(
            [
                "endpoint",
                "write",
                "--endpoint",
                url,
                "--model",
                "llama3.2",
                "--token-file",
                str(token),
            ]
        )
        cap = capsys.readouterr()
    assert code == 0, cap.err
    assert stat.S_IMODE(endpoints_file.stat().st_mode) == 0o600
    assert "tok-very-secret" in endpoints_file.read_text()
    assert "bearer_token: '***'" in cap.out
    assert f"endpoint: {url}\n" in cap.out
    assert "verified and wrote endpoint 'ollama' (default)" in cap.err
    assert "tok-very-secret" not in cap.out + cap.err

    assert run(["endpoint", "show"]) == 0
    cap = capsys.readouterr()
    assert "bearer_token: '***'" in cap.out and "tok-very-secret" not in cap.out

    assert run(["endpoint", "env"]) == 0
    cap = capsys.readouterr()
    env = dict(w.removeprefix("export ").split("=", 1) for w in shlex.split(cap.out) if "=" in w)
    assert env["LLM_ENDPOINT"] == url and env["LLM_MODEL"] == "llama3.2"
    assert env["OPENAI_API_KEY"] == "***"
    assert "redacted" in cap.err

    assert run(["endpoint", "list", "--json"]) == 0
    doc = _json(capsys.readouterr().out)
    assert doc["result"]["default"] == "ollama"
    assert [e["name"] for e in doc["result"]["endpoints"]] == ["ollama"]
    assert doc["result"]["endpoints"][0]["bearer_token"] == "***"

    out_file = tmp_path / "client.env"
    assert run(["endpoint", "show", "--format", "env", "--output", str(out_file)]) == 0
    assert "OPENAI_API_KEY=tok-very-secret" in out_file.read_text()
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    capsys.readouterr()

    assert run(["endpoint", "remove", "ollama"]) == 0
    assert capsys.readouterr().out == f"removed endpoint 'ollama' from {endpoints_file}\n"
    assert run(["endpoint", "show", "--json"]) == 7
    doc = _json(capsys.readouterr().out)
    assert doc["ok"] is False
    assert doc["error"]["type"] == "NotFoundError"


def test_endpoint_write_json_and_tool_warning(
    capsys: pytest.CaptureFixture[str], endpoints_file: Path
) -> None:
    with fake("ollama", pulled="tinyllama") as url:
        code = run(["endpoint", "write", "--endpoint", url, "--json"])
    cap = capsys.readouterr()
    assert code == 0
    doc = _json(cap.out)
    assert doc["result"]["endpoint"]["model"] == "tinyllama:latest"
    assert doc["result"]["endpoint"]["verified"]["tools"] is False
    assert "warning: model 'tinyllama:latest' does not support tools" in cap.err


def test_endpoint_write_openai_model_runner(
    capsys: pytest.CaptureFixture[str], endpoints_file: Path
) -> None:
    with fake("model-runner", pulled="ai/smollm2") as url:
        code = run(
            [
                "endpoint",
                "write",
                "--endpoint",
                url.replace("127.0.0.1", "localhost"),
                "--model",
                "ai/smollm2",
                "--format",
                "json",
            ]
        )
    cap = capsys.readouterr()
    assert code == 0, cap.err
    doc = json.loads(cap.out)
    assert doc["endpoint"] == url + "/engines/v1"
    assert doc["api_type"] == "openai" and doc["llm_type"] == "docker-model-runner"


def test_endpoint_write_failures(capsys: pytest.CaptureFixture[str], endpoints_file: Path) -> None:
    assert run(["endpoint", "write", "--no-verify", "--model", "m"]) == 2
    assert "--no-verify needs --endpoint" in capsys.readouterr().err
    with fake("ollama", html=True) as url:
        assert run(["endpoint", "write", "--endpoint", url, "--model", "m"]) == 1
    cap = capsys.readouterr()
    assert "serving text/html, not an LLM API" in cap.err
    assert not endpoints_file.exists()
    assert run(["endpoint", "write", "--endpoint", "http://x", "--format", "toml"]) == 2


# --- servers llmctl runs (the engine lookup is stubbed by the `managed` fixture) ---


def _no_usual_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl import probe as probe_mod

    monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (free_port(),))


def test_probe_without_urls_lists_the_managed_servers(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    managed: list[ManagedTarget],
) -> None:
    _no_usual_ports(monkeypatch)
    with fake("ollama", pulled="tinyllama") as url:
        managed.append(managed_target(url, "t-cli", "ollama", "ollama", 11434))
        assert run(["probe", "--timeout", "2"]) == 0
        human = capsys.readouterr()
        assert run(["probe", "--timeout", "2", "--json"]) == 0
        doc = _json(capsys.readouterr().out)
    row = next(ln for ln in human.out.splitlines() if ln.startswith(url))
    assert "Ollama" in row and "tinyllama:latest" in row
    assert (
        "  managed by llmctl: instance t-cli (ollama); other containers use "
        "http://llmctl-t-cli:11434\n"
    ) in human.out
    (r,) = [r for r in doc["result"]["results"] if r["managed"]]
    assert r["root"] == url and r["server"] == "ollama"
    assert r["managed"]["instance"] == "t-cli"
    assert doc["result"]["notes"] == []


def test_probe_without_engine_notes_it_and_goes_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmctl import probe as probe_mod
    from llmctl.errors import EngineUnavailable

    def no_engine() -> list[ManagedTarget]:
        raise EngineUnavailable("the Docker daemon is not running at unix:///gone.sock")

    monkeypatch.setattr("llmctl.cli.managed_targets.managed_targets", no_engine)
    with fake("ollama") as url:
        monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (int(url.rsplit(":", 1)[1]),))
        code = run(["probe", "--timeout", "2", "--json"])
    cap = capsys.readouterr()
    assert code == 0
    assert _json(cap.out)["result"]["found"] == 1
    assert cap.err == (
        "note: llmctl-managed servers not probed "
        "(the Docker daemon is not running at unix:///gone.sock)\n"
    )


def test_endpoint_write_defaults_to_the_one_managed_server(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    endpoints_file: Path,
    managed: list[ManagedTarget],
) -> None:
    _no_usual_ports(monkeypatch)
    with fake("vllm") as url:
        managed.append(managed_target(url, "t-v", "vllm", "openai", 8000))
        code = run(["endpoint", "write", "--format", "json"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    doc = json.loads(cap.out)
    assert doc["name"] == "t-v" and doc["llm_type"] == "docker-container"
    assert doc["endpoint"] == url + "/v1"
    assert doc["endpoint_container"] == "http://llmctl-t-v:8000/v1"
    assert "it is llmctl instance t-v (vllm); other containers on the llmctl network use" in (
        cap.err
    )
    assert "endpoint_container: http://llmctl-t-v:8000/v1" in endpoints_file.read_text()


def test_endpoint_write_with_two_managed_servers_lists_them(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    endpoints_file: Path,
    managed: list[ManagedTarget],
) -> None:
    _no_usual_ports(monkeypatch)
    with fake("ollama", pulled="tinyllama") as a, fake("llamacpp") as b:
        managed += [
            managed_target(a, "t-a", "ollama", "ollama", 11434),
            managed_target(b, "t-b", "llamacpp", "openai", 8080),
        ]
        code = run(["endpoint", "write", "--model", "tinyllama"])
    cap = capsys.readouterr()
    assert code == 2
    assert "several LLM servers answer" in cap.err
    assert "llmctl instance t-a" in cap.err and "llmctl instance t-b" in cap.err
    assert not endpoints_file.exists()


def test_endpoint_write_without_engine_still_writes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, endpoints_file: Path
) -> None:
    from llmctl.errors import EngineUnavailable

    def no_engine() -> list[ManagedTarget]:
        raise EngineUnavailable("permission denied on the Docker socket")

    monkeypatch.setattr("llmctl.cli.managed_targets.managed_targets", no_engine)
    with fake("ollama", pulled="llama3.2") as url:
        code = run(["endpoint", "write", "--endpoint", url, "--model", "llama3.2", "--json"])
    cap = capsys.readouterr()
    assert code == 0
    ep = _json(cap.out)["result"]["endpoint"]
    assert ep["llm_type"] == "ollama"
    assert ep["endpoint_container"] == url.replace("127.0.0.1", "host.docker.internal")
    assert cap.err.startswith(
        "note: llmctl-managed servers not looked up (permission denied on the Docker socket)"
    )
