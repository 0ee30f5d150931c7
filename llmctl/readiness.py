"""Is the server really answering? HTTP from llmctl's side, at the host the port is on.

Ready means the profile's readiness route gives the expected status (and text) and, for
OpenAI-compatible servers, that ``/v1/models`` lists the requested model. While waiting, the
container is watched: if it exits, fail at once with the tail of its logs.

What "still loading" looks like differs per server (reference/server-apis.md §3-§7): vLLM
and TGI refuse connections until the model is loaded; llama.cpp answers 503 "Loading
model" on /health (and 200 on /v1/models even then, so that alone proves nothing); newer
LocalAI answers 503 on /readyz during its startup preload.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmctl.backends.http import Deadline, describe_transport_error, make_client, snippet
from llmctl.errors import NotReadyError
from llmctl.profiles import Readiness

if TYPE_CHECKING:
    import httpx

REFUSE_WHILE_LOADING = ("vllm", "tgi")


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    phase: str = ""  # ready | loading | waiting | unhealthy


@dataclass(frozen=True)
class WaitStatus:
    """One look while waiting: for a spinner line (elapsed, phase, detail, last log line)."""

    elapsed: float
    phase: str
    detail: str
    log_line: str = ""
    timeout: float | None = None  # the whole wait, for "12 s / 1800 s"


def _loading(kind: str, status: int | None, body: str, transport: str | None) -> str | None:
    """Why this answer means "still loading" for this kind of server, or None."""
    if transport is not None:
        if kind in REFUSE_WHILE_LOADING and ("refused" in transport or "closed" in transport
                                             or "broke" in transport):
            return f"loading the model ({kind} opens its port once it is loaded)"
        return None
    if kind == "llamacpp" and status == 503 and "loading model" in body.lower():
        return "loading the model (/health: 503 Loading model)"
    if kind == "localai" and status == 503:
        return "starting (/readyz: 503, startup preload in progress)"
    return None


def check_once(
    base_url: str,
    readiness: Readiness,
    timeout: float = 2.0,
    *,
    kind: str = "",
    model: str | None = None,
) -> Check:
    import httpx

    try:
        with make_client(base_url, timeout=timeout, connect_timeout=timeout) as client:
            r = client.get(readiness.path)
            if r.status_code != readiness.status:
                why = _loading(kind, r.status_code, r.text, None)
                if why:
                    return Check(False, why, "loading")
                phase = "unhealthy" if r.status_code == 503 else "waiting"
                return Check(False, f"HTTP {r.status_code} on {readiness.path}: "
                                    f"{snippet(r.content)!r}", phase)
            if readiness.contains and readiness.contains not in r.text:
                return Check(False, f"{readiness.path} answered {snippet(r.content)!r}, "
                                    f"not {readiness.contains!r}", "waiting")
            if readiness.models != "none":
                return _check_models(client, readiness, model)
    except httpx.HTTPError as exc:
        detail = describe_transport_error(exc)
        why = _loading(kind, None, "", detail)
        return Check(False, why or detail, "loading" if why else "waiting")
    return Check(True, f"{readiness.path} answered HTTP {r.status_code}", "ready")


def _check_models(client: httpx.Client, readiness: Readiness, model: str | None) -> Check:
    """The second half of "ready": the model list answers (and names the model)."""
    path = readiness.models_path
    r = client.get(path)
    if r.status_code != 200:
        return Check(False, f"health is OK but {path} answered HTTP {r.status_code}", "waiting")
    try:
        doc = r.json()
        data = doc.get("data") if isinstance(doc, dict) else None
        ids = [m["id"] for m in data or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except ValueError:
        return Check(False, f"{path} is not JSON: {snippet(r.content)!r}", "waiting")
    if data is not None and not isinstance(data, list):
        return Check(False, f"{path}: 'data' is not a list", "waiting")
    if readiness.models == "listed" and model:
        if model not in ids:
            listed = ", ".join(ids[:5]) or "nothing"
            return Check(False, f"{path} does not list {model!r} yet (lists {listed})",
                         "loading")
        return Check(True, f"{readiness.path} is OK and {path} lists {model!r}", "ready")
    return Check(True, f"{readiness.path} is OK and {path} answers ({len(ids)} models)",
                 "ready")


def wait_ready(
    base_url: str,
    readiness: Readiness,
    *,
    timeout: float,
    container_state: Callable[[], tuple[str, int | None]] | None = None,
    logs: Callable[[], list[str]] | None = None,
    on_wait: Callable[[float, str], None] | None = None,
    interval: float = 0.25,
    kind: str = "",
    model: str | None = None,
    on_status: Callable[[WaitStatus], None] | None = None,
    log_every: float = 2.0,
) -> float:
    """Poll until ready; return the seconds it took. Raises NotReadyError with logs.

    ``on_status`` gets a WaitStatus after every failed look, with the container's latest
    log line (fetched at most every ``log_every`` seconds)."""
    deadline = Deadline(timeout)
    last = "no answer yet"
    log_line, log_at = "", -log_every
    while True:
        check = check_once(base_url, readiness, timeout=min(2.0, deadline.remaining()),
                           kind=kind, model=model)
        if check.ok:
            return deadline.elapsed
        last = check.detail
        if container_state is not None:
            state, code = container_state()
            # "restarting" means it already crashed once: a crash loop is not "starting".
            if state not in ("running", "created"):
                what = {
                    "removed": "was removed (by `llmctl down` or `docker rm`?)",
                    "restarting": f"crashed (exit code {code}) and Docker is restarting it",
                }.get(state, f"{state} (exit code {code})")
                raise NotReadyError(
                    f"the container {what} before the server was ready",
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
        if on_status:
            if logs is not None and deadline.elapsed - log_at >= log_every:
                log_at = deadline.elapsed
                with contextlib.suppress(Exception):
                    tail = [line for line in logs() if line.strip()]
                    log_line = tail[-1].strip()[:200] if tail else log_line
            on_status(WaitStatus(deadline.elapsed, check.phase or "waiting", last, log_line,
                                 timeout))
        time.sleep(min(interval, deadline.remaining()))
        interval = min(interval * 1.5, 1.0)


def _logs_hint(logs: Callable[[], list[str]] | None, prefix: str = "") -> str:
    tail = logs() if logs else []
    if not tail:
        return prefix or "The container printed nothing."
    body = "\n  ".join(line[:200] for line in tail[-10:])
    return (prefix + " " if prefix else "") + "Last log lines:\n  " + body
