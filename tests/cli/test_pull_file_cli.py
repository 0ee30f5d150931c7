"""`llmctl pull PATH.gguf [--name NAME]` as a user sees it: exit codes, one summary line or
one JSON document on stdout, progress on stderr, Ctrl-C with nothing half-made on the server.

Real HTTP on loopback against tests/fakes/llmfake (it stands in for Ollama's create-from-file
API and for Docker Model Runner's load/tag routes). The Model Runner import goes through the
REAL docker CLI, which runs tests/fakes/plugins/docker-model (the stand-in for the `docker
model` plugin) from a private DOCKER_CONFIG. The Docker engine is made unreachable so no
managed container is found and the endpoint comes from OLLAMA_HOST / MODEL_RUNNER_HOST /
--endpoint. The synthetic GGUF files (tests/ggufgen.py) are small; the real SmolLM2 file is
imported in tests/integration/test_pull_file_engine.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmctl.cli.app import run
from llmctl.progress import human_size
from tests.fakes.llmfake import FakeHandle, start_fake
from tests.ggufgen import write_gguf
from tests.support import closed_port, need_docker_cli

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "tests" / "fakes" / "plugins"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("MODEL_RUNNER_HOST", raising=False)
    monkeypatch.setenv("LLMCTL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHandle]:
    h = start_fake("ollama", port=0)
    monkeypatch.setenv("OLLAMA_HOST", h.url)
    yield h
    h.stop()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_gguf(tmp_path / "Tiny-Chat.Q4_1.gguf", data_bytes=1 << 20)


def one_doc(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    assert doc["llmctl"] == 1
    return dict(doc)


def tags(h: FakeHandle) -> list[str]:
    return [m["name"] for m in httpx.get(h.url + "/api/tags").json()["models"]]


def test_import_plain_progress_then_one_summary_line(ollama: FakeHandle, tiny: Path,
                                                     capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tiny.parent)
    assert run(["pull", "./Tiny-Chat.Q4_1.gguf", "--progress", "plain"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1
    assert out.startswith(f"imported Tiny-Chat.Q4_1.gguf as tiny-chat.q4_1:latest (named after "
                          f"the file; --name NAME chooses another) into Ollama at {ollama.url}: ")
    lines = err.splitlines()
    size = human_size(tiny.stat().st_size)
    assert lines[0] == f"importing {tiny} into Ollama at {ollama.url} (OLLAMA_HOST)"
    assert lines[1] == f"computing sha256 ({size})"
    assert lines[2].startswith(f"sha256: done ({size} in ")
    assert any(ln.endswith(f": uploading ({size})") for ln in lines)
    assert "parsing GGUF" in lines and "writing manifest" in lines and lines[-1] == "success"
    assert tags(ollama) == ["tiny-chat.q4_1:latest"]


def test_import_json_is_one_document_and_progress_json_is_ndjson(
        ollama: FakeHandle, tiny: Path, capsys: Any) -> None:
    assert run(["pull", f"file://{tiny}", "--name", "tiny:q4", "--progress", "json",
                "--json"]) == 0
    out, err = capsys.readouterr()
    res = one_doc(out)["result"]
    assert (res["model"], res["name_from"], res["backend"], res["endpoint"]) == (
        "tiny:q4", "--name", "ollama", ollama.url)
    assert res["file"] == str(tiny) and res["file_size"] == tiny.stat().st_size
    assert len(res["digest"]) == 64 and res["uploaded"] is True and res["hashed"] is True
    events = [json.loads(ln) for ln in err.splitlines()[1:]]
    upload = [e for e in events if e.get("status") == "uploading"]
    assert upload[0]["total"] == tiny.stat().st_size and upload[-1]["done"] is True
    assert events[-1]["status"] == "success"
    # again: nothing hashed (cached digest), nothing uploaded (the server has the blob)
    assert run(["pull", str(tiny), "--name", "tiny:q4", "--progress", "none", "--json"]) == 0
    again = one_doc(capsys.readouterr().out)["result"]
    assert (again["hashed"], again["uploaded"], again["existed"], again["replaced"]) == (
        False, False, True, False)
    assert run(["pull", str(tiny), "--name", "tiny:q4", "--progress", "none"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(
        "(the server had the file's blob already; the same model was there already)")


def test_missing_or_unreadable_file_is_a_usage_error_before_any_request(
        capsys: Any, monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.chdir(tmp_path)
    assert run(["pull", "./nope.gguf"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[0] == "error: ./nope.gguf: no such file"
    (tmp_path / "notes.gguf").write_text("<html>not a model</html>")
    assert run(["pull", "notes.gguf", "--json"]) == 2
    doc = one_doc(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 2
    assert "is not a GGUF file (it looks like an HTML or XML page" in doc["error"]["message"]


def test_a_registry_name_stays_a_registry_pull(ollama: FakeHandle, tmp_path: Path,
                                               capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    write_gguf(tmp_path / "tinyllama")  # a file named like the model changes nothing
    assert run(["pull", "tinyllama", "--progress", "none"]) == 0
    assert capsys.readouterr().out.startswith("pulled tinyllama:latest (")
    assert run(["pull", "tinyllama", "--name", "x"]) == 2
    assert "--name is for importing a GGUF file" in capsys.readouterr().err


@pytest.mark.parametrize(("backend", "says"), [
    ("llamacpp", "hint: Run: llmctl up llamacpp --model-file {file}"),
    ("vllm", "the vllm profile takes no --model-file (it loads models by name: --model NAME)"),
    ("tgi", "the tgi profile takes no --model-file"),
    ("nosuch", "error: --backend 'nosuch' is not ollama, model-runner or a profile name"),
])
def test_servers_that_take_files_at_start_say_how(tiny: Path, capsys: Any, backend: str,
                                                  says: str) -> None:
    assert run(["pull", str(tiny), "--backend", backend]) == 2
    assert says.format(file=tiny) in capsys.readouterr().err


def test_options_that_do_not_apply(tiny: Path, capsys: Any) -> None:
    assert run(["pull", str(tiny), "--insecure"]) == 2
    assert "--insecure is for pulls from a registry" in capsys.readouterr().err
    assert run(["pull", str(tiny), "--stall-timeout", "0"]) == 2


def test_write_endpoint_after_an_import(ollama: FakeHandle, tiny: Path, capsys: Any,
                                        tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "endpoints.yaml"
    monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(path))
    assert run(["pull", str(tiny), "--name", "tiny", "--write-endpoint", "--progress",
                "none"]) == 0
    assert "wrote endpoint" in capsys.readouterr().err
    import yaml

    doc = yaml.safe_load(path.read_text())
    entry = doc["endpoints"][doc["default"]]
    assert entry["model"] == "tiny:latest" and entry["endpoint"].startswith(ollama.url)


def _interrupt(args: list[str], env: dict[str, str], ready: Any) -> tuple[int, str]:
    """Run `python -m llmctl ARGS`, send SIGINT once ``ready(stderr so far)`` is true."""
    import threading

    proc = subprocess.Popen(
        [sys.executable, "-m", "llmctl", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **env},
    )
    assert proc.stderr is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        wait_for(lambda: ready("".join(seen)) or proc.poll() is not None)
        assert proc.poll() is None, f"llmctl ended before the interrupt: {''.join(seen)}"
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    return code, "".join(seen)


def wait_for(probe: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_ctrl_c_during_the_upload_leaves_nothing(tmp_path: Path) -> None:
    big = write_gguf(tmp_path / "big.gguf", data_bytes=8 << 20)
    with start_fake("ollama", port=0, upload_delay=0.3) as h:
        blobs = Path(h.data_dir) / "models" / "blobs"

        def partial() -> list[Path]:  # the server's temporary file while it reads the body
            return [p for p in blobs.glob("sha256-*") if len(p.name) != 71]

        code, err = _interrupt(["pull", str(big), "--endpoint", h.url, "--progress", "plain"],
                               {"LLMCTL_CACHE_DIR": str(tmp_path / "c")},
                               lambda _err: blobs.is_dir() and partial())
        assert code == 130
        assert "error: interrupted" in err and "Traceback" not in err
        # the server saw the connection drop and removed its temporary file
        wait_for(lambda: not partial())
        assert list(blobs.iterdir()) == []
        assert tags(h) == []


def test_ctrl_c_while_creating_leaves_no_model(tmp_path: Path, tiny: Path) -> None:
    with start_fake("ollama", port=0, create_delay=0.5) as h:
        code, err = _interrupt(["pull", str(tiny), "--endpoint", h.url, "--progress", "plain"],
                               {"LLMCTL_CACHE_DIR": str(tmp_path / "c")},
                               lambda err: "parsing GGUF" in err)
        assert code == 130
        assert "error: interrupted" in err and "Traceback" not in err
        assert wait_for(lambda: h.app.create_ends) == ["client gone"]  # type: ignore[attr-defined]
        assert tags(h) == []


# --- Docker Model Runner through the `docker model` plugin ---------------------------------


def docker_config(tmp_path: Path, *, plugin: bool) -> Path:
    root = tmp_path / "docker-config"
    (root / "cli-plugins").mkdir(parents=True)
    if plugin:
        os.symlink(PLUGINS / "docker-model", root / "cli-plugins" / "docker-model")
    (root / "fake-docker-state.json").write_text("{}")
    return root


def test_model_runner_import_through_docker_model_package(tiny: Path, tmp_path: Path,
                                                          capsys: Any, monkeypatch: Any
                                                          ) -> None:
    need_docker_cli()
    config = docker_config(tmp_path, plugin=True)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    with start_fake("model-runner", port=0) as runner:
        monkeypatch.setenv("MODEL_RUNNER_HOST", runner.url)
        code = run(["pull", str(tiny), "--backend", "model-runner", "--progress", "plain"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.startswith(f"imported Tiny-Chat.Q4_1.gguf as ai/tiny-chat.q4_1:latest (named "
                              f"after the file; --name NAME chooses another) into Docker Model "
                              f"Runner at {runner.url} via `docker model package`: ")
        assert f"running docker model package --gguf {tiny} ai/tiny-chat.q4_1:latest" in err
        assert "Loading model to Model Runner..." in err and "Model loaded successfully" in err
        assert f"gguf: transferring ({human_size(tiny.stat().st_size)}" in err
        listed = httpx.get(runner.url + "/models").json()
        assert [m["tags"] for m in listed] == [["ai/tiny-chat.q4_1:latest"]]
        assert listed[0]["config"]["quantization"] == "Q4_1"
        assert run(["pull", str(tiny), "--backend", "model-runner", "--name", "MyOrg/Tiny:q4",
                    "--progress", "none", "--json"]) == 0
        res = one_doc(capsys.readouterr().out)["result"]
        assert (res["model"], res["via"]) == ("myorg/tiny:q4", "docker model")
        by_tag = {t: m["id"] for m in httpx.get(runner.url + "/models").json()
                  for t in m.get("tags", [])}
        assert by_tag.keys() == {"ai/tiny-chat.q4_1:latest", "myorg/tiny:q4"}
        assert res["digest"] == by_tag["myorg/tiny:q4"]
    calls = [json.loads(line) for line in (config / "calls.jsonl").read_text().splitlines()]
    assert [c["args"] for c in calls] == [
        ["package", "--gguf", str(tiny), "ai/tiny-chat.q4_1:latest"],
        ["package", "--gguf", str(tiny), "myorg/tiny:q4"]]
    assert all(c["env"]["MODEL_RUNNER_NO_AUTO_INSTALL"] == "1" for c in calls)


def test_model_runner_without_the_plugin_says_what_to_run(tiny: Path, tmp_path: Path,
                                                          capsys: Any, monkeypatch: Any) -> None:
    need_docker_cli()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path, plugin=False)))
    monkeypatch.setenv("MODEL_RUNNER_HOST", f"http://127.0.0.1:{closed_port()}")
    assert run(["pull", str(tiny), "--backend", "model-runner", "--name", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "error: importing into Docker Model Runner needs the `docker model` CLI plugin: " \
           "the `docker model` command is not available" in err
    assert f"Then run: docker model package --gguf {tiny} ai/tiny:latest" in err


def test_model_runner_not_running_is_explained(tiny: Path, tmp_path: Path, capsys: Any,
                                               monkeypatch: Any) -> None:
    need_docker_cli()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path, plugin=True)))
    monkeypatch.setenv("MODEL_RUNNER_HOST", f"http://127.0.0.1:{closed_port()}")
    assert run(["pull", str(tiny), "--backend", "model-runner", "--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert "error: `docker model package` failed (exit 1): " in err
    assert "hint: Start it (`llmctl up model-runner`) and run the import again." in err


@pytest.mark.parametrize("group", [True, False], ids=["terminal-ctrl-c", "sigint-to-llmctl"])
def test_ctrl_c_during_docker_model_package_leaves_no_model(tmp_path: Path, group: bool
                                                            ) -> None:
    """A terminal's Ctrl-C reaches the whole foreground process group: llmctl, the docker CLI
    and the plugin; a SIGINT to llmctl alone makes it kill the docker CLI, whose plugin socket
    then closes and the plugin cancels (docker/cli cli-plugins/socket). Either way the
    runner's load breaks off and stores nothing. The file is larger than what loopback socket
    buffers hold, so the upload is really cut short (a body already sent whole would be
    stored, untagged, by a real runner too: docs/models.md)."""
    need_docker_cli()
    big = write_gguf(tmp_path / "big.gguf", data_bytes=48 << 20)
    config = docker_config(tmp_path, plugin=True)
    with start_fake("model-runner", port=0, upload_delay=0.3) as runner:
        blobs = Path(runner.data_dir) / "blobs" / "sha256"
        env = {**os.environ, "DOCKER_CONFIG": str(config), "MODEL_RUNNER_HOST": runner.url,
               "LLMCTL_CACHE_DIR": str(tmp_path / "c")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmctl", "pull", str(big), "--backend", "model-runner",
             "--progress", "plain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=ROOT, env=env, start_new_session=True)
        try:
            wait_for(lambda: blobs.is_dir() and list(blobs.glob(".load-*")))
            if group:
                os.killpg(proc.pid, signal.SIGINT)
            else:
                proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()

        def group_gone() -> bool:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return True
            return False

        assert proc.returncode == 130, err
        assert "error: interrupted" in err and "Traceback (most recent call last)" not in \
            err.split("error: interrupted")[-1]
        wait_for(group_gone, timeout=30)  # the docker CLI and the plugin are gone too
        wait_for(lambda: not list(blobs.glob(".load-*")), timeout=30)
        assert httpx.get(runner.url + "/models").json() == []
