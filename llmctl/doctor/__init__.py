"""`llmctl doctor`: every known way the setup goes wrong, found fast, each with the fix.

The package, by part:

- ``result``: :class:`CheckResult` (``ok | warn | fail | skip``, what was found, the fix),
  :class:`Finding` and :func:`combine` for checks with several things to say, the
  :class:`Report` of a run.
- ``env``: :class:`DoctorEnv`, everything doctor reads from the outside world (daemon,
  docker CLI, environment, HTTP, the host), memoised and thread-safe, so checks share one
  daemon connection and tests hand in an in-memory engine, a fake CLI runner and an
  environment.
- ``registry``: checks by name (:data:`CHECKS`) and :func:`run_checks`, which runs them
  concurrently, each with a deadline.
- ``checks``: the checks, one module per area, listed in the order doctor prints them.

This module only re-exports; the parts import each other, never this face. No typer or
rich here; docker and httpx are imported inside the functions that use them.
"""

from __future__ import annotations

from llmctl.doctor import checks as checks  # registers every check
from llmctl.doctor.checks.ports import PortOwner, port_owner
from llmctl.doctor.checks.proxy import no_proxy_covers, redact_url
from llmctl.doctor.env import (
    CLI_TIMEOUT,
    DAEMON_TIMEOUT,
    HTTP_TIMEOUT,
    NO_ENGINE,
    Answer,
    CliRunner,
    DoctorEnv,
    identify,
    retry_removed,
)
from llmctl.doctor.registry import (
    CHECK_TIMEOUT,
    CHECKS,
    DEFAULT_TIMEOUT,
    Check,
    check,
    check_names,
    register,
    run_checks,
    select,
)
from llmctl.doctor.result import (
    STATUSES,
    CheckResult,
    Finding,
    Report,
    SkipCheck,
    combine,
    fail,
    ok,
    skip,
    warn,
)
from llmctl.urls import parse_ollama_host

__all__ = [
    "CHECKS", "CHECK_TIMEOUT", "CLI_TIMEOUT", "DAEMON_TIMEOUT", "DEFAULT_TIMEOUT",
    "HTTP_TIMEOUT", "NO_ENGINE", "STATUSES", "Answer", "Check", "CheckResult", "CliRunner",
    "DoctorEnv", "Finding", "PortOwner", "Report", "SkipCheck", "check", "check_names",
    "checks", "combine", "fail", "identify", "no_proxy_covers", "ok", "parse_ollama_host",
    "port_owner", "redact_url", "register", "retry_removed", "run_checks", "select", "skip",
    "warn",
]
