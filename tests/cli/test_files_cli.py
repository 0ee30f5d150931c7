"""The files llmctl reads and writes, as a user meets them: bad endpoint files, profiles and
token files exit with the path and the fix; a killed writer's temp file is cleaned; a lock
held by a live process is announced at once and named.

Writers and lock holders here are real processes (`python -m llmctl ...`), killed with a
real SIGKILL or holding a real lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmctl.cli.app import run

ENTRY = ("endpoints:\n  a:\n    api_type: ollama\n    endpoint: http://127.0.0.1:9\n"
         "    model: m\n")
WRITE = ["endpoint", "write", "--no-verify", "--endpoint", "http://127.0.0.1:11434",
         "--model", "qwen2.5:0.5b", "--name", "mine"]


@pytest.fixture
def ep_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cfg" / "endpoints.yaml"
    path.parent.mkdir()
    monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(path))
    monkeypatch.setattr("llmctl.cli.managed_targets.managed_targets", lambda: [])
    return path


def _one_error(err: str) -> tuple[str, str]:
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "Traceback" not in err and "This is a bug" not in err
    return lines[0], lines[1]


# --- 16: the endpoint file ---


@pytest.mark.parametrize("command", [["endpoint", "show"], ["endpoint", "list"], WRITE,
                                     ["endpoint", "remove", "a"]])
def test_endpoint_file_not_utf8_exits_3_with_the_path(
    capsys: pytest.CaptureFixture[str], ep_file: Path, command: list[str]
) -> None:
    ep_file.write_bytes(ENTRY.replace("model: m", "model: caf\xe9").encode("latin-1"))
    before = ep_file.read_bytes()
    offset = before.index(0xE9)
    assert run(command) == 3
    cap = capsys.readouterr()
    error, hint = _one_error(cap.err)
    assert error == f"error: {ep_file}: not UTF-8 text (byte 0xe9 on line 5, offset {offset})"
    assert "UTF-8" in hint and str(ep_file) in hint and "llmctl endpoint write" in hint
    assert cap.out == "" and ep_file.read_bytes() == before
    assert run([*command, "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["exit_code"] == 3 and str(ep_file) in doc["error"]["message"]


def test_empty_endpoint_file_has_no_endpoints_and_is_filled_by_a_write(
    capsys: pytest.CaptureFixture[str], ep_file: Path
) -> None:
    ep_file.write_bytes(b"")
    assert run(["endpoint", "show"]) == 7
    assert f"no endpoint configured ({ep_file} has none)" in capsys.readouterr().err
    assert run(WRITE) == 0
    assert "mine:" in ep_file.read_text() and (ep_file.stat().st_mode & 0o777) == 0o600


def test_dangling_symlink_is_refused_and_its_target_not_created(
    capsys: pytest.CaptureFixture[str], ep_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "dotfiles" / "llmctl" / "endpoints.yaml"
    ep_file.symlink_to(target)
    for command, code in ((["endpoint", "show"], 3), (WRITE, 3), (["endpoint", "list"], 3)):
        assert run(command) == code
        error, hint = _one_error(capsys.readouterr().err)
        assert error == f"error: {ep_file}: a symbolic link to {target}, which does not exist"
        assert f"touch {target}" in hint and f"rm {ep_file}" in hint
    assert not target.exists() and not target.parent.exists()
    # a link to a file that exists is written through, the link kept
    target.parent.mkdir(parents=True)
    target.write_text("# mine\n")
    assert run(WRITE) == 0
    assert ep_file.is_symlink() and "mine:" in target.read_text()
    assert target.read_text().startswith("# mine\n")


def test_a_folder_or_fifo_where_the_file_should_be_is_refused(
    capsys: pytest.CaptureFixture[str], ep_file: Path
) -> None:
    os.mkfifo(ep_file)  # reading a FIFO would block for ever
    assert run(["endpoint", "show"]) == 3
    error, _ = _one_error(capsys.readouterr().err)
    assert error == f"error: {ep_file}: not a regular file (a named pipe)"
    assert run(WRITE) == 3
    assert "not a regular file (a named pipe)" in capsys.readouterr().err
    assert ep_file.parent.joinpath("endpoints.yaml").is_fifo()


# --- 16: profiles and token files ---


def test_profile_not_utf8_and_empty_profile(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "latin.yaml").write_bytes(b"name: latin\ndescription: caf\xe9\n")
    (tmp_path / "empty.yaml").write_bytes(b"")
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    monkeypatch.setenv("LLMCTL_PROFILES_DIR", str(tmp_path))
    assert run(["up", "latin", "--dry-run"]) == 3
    error, hint = _one_error(capsys.readouterr().err)
    assert error == f"error: {tmp_path}/latin.yaml: not UTF-8 text (byte 0xe9 on line 2, " \
                    "offset 28)"
    assert "UTF-8" in hint
    assert run(["up", "empty", "--dry-run"]) == 3
    error, _ = _one_error(capsys.readouterr().err)
    assert error.startswith(f"error: {tmp_path}/empty.yaml: (top level): the file is empty")
    assert run(["up", "gone", "--dry-run"]) == 3
    error, _ = _one_error(capsys.readouterr().err)
    assert error == f"error: {tmp_path}/gone.yaml: a symbolic link to " \
                    f"{tmp_path}/nowhere.yaml, which does not exist"


def test_token_file_not_utf8_is_a_usage_error_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_bytes(b"\xff\xfet\x00o\x00k\x00")  # UTF-16, as some editors save
    assert run(["probe", "http://127.0.0.1:9", "--token-file", str(token)]) == 2
    error, _ = _one_error(capsys.readouterr().err)
    assert error == f"error: --token-file {token}: not UTF-8 text (byte 0xff on line 1, " \
                    "offset 0)"


# --- 20: every problem of a profile file ---


def test_profiles_validate_reports_every_problem_of_every_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text(textwrap.dedent("""\
        name: mine
        kind: mystery
        image: a/b:1
        container_port: 8000
        host_port: 99999
        readiness: {path: health, timeout: 0}
        gpu: maybe
        colour: blue
        """))
    other = tmp_path / "other.yaml"
    other.write_text("name: wrong\nkind: ollama\nimage: a/b\ncontainer_port: 1\nhost_port: 2\n")
    assert run(["profiles", "validate", str(bad), str(other)]) == 3
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert lines == [
        f"error: {bad}: kind: 'mystery' is not one of llamacpp, localai, ollama, openai, tgi, "
        "vllm",
        f"error: {bad}: host_port: 99999 is not a TCP port (1-65535)",
        f"error: {bad}: readiness.path: 'health' must start with /",
        f"error: {bad}: readiness.timeout: must be more than 0 seconds",
        f"error: {bad}: gpu: 'maybe' is not one of none, optional, required",
        f"error: {bad}: colour: unknown key (check the spelling)",
        f"error: {other}: name: 'wrong' must match the file name 'other'",
        f"error: {other}: image: 'a/b' has no tag: name a released tag explicitly (never a "
        "silent latest)",
        "hint: Fix the profile file, then check it with `llmctl profiles validate`.",
    ]
    assert run(["profiles", "validate", str(bad), "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    problems = doc["error"]["details"]["problems"]
    assert [p["key"] for p in problems] == ["kind", "host_port", "readiness.path",
                                            "readiness.timeout", "gpu", "colour"]
    assert problems[0] == {"file": str(bad), "key": "kind",
                           "message": "'mystery' is not one of llamacpp, localai, ollama, "
                                      "openai, tgi, vllm"}


# --- 18: a writer killed with SIGKILL ---

KILLABLE = textwrap.dedent("""\
    import os, sys, threading
    real_fsync = os.fsync
    def fsync(fd):  # the write is under way: the temp file exists, its data is written
        real_fsync(fd)
        print("writing", flush=True)
        threading.Event().wait()  # ... and here the process is killed
    os.fsync = fsync
    from llmctl.cli.app import main
    sys.argv = ["llmctl", *sys.argv[1:]]
    main()
""")


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", KILLABLE, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


def test_temp_file_of_a_killed_writer_is_removed_by_the_next_write(
    capsys: pytest.CaptureFixture[str], ep_file: Path
) -> None:
    ep_file.write_text(ENTRY)
    env = {"LLMCTL_ENDPOINTS_FILE": str(ep_file)}
    writer = _spawn(WRITE, env)
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=30) == -signal.SIGKILL
    (left,) = [p for p in ep_file.parent.iterdir() if p.name.endswith(".tmp")]
    assert left.name.startswith(".endpoints.yaml.") and ep_file.read_text() == ENTRY
    # A young temp file may belong to a writer at work: it is kept.
    assert run(WRITE) == 0
    assert left.exists()
    # A minute later (its mtime set back: the stand-in for waiting) it is debris: removed.
    old = time.time() - 120
    os.utime(left, (old, old))
    assert run(["endpoint", "write", "--no-verify", "--endpoint", "http://127.0.0.1:11435",
                "--model", "m2", "--name", "other"]) == 0
    assert not left.exists()
    assert sorted(p.name for p in ep_file.parent.iterdir()) == ["endpoints.yaml",
                                                               "endpoints.yaml.lock"]
    assert {"a:", "mine:", "other:"} <= set(ep_file.read_text().split())


def test_an_old_temp_file_still_being_written_is_kept(ep_file: Path, tmp_path: Path) -> None:
    """Old but locked: a live writer (here a slow one, stopped mid-write) still owns it."""
    other = tmp_path / "out.env"
    env = {"LLMCTL_ENDPOINTS_FILE": str(ep_file)}
    writer = _spawn(["endpoint", "show", "a", "--output", str(other)], env)
    ep_file.write_text(ENTRY)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        (tmp,) = [p for p in tmp_path.iterdir() if p.name.startswith(".out.env.")]
        old = time.time() - 120
        os.utime(tmp, (old, old))
        assert run(["endpoint", "show", "a", "--output", str(other)]) == 0
        assert tmp.exists() and other.exists()
    finally:
        writer.kill()
        writer.wait(timeout=30)


# --- 19: a lock held by a live process ---


def test_a_held_lock_is_announced_at_once_with_its_holder(
    capsys: pytest.CaptureFixture[str], ep_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ep_file.write_text(ENTRY)
    holder = _spawn(WRITE, {"LLMCTL_ENDPOINTS_FILE": str(ep_file)})  # stops holding the lock
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "writing\n"
        monkeypatch.setattr("llmctl.files.LOCK_TIMEOUT", 1.5)
        started = time.monotonic()
        assert run(["endpoint", "remove", "a"]) == 5
        took = time.monotonic() - started
        cap = capsys.readouterr()
        lines = cap.err.strip().splitlines()
        assert lines[0].startswith(f"note: {ep_file} is being written by pid {holder.pid} "
                                   "(python")  # its command line, from /proc
        assert lines[0].endswith(": waiting for it (up to 1.5 s)")
        assert lines[1] == f"error: {ep_file} is still locked by pid {holder.pid} " + \
            lines[1].split(f"pid {holder.pid} ", 1)[1]
        assert lines[2].startswith(f"hint: Let it finish and try again, or stop it: "
                                   f"`kill {holder.pid}`.")
        assert "does not help" in lines[2]
        assert 1.4 < took < 10
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # the holder is gone: its lock went with it (nothing to remove by hand)
    assert run(["endpoint", "remove", "a"]) == 0
