"""`llmctl pull`, `llmctl models` (ls), `llmctl rm` as a user sees them: exit codes, stdout and
stderr apart, one JSON document with --json. Real HTTP on loopback against tests/fakes/llmfake.
The Docker engine is made unreachable (DOCKER_HOST to a missing socket) so no managed container
is found and the endpoint comes from OLLAMA_HOST / MODEL_RUNNER_HOST / --endpoint."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmctl.cli.app import run
from tests.fakes.llmfake import FakeHandle, start_fake
from tests.support import closed_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("MODEL_RUNNER_HOST", raising=False)


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHandle]:
    h = start_fake("ollama", port=0)
    monkeypatch.setenv("OLLAMA_HOST", h.url)
    yield h
    h.stop()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHandle]:
    h = start_fake("model-runner", port=0)
    monkeypatch.setenv("MODEL_RUNNER_HOST", h.url)
    yield h
    h.stop()


def one_doc(text: str) -> dict:  # type: ignore[type-arg]
    doc = json.loads(text)
    assert doc["llmctl"] == 1
    return doc  # type: ignore[no-any-return]


# --- pull ------------------------------------------------------------------------------------


def test_pull_plain_progress_then_one_summary_line(ollama: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    code = run(["pull", "tinyllama", "--progress", "plain"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("pulled tinyllama:latest (1.1 MB, digest ")
    assert out.rstrip().endswith(f"into Ollama at {ollama.url}")
    assert out.count("\n") == 1
    lines = err.splitlines()
    assert lines[0] == f"using Ollama at {ollama.url} (OLLAMA_HOST)"
    assert lines[1] == "pulling tinyllama:latest"
    assert "pulling manifest" in lines
    assert "verifying sha256 digest" in lines and "writing manifest" in lines
    assert lines[-1] == "success"
    assert any(ln.startswith("pulling 939c56a6ae2e (1.0 MB)") for ln in lines)


def test_pull_json_is_one_result_document(ollama: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    code = run(["pull", "qwen2.5:0.5b", "--progress", "none", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    doc = one_doc(out)
    res = doc["result"]
    assert doc["ok"] is True and doc["command"] == "pull"
    assert res["model"] == "qwen2.5:0.5b" and res["backend"] == "ollama"
    assert res["endpoint"] == ollama.url and res["endpoint_source"] == "OLLAMA_HOST"
    assert len(res["digest"]) == 64 and res["size"] > 0 and res["duration_s"] >= 0
    assert err == ""


def test_pull_progress_json_is_ndjson_on_stderr(ollama: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    code = run(["pull", "smollm2:135m", "--endpoint", ollama.url, "--progress", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("pulled smollm2:135m")
    lines = err.splitlines()
    assert lines[0] == f"using Ollama at {ollama.url} (--endpoint)"
    events = [json.loads(ln) for ln in lines[1:]]
    assert all(e["event"] == "progress" and e["phase"] == "model" for e in events)
    assert events[-1]["status"] == "success" and events[-1]["done"] is True
    assert any(e.get("layer") for e in events)


def test_unknown_model_exits_7_with_the_servers_error(ollama: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    code = run(["pull", "no-such-model:1b", "--progress", "plain"])
    out, err = capsys.readouterr()
    assert code == 7
    assert out == ""
    assert ("error: model 'no-such-model:1b' not found in the registry (Ollama said: pull model "
            "manifest: file does not exist)") in err
    assert "Traceback" not in err


def test_unknown_model_json_error_envelope(ollama: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    code = run(["pull", "no-such-model", "--progress", "none", "--json"])
    out, _err = capsys.readouterr()
    doc = one_doc(out)
    assert code == 7 and doc["ok"] is False
    assert doc["error"]["type"] == "NotFoundError" and doc["error"]["exit_code"] == 7


@pytest.mark.parametrize(("model", "text"), [
    ("llmfake/stall", "B of 65.5 kB): no progress for 1 s"),
    ("llmfake/drop", "broke off at"),
    ("llmfake/nosuccess", "ended without 'success' at 100%"),
    ("llmfake/error", "failed (max retries exceeded: unexpected EOF)"),
])
def test_failed_pulls_say_why_and_that_a_rerun_resumes(ollama: FakeHandle, capsys,  # type: ignore[no-untyped-def]
                                                        model: str, text: str) -> None:
    start = time.monotonic()
    code = run(["pull", model, "--stall-timeout", "1", "--progress", "plain"])
    _out, err = capsys.readouterr()
    assert code == 1
    assert text in err
    assert "hint: Run the same `llmctl pull " in err and "resumes" in err
    assert sum(1 for ln in err.splitlines() if ln.startswith("error:")) == 1
    assert time.monotonic() - start < 10


def test_invalid_name_fails_before_any_request(capsys) -> None:  # type: ignore[no-untyped-def]
    port = closed_port()  # a request would be "connection refused" (exit 1), not exit 2
    code = run(["pull", "ns.bad/model", "--endpoint", f"http://127.0.0.1:{port}"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines()[0] == ("error: invalid model name 'ns.bad/model': the namespace "
                                   "'ns.bad' contains '.'; allowed: letters, digits, '_', '-'")
    assert "using Ollama" not in err


def test_invalid_runner_ref_names_the_component(capsys) -> None:  # type: ignore[no-untyped-def]
    code = run(["pull", "ai/smol__-lm:360M-Q4_K_M"])
    _out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: invalid model name 'ai/smol__-lm:360M-Q4_K_M': the name "
                          "component 'smol__-lm' is not")


def test_bad_options_are_usage_errors(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["pull", "x", "--progress", "bars"]) == 2
    assert "--progress 'bars' is not one of" in capsys.readouterr().err
    assert run(["pull", "x", "--stall-timeout", "0"]) == 2
    assert "--stall-timeout 0 must be more than 0" in capsys.readouterr().err
    assert run(["pull", "x", "--backend", "vllm"]) == 2
    assert run(["pull", "x", "--endpoint", "ftp://localhost:11434"]) == 2
    assert "ftp:// is not http:// or https://" in capsys.readouterr().err


def test_unreachable_ollama_says_how_to_start_it(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    code = run(["pull", "tinyllama"])
    _out, err = capsys.readouterr()
    assert code == 1
    assert "cannot reach Ollama to pull tinyllama:latest: connection refused" in err
    assert "llmctl up ollama" in err


def test_sigint_during_a_pull_exits_130_quickly(ollama: FakeHandle) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmctl", "pull", "llmfake/stall", "--endpoint", ollama.url,
         "--progress", "plain"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the pull is under way
        if "pulling manifest" in line:
            break
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=10)
    rest = proc.stderr.read()
    assert code == 130
    assert time.monotonic() - sent < 2
    assert "error: interrupted" in rest and "Traceback" not in rest


# --- Model Runner ----------------------------------------------------------------------------


def test_runner_pull_list_rm(runner: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["pull", "ai/smollm2:360M-Q4_K_M", "--progress", "plain"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("pulled ai/smollm2:360M-Q4_K_M (")
    assert f"into Docker Model Runner at {runner.url}" in out
    assert f"using Docker Model Runner at {runner.url} (MODEL_RUNNER_HOST)" in err
    assert "Model pulled successfully" in err or err.rstrip().endswith("success")

    assert run(["models", "--backend", "model-runner", "--json"]) == 0
    doc = one_doc(capsys.readouterr().out)
    names = [m["name"] for m in doc["result"]["models"]]
    assert names == ["ai/smollm2:360M-Q4_K_M"]
    assert doc["result"]["models"][0]["quantization"]

    assert run(["rm", "docker.io/ai/smollm2:360M-Q4_K_M"]) == 0
    assert capsys.readouterr().out.startswith("removed ai/smollm2:360M-Q4_K_M from Docker Model")
    assert run(["rm", "ai/smollm2:360M-Q4_K_M"]) == 7
    assert "not found" in capsys.readouterr().err


def test_runner_unknown_model_plain_text_404(runner: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    code = run(["pull", "ai/does-not-exist", "--progress", "none"])
    _out, err = capsys.readouterr()
    assert code == 7
    assert "error: model 'ai/does-not-exist' not found (Model Runner at" in err
    assert "said: Model not found)" in err


def test_runner_stall_and_error(runner: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    code = run(["pull", "llmfake/stall", "--backend", "model-runner", "--stall-timeout", "1",
                "--progress", "none"])
    assert code == 1
    assert "error: pulling llmfake/stall stalled at " in capsys.readouterr().err
    code = run(["pull", "llmfake/error", "--backend", "model-runner", "--progress", "none"])
    assert code == 1
    assert "error: pulling llmfake/error failed: " in capsys.readouterr().err


def _fake_docker(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "bin" / "docker"
    path.parent.mkdir()
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_runner_fallback_to_docker_model_cli(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from llmctl import models

    monkeypatch.setattr(models, "MODEL_RUNNER_DEFAULT_URL", f"http://127.0.0.1:{closed_port()}")
    log = tmp_path / "argv.log"
    _fake_docker(tmp_path, f"""
import json, os, sys
with open({str(log)!r}, "a") as f:
    f.write(json.dumps([sys.argv[1:], os.environ.get("MODEL_RUNNER_NO_AUTO_INSTALL")]) + "\\n")
if sys.argv[1:3] == ["model", "pull"]:
    for i in (1, 2, 3):
        print(f"Downloaded {{i}} of 3 MB", flush=True)
    print("Model pulled successfully", flush=True)
elif sys.argv[1:3] == ["model", "ls"]:
    print(json.dumps([{{"id": "sha256:" + "c" * 64, "tags": ["ai/smollm2:latest"],
                        "created": 1700000000, "config": {{"size": "256 MiB"}}}}]))
""")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    code = run(["pull", "ai/smollm2", "--progress", "plain", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    res = one_doc(out)["result"]
    assert res["via"] == "docker model" and res["digest"] == "sha256:" + "c" * 64
    assert "Downloaded 2 of 3 MB" in err
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0] == [["model", "pull", "ai/smollm2"], "1"]


def test_runner_fallback_without_the_plugin(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from llmctl import models

    monkeypatch.setattr(models, "MODEL_RUNNER_DEFAULT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    # what docker 27+ prints without the plugin: `model` unknown, or first a flag it rejects
    _fake_docker(tmp_path, "import sys\n"
                           "if '--json' in sys.argv:\n"
                           "    print('unknown flag: --json\\n\\nUsage:  docker [OPTIONS] "
                           "COMMAND [ARG...]', file=sys.stderr); sys.exit(125)\n"
                           "print('docker: unknown command: docker model', file=sys.stderr)\n"
                           "sys.exit(1)\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    code = run(["pull", "ai/smollm2", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 1
    assert "the `docker model` CLI plugin is not installed" in err
    code = run(["models"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Docker Model Runner at http://127.0.0.1:" in err
    assert "(default): Docker Model Runner is not reachable over TCP and the `docker model` CLI " \
           "plugin is not installed" in err


# --- models / rm -----------------------------------------------------------------------------


def test_models_table_and_unreachable_backend_reported(ollama: FakeHandle, capsys,  # type: ignore[no-untyped-def]
                                                       monkeypatch) -> None:
    monkeypatch.setenv("MODEL_RUNNER_HOST", f"http://127.0.0.1:{closed_port()}")
    assert run(["pull", "tinyllama", "--progress", "none"]) == 0
    capsys.readouterr()
    code = run(["models"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "BACKEND", "SIZE", "PARAMETERS", "QUANTIZATION",
                                "MODIFIED"]
    assert lines[1].split()[:5] == ["tinyllama:latest", "ollama", "1.1", "MB", "1B"]
    assert len(lines) == 2
    assert "warning: Docker Model Runner at http://127.0.0.1:" in err
    assert "(MODEL_RUNNER_HOST) did not answer: connection refused" in err


def test_ls_alias_json_lists_sources(ollama: FakeHandle, runner: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["pull", "tinyllama", "--progress", "none"]) == 0
    assert run(["pull", "ai/smollm2", "--progress", "none"]) == 0
    capsys.readouterr()
    assert run(["ls", "--json"]) == 0
    res = one_doc(capsys.readouterr().out)["result"]
    assert [(m["name"], m["backend"]) for m in res["models"]] == [
        ("ai/smollm2:latest", "model-runner"), ("tinyllama:latest", "ollama")]
    assert sorted((s["backend"], s["ok"], s["models"]) for s in res["sources"]) == [
        ("model-runner", True, 1), ("ollama", True, 1)]


def test_models_fails_only_when_nothing_answers(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("MODEL_RUNNER_HOST", f"http://127.0.0.1:{closed_port()}")
    code = run(["models", "--json"])
    doc = one_doc(capsys.readouterr().out)
    assert code == 1 and doc["ok"] is False
    assert doc["error"]["message"].startswith("no model backend answered: ")


def test_models_empty(ollama: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["models", "--backend", "ollama"]) == 0
    assert capsys.readouterr().out.startswith("no models")


def test_rm_then_rm_again_is_not_found(ollama: FakeHandle, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["pull", "tinyllama", "--progress", "none"]) == 0
    capsys.readouterr()
    assert run(["rm", "library/TinyLlama:latest", "--json"]) == 0
    res = one_doc(capsys.readouterr().out)["result"]
    assert res["model"] == "TinyLlama:latest" and res["backend"] == "ollama"
    code = run(["rm", "tinyllama"])
    out, err = capsys.readouterr()
    assert code == 7 and out == ""
    assert "error: model 'tinyllama:latest' not found at" in err
    assert "(Ollama said: model 'tinyllama:latest' not found)" in err


def test_runner_fallback_stall_kills_the_cli(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from llmctl import models

    monkeypatch.setattr(models, "MODEL_RUNNER_DEFAULT_URL", f"http://127.0.0.1:{closed_port()}")
    _fake_docker(tmp_path, "import time\nprint('Downloaded 1 of 3 MB', flush=True)\n"
                           "time.sleep(60)\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    start = time.monotonic()
    code = run(["pull", "ai/smollm2", "--stall-timeout", "0.5", "--progress", "plain"])
    err = capsys.readouterr().err
    assert code == 1
    assert "`docker model pull ai/smollm2` stalled: no new output for 0.5 s" in err
    assert time.monotonic() - start < 5


def test_models_include_configured_endpoints_of_every_kind(
    ollama: FakeHandle, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An endpoint written by `llmctl endpoint write` for a vLLM server (with a token) is a
    # source too; the Ollama one that OLLAMA_HOST already names is asked once.
    with start_fake("vllm", port=0, model="Qwen/Qwen3-0.6B", api_key="s3cret") as vllm:
        path = tmp_path / "endpoints.yaml"
        path.write_text(
            "default: v\nendpoints:\n"
            f"  v:\n    llm_type: openai-compatible\n    api_type: openai\n"
            f"    endpoint: {vllm.url}/v1\n    model: Qwen/Qwen3-0.6B\n"
            "    bearer_token: s3cret\n"
            f"  o:\n    llm_type: ollama\n    api_type: ollama\n    endpoint: {ollama.url}\n"
            "    model: tinyllama\n")
        monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(path))
        assert run(["models", "--backend", "ollama", "--json"]) == 0
        ollama_only = one_doc(capsys.readouterr().out)["result"]
        assert [s["endpoint"] for s in ollama_only["sources"]] == [ollama.url]
        assert run(["models", "--json"]) == 0
        cap = capsys.readouterr()
    doc = one_doc(cap.out)["result"]
    assert {"name": "Qwen/Qwen3-0.6B", "backend": "openai", "endpoint": vllm.url} in [
        {k: m[k] for k in ("name", "backend", "endpoint")} for m in doc["models"]]
    vsrc = [s for s in doc["sources"] if s["endpoint"] == vllm.url]
    assert vsrc and vsrc[0]["ok"] and vsrc[0]["source"] == "endpoint v"
    assert "s3cret" not in cap.out + cap.err
