"""What the real llama.cpp server showed (tests/integration/test_real_llamacpp.py), pinned down
without Docker: the answers below are the ones Debian's llama-server (build 11669) gave."""

from __future__ import annotations

import json

from llmctl.cli.commands.up import _wait_reporter
from llmctl.probe import Fetch, ProbeResult, classify
from llmctl.progress import ProgressEvent
from llmctl.readiness import WaitStatus


def _f(path: str, status: int, body: object) -> Fetch:
    return Fetch(path, status=status, content_type="application/json",
                 body=json.dumps(body).encode(), elapsed=0.01)


def test_probe_takes_the_llamacpp_version_from_props_build_info() -> None:
    models = {"object": "list", "data": [{"id": "SmolLM2-135M-Instruct.Q4_1",
                                          "object": "model", "owned_by": "llamacpp"}]}
    fetches = {
        "/v1/models": _f("/v1/models", 200, models),
        "/health": _f("/health", 200, {"status": "ok"}),
        "/props": _f("/props", 200, {"build_info": "b11669-Debian", "total_slots": 4}),
        "/version": _f("/version", 404, {"error": {"code": 404, "message": "File Not Found"}}),
    }
    r = classify(ProbeResult(url="http://h:8080", root="http://h:8080"), fetches)
    assert (r.server, r.status, r.version) == ("llamacpp", "ready", "b11669-Debian")
    assert r.models == ["SmolLM2-135M-Instruct.Q4_1"]


def test_probe_asks_props_only_for_the_version_of_llamacpp() -> None:
    # Another server's /props (if any) is not read as a version.
    fetches = {
        "/v1/models": _f("/v1/models", 200, {"object": "list", "data": [
            {"id": "m", "object": "model", "owned_by": "vllm"}]}),
        "/props": _f("/props", 200, {"build_info": "not-llamacpp"}),
    }
    r = classify(ProbeResult(url="http://h:8000", root="http://h:8000"), fetches)
    assert r.server == "vllm" and r.version is None


def test_json_wait_events_show_each_phase_at_once() -> None:
    """llama-server loads SmolLM2 in ~0.2 s: a "loading" phase that short used to vanish
    behind the 2 s throttle of the json wait events."""
    events: list[ProgressEvent] = []
    report = _wait_reporter("json", events.append, "llamacpp")
    report(WaitStatus(0.03, "waiting", "the connection broke while reading"))
    report(WaitStatus(0.08, "loading", "loading the model (/health: 503 Loading model)"))
    report(WaitStatus(0.13, "loading", "loading the model (/health: 503 Loading model)"))
    report(WaitStatus(2.2, "loading", "loading the model (/health: 503 Loading model)"))
    assert [e.status for e in events] == [
        "waiting for llamacpp: 0 s, the connection broke while reading",
        "waiting for llamacpp: 0 s, loading the model (/health: 503 Loading model)",
        "waiting for llamacpp: 2 s, loading the model (/health: 503 Loading model)",
    ]
    assert {e.phase for e in events} == {"wait"}


def test_plain_wait_lines_keep_their_pace() -> None:
    lines: list[ProgressEvent] = []
    report = _wait_reporter("none", lines.append, "llamacpp")
    report(WaitStatus(0.03, "loading", "x"))
    assert lines == []
