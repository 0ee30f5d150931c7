"""The checks by name, and the runner that gives each one a thread and a deadline.

A check is a function ``check(env) -> CheckResult`` made a :class:`Check` with a name and a
one-line description by the :func:`check` decorator, and listed, in the order doctor runs
and prints them, by ``llmctl.doctor.checks`` (:func:`register`).

:func:`run_checks` runs them concurrently, each in its own thread, with a per-check and a
total deadline: a check still running at its deadline becomes a ``fail`` that says so, and
doctor returns anyway. An exception inside a check becomes a ``fail`` with the message;
nothing raises out of :func:`run_checks` except a usage error for an unknown check name.

Why daemon threads and not a ThreadPoolExecutor: the executor's workers are joined when
the interpreter exits, so a check stuck in a blocking call (a daemon that accepts and never
answers, a CLI plugin that hangs) would keep the process alive after doctor has printed.
Each check gets a daemon thread and a :class:`concurrent.futures.Future` instead.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.result import CheckResult, Report, SkipCheck, fail, skip
from llmctl.errors import LlmctlError, UsageError

DEFAULT_TIMEOUT = 10.0  # total, seconds
CHECK_TIMEOUT = 8.0  # per check, seconds


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    fn: Callable[[DoctorEnv], CheckResult]

    def __call__(self, env: DoctorEnv) -> CheckResult:
        return self.fn(env)


CHECKS: dict[str, Check] = {}


def check(name: str, description: str) -> Callable[[Callable[[DoctorEnv], CheckResult]], Check]:
    """Make a function of DoctorEnv a named check (listed by ``llmctl.doctor.checks``)."""

    def make(fn: Callable[[DoctorEnv], CheckResult]) -> Check:
        return Check(name, description, fn)

    return make


def register(*checks: Check) -> None:
    """Add checks to the registry, in the order given (the order doctor prints)."""
    for chk in checks:
        if chk.name in CHECKS and CHECKS[chk.name] is not chk:
            raise ValueError(f"two checks named {chk.name!r}")
        CHECKS[chk.name] = chk


def check_names() -> list[str]:
    return list(CHECKS)


def select(names: Iterable[str] | None) -> list[Check]:
    """The checks to run, in registry order; an unknown name is a usage error."""
    wanted = list(dict.fromkeys(names or []))
    unknown = [n for n in wanted if n not in CHECKS]
    if unknown:
        raise UsageError(
            f"unknown check {', '.join(repr(n) for n in unknown)}",
            "Valid checks: " + ", ".join(CHECKS) + " (`llmctl doctor --list`).",
        )
    return [c for c in CHECKS.values() if not wanted or c.name in wanted]


def _run_one(chk: Check, env: DoctorEnv, fut: concurrent.futures.Future[CheckResult]) -> None:
    start = time.monotonic()
    try:
        result = chk.fn(env)
    except SkipCheck as exc:
        result = skip(exc.reason, exc.fix)
    except LlmctlError as exc:
        result = fail(exc.message, exc.hint)
    except Exception as exc:  # no check ever raises out of doctor
        result = fail(
            f"the check crashed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
            f"This is a bug in llmctl: report it with the output of "
            f"`llmctl --debug doctor --check {chk.name}`.",
        )
    fut.set_result(replace(result, name=chk.name, seconds=time.monotonic() - start))


def run_checks(
    names: Iterable[str] | None = None,
    env: DoctorEnv | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    check_timeout: float = CHECK_TIMEOUT,
) -> Report:
    """Run the checks concurrently; return within about ``timeout`` seconds whatever hangs."""
    if not timeout > 0 or not check_timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    selected = select(names)
    env = env or DoctorEnv()
    t0 = time.monotonic()
    limit = min(timeout, check_timeout)
    pending: list[tuple[Check, concurrent.futures.Future[CheckResult]]] = []
    for chk in selected:
        fut: concurrent.futures.Future[CheckResult] = concurrent.futures.Future()
        threading.Thread(target=_run_one, args=(chk, env, fut), name=f"doctor-{chk.name}",
                         daemon=True).start()
        pending.append((chk, fut))
    results = []
    for chk, fut in pending:
        try:
            results.append(fut.result(timeout=max(0.0, t0 + limit - time.monotonic())))
        except concurrent.futures.TimeoutError:
            results.append(CheckResult(
                chk.name, "fail",
                f"did not finish within {limit:g} s (something it waits on hangs: the daemon, "
                "a port or a docker CLI plugin)",
                f"Run it alone with more time: `llmctl doctor --check {chk.name} "
                f"--timeout {max(30, int(limit * 3))}`.",
                seconds=time.monotonic() - t0,
            ))
    target = env.resolved_target()
    return Report(results, time.monotonic() - t0, target.context if target else None,
                  target.host if target else None)
