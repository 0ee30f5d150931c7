"""What a person sees on a terminal, against a real engine: `status` tables keep URLs whole
at 80, 100 and 110 columns, and the readiness wait of `up` is one line updated in place.

Both run `python -m llmctl` on a real pseudo-terminal of that size (tests/terminal.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.test_backends_engine import gguf
from tests.support import publish_port as free_port
from tests.terminal import Screen, run_on_terminal

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("cols", [80, 100, 110])
def test_status_table_keeps_the_endpoint_url_whole(ollama_up, cols: int) -> None:  # type: ignore[no-untyped-def]
    instance, url = ollama_up
    res = run_on_terminal(["status"], cols=cols)
    assert res.code == 0, res.other
    lines = res.tty.splitlines()
    table = lines[:lines.index("")] if "" in lines else lines
    text = "\n".join(table)
    assert re.search(re.escape(url) + r"(\s|$)", text), text
    assert instance in text
    assert all(len(line) <= cols for line in table), text


def test_up_waits_on_one_line_updated_in_place(
    instance: str, fake_image: str, tmp_path: Path
) -> None:
    """llama.cpp answers 503 "Loading model" for 6 s: the wait is one live line saying
    elapsed / timeout and what the server said, not a new line every second."""
    res = run_on_terminal(
        ["up", "llamacpp", "--name", instance, "--port", str(free_port()), "--image",
         fake_image, "--env", "LLMFAKE_KIND=llamacpp", "--env", "LLMFAKE_LOAD_SECONDS=6",
         "--model-file", str(gguf(tmp_path)), "--timeout", "60"],
        cols=100, stream="stderr", env={"HOME": str(tmp_path), "HF_TOKEN": ""}, timeout=120)
    try:
        assert res.code == 0, res.tty
        renders = re.findall(r"waiting for llamacpp: (\d+) s / 60 s, ([^|\r\n\x1b]*)", res.tty)
        seconds = sorted({int(s) for s, _ in renders})
        assert len(seconds) >= 4, res.tty  # it counted up ...
        assert any("503 Loading model" in said for _, said in renders), res.tty
        screen = Screen().feed(res.tty)
        assert screen.used <= 2, res.tty  # ... on one line (no pull: the image is local)
        assert "waiting for" not in screen.text  # and the line is gone once it is ready
        assert f"{instance}: started" in res.other
    finally:
        run_on_terminal(["down", "llamacpp", "--name", instance], cols=100)


def test_container_log_tails_are_escaped_in_the_error_and_kept_in_json(
    instance: str, fake_image: str, tmp_path: Path
) -> None:
    """The server logs a model name holding terminal controls, then dies while loading: the
    error carries its last log lines, escaped for a person, exact in --json."""
    from tests.integration.conftest import run_cli

    evil = "evil\x1b[2J\x1b]0;owned\x07\u202etxt"
    args = ["up", "localai", "--name", instance, "--port", str(free_port()), "--image",
            fake_image, "--env", "LLMFAKE_KIND=localai", "--env", f"LLMFAKE_MODEL={evil}",
            "--env", "LLMFAKE_LOAD_SECONDS=60", "--env", "LLMFAKE_EXIT_AFTER=1",
            "--timeout", "60", "--progress", "none"]
    env = {"HOME": str(tmp_path)}
    human = run_cli(*args, env=env)
    assert human.code == 6, human.stderr
    assert "evil\\x1b[2J\\x1b]0;owned\\x07\\u202etxt" in human.stderr
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", human.stderr)
    doc = run_cli(*args, "--json", env=env).json()
    assert doc["error"]["exit_code"] == 6
    assert any(evil in line for line in doc["error"]["details"]["logs"]), doc
