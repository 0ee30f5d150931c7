"""`llmctl up` / `down` against bad or dangerous input, as a user sees it, without Docker
(the daemon address refuses connections): host folders for --volume, secrets given with
--env, names and model references, and validation before any contact with the engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmctl.cli.app import run
from tests.support import refused_daemon

SECRET = "s3cr3t-Value-9f8e7d"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    work = tmp_path / "work" / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return home


def dead() -> list[str]:
    return ["--host", refused_daemon()]


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run([*args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("warning:")]


# --- 1. --volume: host folders are explicit, never the system or the whole home --------------

TO_ROOT = "/".join([".."] * 40)  # enough ".." to climb from any folder to "/"


@pytest.mark.parametrize(("volume", "shown"), [
    (f"{TO_ROOT}/etc", "/etc, a system folder"),
    ("/etc", "is /etc, a system folder"),
    ("/etc/ssl", "is inside /etc, a system folder"),
    ("/", "is the host's root folder"),
    ("/usr", "a system folder"),
    ("/var/run", "a system folder"),
    ("/var", "holds /var/run"),
    ("/proc", "a system folder"),
    ("~", "is your whole home folder"),
])
def test_dangerous_host_folder_is_refused_without_yes(
    capsys: pytest.CaptureFixture[str], volume: str, shown: str
) -> None:
    for extra in (["--dry-run"], ["--dry-run", "--json"], []):
        code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", volume, *extra)
        assert code == 2, err
        if "--json" in extra:
            doc = json.loads(out)
            assert doc["ok"] is False and shown in doc["error"]["message"]
            assert "--yes" in doc["error"]["hint"]
            continue
        assert out == ""
        first, hint = errors(err)[:2]
        assert first.startswith(f"error: --volume {volume}") and shown in first
        assert "read-write" in first
        assert hint.startswith("hint: ") and "--yes" in hint and "named volume" in hint
        # Refused before the engine was contacted: no "planning without the engine".
        assert "planning without the engine" not in err


def test_docker_socket_folder_and_its_parents_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sock_dir = tmp_path / "run" / "docker"
    sock_dir.mkdir(parents=True)
    host = ["--host", f"unix://{sock_dir}/docker.sock"]
    for folder in (sock_dir, sock_dir.parent):
        code, out, err = call(capsys, *host, "up", "ollama", "--volume", str(folder),
                              "--dry-run")
        assert code == 2 and out == "", err
        assert "the folder of the Docker socket" in errors(err)[0]


def test_yes_confirms_a_system_folder_and_the_plan_says_read_write(
    capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", "/etc", "--yes",
                          "--dry-run")
    assert code == 0, err
    assert "# host folder /etc -> /root/.ollama (read-write)" in out.splitlines()
    assert "warning: mounting the host folder /etc read-write (is /etc, a system folder)" in err
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", "/etc", "--yes",
                          "--dry-run", "--json")
    assert code == 0
    spec = json.loads(out)["result"]["spec"]
    assert spec["mounts"] == [{"source": "/etc", "target": "/root/.ollama",
                               "read_only": False}]


def test_relative_folder_is_resolved_and_shown(capsys: pytest.CaptureFixture[str]) -> None:
    Path("data").mkdir()
    here = Path.cwd().resolve()
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", "./data", "--dry-run")
    assert code == 0, err
    assert f"# host folder {here}/data -> /root/.ollama (read-write)" in out.splitlines()
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", "../b/data",
                          "--dry-run", "--json")
    assert code == 0, err
    spec = json.loads(out)["result"]["spec"]
    assert spec["volumes"] == []
    assert spec["mounts"] == [{"source": f"{here}/data", "target": "/root/.ollama",
                               "read_only": False}]


def test_bare_name_is_a_volume_and_a_folder_of_that_name_is_pointed_out(
    capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", "data", "--dry-run",
                          "--json")
    assert code == 0, err
    spec = json.loads(out)["result"]["spec"]
    assert spec["volumes"] == [{"name": "data", "target": "/root/.ollama"}]
    assert spec["mounts"] == [] and "./data" not in err
    Path("data").mkdir()
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", "data", "--dry-run",
                          "--json")
    assert code == 0, err
    assert json.loads(out)["result"]["spec"]["volumes"] == [
        {"name": "data", "target": "/root/.ollama"}]
    assert ("warning: --volume data is a named Docker volume, not the folder ./data here; "
            "write --volume ./data to mount that folder") in err


@pytest.mark.parametrize(("volume", "needle"), [
    ("a/b", "is neither a volume name nor a folder written as /path, ~/path or ./path"),
    ("./missing", "no such folder"),
    ("", "--volume is empty"),
    ("da\u202eta", "U+202E"),
])
def test_unclear_or_missing_volume_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], volume: str, needle: str
) -> None:
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", volume, "--dry-run")
    assert code == 2 and out == ""
    assert needle in errors(err)[0]
    assert "\u202e" not in err


# --- 4. --env secrets are masked everywhere -------------------------------------------------

def test_env_secrets_are_masked_in_dry_run_human_and_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_DB_PASSWORD", SECRET + "-pw")
    args = [*dead(), "up", "vllm", "--model", "Qwen/Qwen3-0.6B",
            "-e", f"HF_TOKEN={SECRET}-hf", "-e", f"Api_Key={SECRET}-key",
            "-e", f"MY_SECRET_SAUCE={SECRET}-sauce", "-e", "MY_DB_PASSWORD",
            "-e", "VLLM_LOGGING_LEVEL=DEBUG", "--dry-run"]
    code, out, err = call(capsys, *args, "--json")
    assert code == 0, err
    assert SECRET not in out + err
    spec = json.loads(out)["result"]["spec"]
    assert spec["secrets"] == {"HF_TOKEN": "***", "Api_Key": "***",
                               "MY_SECRET_SAUCE": "***", "MY_DB_PASSWORD": "***"}
    assert spec["env"] == {"VLLM_LOGGING_LEVEL": "DEBUG"}
    assert not any(SECRET in v for v in spec["labels"].values())
    # A secret typed on the command line gets a warning (ps, shell history); one taken
    # from the environment (-e KEY) does not.
    assert "warning: --env HF_TOKEN=...: a secret on the command line" in err
    assert "--env MY_DB_PASSWORD=..." not in err
    code, out, err = call(capsys, *args)
    assert code == 0, err
    assert SECRET not in out + err
    assert "HF_TOKEN: '***'" in out and "VLLM_LOGGING_LEVEL: DEBUG" in out


def test_a_bad_env_item_never_echoes_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, *dead(), "up", "ollama", "-e", f"MY KEY={SECRET}",
                          "--dry-run", "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["error"]["message"] == "--env 'MY KEY=***' is not KEY=VALUE (or KEY, taken " \
                                      "from the environment)"
    assert SECRET not in out + err


# --- 13/14. names and models: checked first, against what the server accepts ------------------

@pytest.mark.parametrize(("args", "needle"), [
    (["up", "ollama", "--name", "a/b"], "--name 'a/b' is not a valid name"),
    (["up", "ollama", "--name", ""], "--name is empty"),
    (["up", "ollama", "--name", "../x"], "--name '../x' is not a valid name"),
    (["up", "ollama", "--name", "ok\u202ex"], "U+202E"),
    (["down", "--name", "a/b"], "--name 'a/b' is not a valid name"),
    (["down", "ollama", "--name", ""], "--name is empty"),
    (["down", "../etc"], "PROFILE '../etc' is not a valid name"),
    (["up", "vllm", "--model", "../../etc/passwd"], "contains '..'"),
    (["up", "vllm", "--model", "https://evil.example/x"], "is a URL, not a model name"),
    (["up", "tgi", "--model", "org/mo\x1bdel"], "U+001B"),
    (["up", "tgi", "--model", "org/mo\u202edel"], "U+202E"),
    (["up", "vllm", "--model", ""], "--model is empty"),
    (["up", "vllm", "--model", "a/b/c"], "is not a Hugging Face repo id"),
    (["up", "llamacpp", "--model", "only-a-name"], "is not a Hugging Face repo id"),
    (["up", "llamacpp", "--model", "org/repo:Q4 K"], "contains whitespace"),
    (["up", "localai", "--model", "http://plain.example/m.yaml"], "may not use 'http://'"),
    (["up", "localai", "--model", "file:///etc/passwd"], "may not use 'file://'"),
    (["up", "localai", "--model", "../../x"], "is not a LocalAI model name"),
])
def test_bad_names_and_models_are_usage_errors_before_docker(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    # The daemon address refuses connections: a check that came after contacting Docker
    # would exit 4 (engine unavailable) instead of 2.
    for extra in ([], ["--dry-run"] if args[0] == "up" else []):
        code, out, err = call(capsys, *dead(), *args, *extra)
        assert code == 2, err
        assert out == ""
        first = errors(err)[0]
        assert first.startswith("error: ") and needle in first, first
        assert "\x1b" not in err and "\u202e" not in err


@pytest.mark.parametrize(("args", "model"), [
    (["up", "vllm"], "Qwen/Qwen3-0.6B"),
    (["up", "tgi"], "HuggingFaceTB/SmolLM2-360M-Instruct"),
    (["up", "llamacpp"], "ggml-org/SmolLM2-360M-Instruct-GGUF:Q4_K_M"),
    (["up", "localai"], "llama-3.2-1b-instruct:q4_k_m"),
    (["up", "localai"], "huggingface://TheBloke/x-GGUF/x.Q4_K_M.gguf"),
    (["up", "localai"], "localai@phi-2"),
])
def test_good_models_are_accepted(capsys: pytest.CaptureFixture[str], args: list[str],
                                  model: str) -> None:
    code, out, err = call(capsys, *dead(), *args, "--model", model, "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["result"]["spec"]["model"] == model


def test_model_file_name_that_looks_like_an_option_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "-rf.gguf"
    f.write_bytes(b"GGUF")
    code, out, err = call(capsys, *dead(), "up", "llamacpp", "--model-file", str(f),
                          "--dry-run")
    assert code == 2 and out == ""
    assert "starts with '-'" in errors(err)[0]


@pytest.mark.parametrize(("args", "needle"), [
    (["--model", "../../x"], "contains '..'"),
    (["--model", "http://evil.example/m"], "is a URL"),
    (["--model", ""], "--model is empty"),
    (["--model", "m\u202e"], "U+202E"),
])
def test_chat_model_is_checked_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    # The endpoint refuses connections: reaching it would be exit 1, not 2.
    url = refused_daemon().replace("tcp://", "http://") + "/v1"
    code, out, err = call(capsys, "chat", "--endpoint", url, *args, "hello")
    assert code == 2 and out == "", err
    assert needle in errors(err)[0]


def test_chat_model_follows_the_ollama_grammar_on_the_ollama_api(
    capsys: pytest.CaptureFixture[str]
) -> None:
    url = refused_daemon().replace("tcp://", "http://")
    code, out, err = call(capsys, "chat", "--endpoint", url, "--api", "ollama",
                          "--model", "llama3@sha256:ZZZ", "hello")
    assert code == 2 and out == "", err
    assert "the digest 'sha256:ZZZ' is not sha256: and 64 lower-case hex digits" in err


@pytest.mark.parametrize(("args", "needle"), [
    (["--name", ""], "--name is empty"),
    (["--name", "a/b"], "--name 'a/b' is not a valid endpoint name"),
    (["--name", "x\u202e"], "U+202E"),
    (["--model", "../x"], "contains '..'"),
    (["--model", ""], "--model is empty"),
    (["--api", "ollama", "--model", "bad!name"], "contains '!'"),
])
def test_endpoint_write_checks_name_and_model_before_writing(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str,
    _isolated_config: Path
) -> None:
    url = refused_daemon().replace("tcp://", "http://")
    code, out, err = call(capsys, "endpoint", "write", "--endpoint", url, "--no-verify",
                          *args)
    assert code == 2 and out == "", err
    assert needle in errors(err)[0]
    assert not [p for p in _isolated_config.rglob("*") if p.is_file()]  # nothing written


# --- 12. Ollama digests ---------------------------------------------------------------------

@pytest.mark.parametrize("digest", ["sha256:ZZZ", "sha256:" + "a" * 63, "sha256:" + "A" * 64,
                                    "sha512:" + "a" * 64, "sha256:" + "a" * 65])
def test_pull_with_a_malformed_digest_is_refused_before_sending(
    capsys: pytest.CaptureFixture[str], digest: str
) -> None:
    url = refused_daemon().replace("tcp://", "http://")
    code, out, err = call(capsys, "pull", f"llama3@{digest}", "--endpoint", url)
    assert code == 2 and out == "", err
    assert "is not sha256: and 64 lower-case hex digits" in errors(err)[0]


def test_env_key_alone_takes_the_value_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_DEBUG", "1")
    code, out, err = call(capsys, *dead(), "up", "ollama", "-e", "OLLAMA_DEBUG", "--dry-run",
                          "--json")
    assert code == 0, err
    assert json.loads(out)["result"]["spec"]["env"]["OLLAMA_DEBUG"] == "1"
    monkeypatch.delenv("OLLAMA_DEBUG")
    code, out, err = call(capsys, *dead(), "up", "ollama", "-e", "OLLAMA_DEBUG", "--dry-run")
    assert code == 2
    assert "OLLAMA_DEBUG is not set in the environment" in errors(err)[0]


def test_home_folder_itself_but_not_inside_it(capsys: pytest.CaptureFixture[str],
                                              _home: Path) -> None:
    (_home / "models").mkdir()
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", "~/models",
                          "--dry-run")
    assert code == 0, err
    assert f"# host folder {_home.resolve()}/models -> /root/.ollama (read-write)" in \
        out.splitlines()
    code, out, err = call(capsys, *dead(), "up", "ollama", "--volume", str(_home.parent),
                          "--dry-run")
    assert code == 2
    assert "holds your home folder" in errors(err)[0]
    assert os.environ["HOME"] == str(_home)
