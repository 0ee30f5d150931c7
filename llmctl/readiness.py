"""Is the server really answering? HTTP from llmctl's side, at the host the port is on.

Ready means the profile's readiness route gives the expected status (and text). While
waiting, the container is watched: if it exits, fail at once with the tail of its logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from llmctl.backends.http import Deadline, describe_transport_error, make_client, snippet
from llmctl.errors import NotReadyError
from llmctl.profiles import Readiness


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_once(base_url: str, readiness: Readiness, timeout: float = 2.0) -> Check:
    import httpx

    try:
        with make_client(base_url, timeout=timeout, connect_timeout=timeout) as client:
            r = client.get(readiness.path)
    except httpx.HTTPError as exc:
        return Check(False, describe_transport_error(exc))
    if r.status_code != readiness.status:
        return Check(False, f"HTTP {r.status_code} on {readiness.path}: {snippet(r.content)!r}")
    if readiness.contains and readiness.contains not in r.text:
        return Check(False, f"{readiness.path} answered {snippet(r.content)!r}, "
                            f"not {readiness.contains!r}")
    return Check(True, f"{readiness.path} answered HTTP {r.status_code}")


def wait_ready(
    base_url: str,
    readiness: Readiness,
    *,
    timeout: float,
    container_state: Callable[[], tuple[str, int | None]] | None = None,
    logs: Callable[[], list[str]] | None = None,
    on_wait: Callable[[float, str], None] | None = None,
    interval: float = 0.25,
) -> float:
    """Poll until ready; return the seconds it took. Raises NotReadyError with logs."""
    deadline = Deadline(timeout)
    last = "no answer yet"
    while True:
        check = check_once(base_url, readiness, timeout=min(2.0, deadline.remaining()))
        if check.ok:
            return deadline.elapsed
        last = check.detail
        if container_state is not None:
            state, code = container_state()
            # "restarting" means it already crashed once: a crash loop is not "starting".
            if state not in ("running", "created"):
                raise NotReadyError(
                    f"the container {state} (exit code {code}) before the server was ready",
                    _logs_hint(logs),
                    details={"logs": logs() if logs else []},
                )
        if deadline.expired:
            raise NotReadyError(
                f"the server at {base_url} was not ready after {timeout:g} s ({last})",
                _logs_hint(logs, "Wait longer with --timeout, or look at the logs."),
                details={"logs": logs() if logs else []},
            )
        if on_wait:
            on_wait(deadline.elapsed, last)
        time.sleep(min(interval, deadline.remaining()))
        interval = min(interval * 1.5, 1.0)


def _logs_hint(logs: Callable[[], list[str]] | None, prefix: str = "") -> str:
    tail = logs() if logs else []
    if not tail:
        return prefix or "The container printed nothing."
    body = "\n  ".join(line[:200] for line in tail[-10:])
    return (prefix + " " if prefix else "") + "Last log lines:\n  " + body
