"""The readiness wait as `llmctl up` shows it, and escaping in the progress renderers."""

from __future__ import annotations

import io

import pytest

from llmctl.cli.commands.up import _wait_reporter
from llmctl.cli.progress import PlainRenderer, TtyRenderer
from llmctl.progress import ProgressEvent
from llmctl.readiness import WaitStatus
from tests.terminal import Screen


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_tty_wait_is_one_live_line_under_the_bars() -> None:
    buf, clock = io.StringIO(), Clock()
    with TtyRenderer(stream=buf, clock=clock, width=80, color=False) as sink:
        sink(ProgressEvent("pull", "pulling manifest"))
        sink(ProgressEvent("pull", "downloading", layer="abc", current=5, total=10))
        report = _wait_reporter("tty", sink, "vllm")
        for second in range(1800):
            clock.t = float(second)
            report(WaitStatus(second, "loading", "loading the model (HTTP 503)",
                              "INFO loading weights " + "x" * 200, 1800.0))
        screen = Screen().feed(buf.getvalue())
        assert screen.lines[-2].startswith("waiting for vllm: 1799 s / 1800 s, loading the")
        assert len(screen.lines[-2]) <= 79  # cut to the width: a wrapped line could not be
        assert screen.used == 3  # redrawn in place; manifest, layer, wait line
    assert "waiting" not in Screen().feed(buf.getvalue()).text  # erased once over


def test_plain_wait_lines_are_sparse_and_say_what_changed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = _wait_reporter("plain", None, "vllm")
    for tick in range(0, 18000):  # 1800 s, ten looks a second
        t = tick / 10
        detail = "connection refused" if t < 600 else "HTTP 503 on /health: 'loading'"
        report(WaitStatus(t, "loading", detail, "", 1800.0))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) <= 62, lines
    assert lines[0].startswith("waiting for vllm: 2 s / 1800 s, connection refused")
    assert any(line.startswith("waiting for vllm: 600 s / 1800 s, HTTP 503") for line in lines)


def test_a_fast_server_prints_no_wait_line(capsys: pytest.CaptureFixture[str]) -> None:
    report = _wait_reporter("plain", None, "ollama")
    for tick in range(15):
        report(WaitStatus(tick / 10, "waiting", "connection refused", "", 120.0))
    assert capsys.readouterr().err == ""


def test_renderers_escape_what_the_server_says() -> None:
    evil = "pulling \x1b[2J\x1b]0;x\x07\u202egnp"
    plain = io.StringIO()
    PlainRenderer(stream=plain)(ProgressEvent("pull", evil))
    tty = io.StringIO()
    with TtyRenderer(stream=tty, width=100, color=False) as sink:
        sink(ProgressEvent("pull", evil))
        sink(ProgressEvent("pull", evil, layer="l\x1b[31m", current=1, total=2))
        sink.status("waiting: " + evil)
    assert plain.getvalue() == "pulling \\x1b[2J\\x1b]0;x\\x07\\u202egnp\n"
    drawn = tty.getvalue()
    for raw in ("\x1b[2J", "\x1b]0", "\x07", "\u202e", "\x1b[31m"):
        assert raw not in drawn
    assert "pulling \\x1b[2J" in drawn and "l\\x1b[31m" in drawn
