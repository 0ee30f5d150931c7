"""The suite cannot pass by testing nothing: the Docker tests are counted at the end of every
run, and with LLMCTL_REQUIRE_DOCKER=1 a run where one of them did not run fails.

Each test here runs a small pytest session in a subprocess with the suite's own conftest
(tests/conftest.py) loaded as a plugin, and looks at its exit status, its last lines and the
LLMCTL_TEST_SUMMARY file. No Docker needed: the inner tests only carry the marker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

INNER = '''
import pytest

pytestmark = pytest.mark.docker

def test_runs():
    assert True

def test_skips():
    pytest.skip("no engine here")

@pytest.mark.skip(reason="skipped by marker")
def test_marked():
    pass
'''


def run_inner(tmp_path: Path, source: str, **env: str) -> tuple[int, str, dict[str, Any]]:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text(source)
    (inner / "pytest.ini").write_text("[pytest]\nmarkers =\n    docker: a Docker test\n")
    summary = tmp_path / "summary.json"
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("LLMCTL_REQUIRE_DOCKER", "LLMCTL_TEST_SUMMARY", "PYTEST_ADDOPTS")}
    full_env.update(LLMCTL_TEST_SUMMARY=str(summary), **env)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "-c", str(inner / "pytest.ini"), "--rootdir", str(inner),
         "--basetemp", str(tmp_path / "basetemp"), "-q", str(inner)],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120, check=False)
    doc = json.loads(summary.read_text())["docker"] if summary.exists() else {}
    return proc.returncode, proc.stdout, doc


def test_the_last_lines_count_docker_tests_and_say_why_they_skipped(tmp_path: Path) -> None:
    code, out, doc = run_inner(tmp_path, INNER)
    assert code == 0, out
    assert ("docker tests: 3 collected, 1 ran (1 passed, 0 failed), 2 skipped: "
            "1 x no engine here; 1 x skipped by marker") in out
    assert doc == {"collected": 3, "ran": 1, "passed": 1, "failed": 0, "errors": 0,
                   "skipped": 2, "not_run": 0,
                   "skip_reasons": {"no engine here": 1, "skipped by marker": 1}}


def test_required_docker_fails_a_run_where_a_docker_test_skipped(tmp_path: Path) -> None:
    # Even a skip that does not go through tests.support.need fails the run in CI.
    code, out, doc = run_inner(tmp_path, INNER, LLMCTL_REQUIRE_DOCKER="1")
    assert code == 1, out
    assert "LLMCTL_REQUIRE_DOCKER=1: every Docker test must run; this run fails" in out
    assert doc["ran"] == 1 and doc["collected"] == 3


def test_required_docker_passes_when_every_docker_test_ran(tmp_path: Path) -> None:
    source = "import pytest\n\n@pytest.mark.docker\ndef test_a():\n    pass\n\n" \
             "def test_not_docker():\n    pass\n"
    code, out, doc = run_inner(tmp_path, source, LLMCTL_REQUIRE_DOCKER="1")
    assert code == 0, out
    assert "docker tests: 1 collected, 1 ran (1 passed, 0 failed), 0 skipped" in out
    assert (doc["collected"], doc["ran"], doc["skipped"]) == (1, 1, 0)
