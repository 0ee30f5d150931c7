"""A finished layer's bar keeps the time it took, while other layers go on (the GGUF import
shows a fast sha256 pass, then a long upload, in one block)."""

from __future__ import annotations

import io

from llmctl.cli.progress import TtyRenderer
from llmctl.progress import ProgressEvent


def test_a_finished_layer_keeps_its_time() -> None:
    now = [0.0]
    out = io.StringIO()
    tty = TtyRenderer(stream=out, clock=lambda: now[0], interval=0.0, width=120, color=False)
    with tty:
        tty(ProgressEvent("model", "computing sha256", layer="sha256", current=0, total=100))
        now[0] = 1.0
        tty(ProgressEvent("model", "computing sha256", layer="sha256", current=100, total=100,
                          done=True))
        tty(ProgressEvent("model", "uploading", layer="b179c9523d0e", current=0, total=100))
        now[0] = 9.0
        tty(ProgressEvent("model", "uploading", layer="b179c9523d0e", current=100, total=100,
                          done=True))
    last = out.getvalue().rsplit("\x1b[J", 2)[-2]
    assert "sha256 done" in last and "100 B in 1.0 s" in last
    assert "b179c9523d0e done" in last and "100 B in 8.0 s" in last
