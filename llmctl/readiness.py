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
import importlib
import sys
import threading
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


# How often to look while waiting: every 10 ms for the first second and 20 ms to 2 s (a small
# model is ready in tenths of a second, and `up` should return then, not a back-off step
# later; a look at a server still booting costs about a millisecond), then less and less
# often, to once a second after a minute (a vLLM load may take 30 minutes). The schedule
# depends on the time waited only, never on the timeout allowed.
POLL_SCHEDULE = ((1.0, 0.01), (2.0, 0.02), (5.0, 0.05), (15.0, 0.2), (60.0, 0.5))
POLL_MAX = 1.0
# With the container's events followed, its state is also asked this often, in case an
# event was lost (a daemon restart ends the stream).
STATE_EVERY = 1.0


def poll_interval(elapsed: float) -> float:
    """Seconds to wait before the next look, ``elapsed`` seconds into the wait."""
    for until, every in POLL_SCHEDULE:
        if elapsed < until:
            return every
    return POLL_MAX


def check_once(
    base_url: str,
    readiness: Readiness,
    timeout: float = 2.0,
    *,
    kind: str = "",
    model: str | None = None,
    client: httpx.Client | None = None,
) -> Check:
    """One look. ``client``: one made by :func:`make_client` for ``base_url``, reused across
    looks (else one is made for this look)."""
    import httpx

    try:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(
                    make_client(base_url, timeout=timeout, connect_timeout=timeout))
            r = client.get(readiness.path, timeout=timeout)
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
                return _check_models(client, readiness, model, timeout)
    except httpx.HTTPError as exc:
        detail = describe_transport_error(exc)
        why = _loading(kind, None, "", detail)
        return Check(False, why or detail, "loading" if why else "waiting")
    return Check(True, f"{readiness.path} answered HTTP {r.status_code}", "ready")


def _check_models(client: httpx.Client, readiness: Readiness, model: str | None,
                  timeout: float) -> Check:
    """The second half of "ready": the model list answers (and names the model)."""
    path = readiness.models_path
    r = client.get(path, timeout=timeout)
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


Wake = Callable[[], None]


def warm_up() -> None:
    """Import what a look needs (httpx and httpcore, 25 to 80 ms) on a thread of its own, while the
    caller waits for the engine to create and start the container: the first look then
    costs its request only."""
    if "httpcore" not in sys.modules:
        threading.Thread(target=_import_all, args=(WARM_UP,),
                         name="llmctl-warm-up", daemon=True).start()


# httpx imports httpcore (about 20 ms) only when its first client is made.
WARM_UP = ("httpx", "httpcore")


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


def _pause(woken: threading.Event, seconds: float) -> None:
    """Wait ``seconds``, or less when the container's events wake us."""
    woken.wait(seconds)


def wait_ready(
    base_url: str,
    readiness: Readiness,
    *,
    timeout: float,
    container_state: Callable[[], tuple[str, int | None]] | None = None,
    logs: Callable[[], list[str]] | None = None,
    on_wait: Callable[[float, str], None] | None = None,
    kind: str = "",
    model: str | None = None,
    on_status: Callable[[WaitStatus], None] | None = None,
    log_every: float = 2.0,
    watch: Callable[[Wake], Callable[[], None]] | None = None,
) -> float:
    """Look until ready; return the seconds it took. Raises NotReadyError with logs.

    Looks follow :func:`poll_interval` (every 10 ms at first, whatever ``timeout`` is).
    ``container_state`` says whether the container still runs: an ended one fails the wait
    at once. ``watch(wake)``, when given, starts following the container's events once a
    first look found the server not ready, calls ``wake()`` on each (exit, removal, health
    change) and returns the function that stops it: a wait then reacts to the event at once
    instead of at its next look, and asks the container's state only when woken (and every
    STATE_EVERY s, in case an event was lost); without it, at every look.

    ``on_status`` gets a WaitStatus after every failed look, with the container's latest
    log line (fetched at the first look of every ``log_every`` seconds)."""
    deadline = Deadline(timeout)
    last = "no answer yet"
    log_line, log_slot = "", -1
    woken = threading.Event()
    stop_watch: Callable[[], None] | None = None
    watched = False
    state_at: float | None = None  # when the container's state was last asked

    def look_at_container() -> None:
        nonlocal state_at
        if container_state is None:
            return
        woken.clear()
        state_at = deadline.elapsed
        state, code = container_state()
        # "restarting" means it already crashed once: a crash loop is not "starting".
        if state not in ("running", "created"):
            raise ended_error(state, code, logs)

    with make_client(base_url, timeout=2.0, connect_timeout=2.0) as client:
        try:
            while True:
                if woken.is_set():  # the container changed: see how before asking it again
                    look_at_container()
                check = check_once(base_url, readiness, timeout=min(2.0, deadline.remaining()),
                                   kind=kind, model=model, client=client)
                if check.ok:
                    return deadline.elapsed
                last = check.detail
                if watch is not None and not watched:
                    watched = True
                    with contextlib.suppress(Exception):  # no events: ask at every look
                        stop_watch = watch(woken.set)
                if (stop_watch is None or woken.is_set() or state_at is None
                        or deadline.elapsed - state_at >= STATE_EVERY):
                    look_at_container()
                if deadline.expired:
                    raise NotReadyError(
                        f"the server at {base_url} was not ready after {timeout:g} s ({last})",
                        _logs_hint(logs, "Wait longer with --timeout, or look at the logs."),
                        details={"logs": logs() if logs else []},
                    )
                if on_wait:
                    on_wait(deadline.elapsed, last)
                if on_status:
                    # At the first look of each log_every slot (0, 2, 4 ... s): a line said
                    # at 2 s shows the log as it is then, not as it was at the start.
                    slot = int(deadline.elapsed // log_every)
                    if logs is not None and slot > log_slot:
                        log_slot = slot
                        with contextlib.suppress(Exception):
                            tail = [line for line in logs() if line.strip()]
                            log_line = tail[-1].strip()[:200] if tail else log_line
                    on_status(WaitStatus(deadline.elapsed, check.phase or "waiting", last,
                                         log_line, timeout))
                _pause(woken, min(poll_interval(deadline.elapsed), deadline.remaining()))
        finally:
            if stop_watch is not None:
                stop_watch()


# How a server ends when `docker stop` (or `llmctl down`) ends it: cleanly after SIGTERM, or
# killed by it (128 + 15). A server still loading its model does not exit 0 on its own.
STOPPED_EXIT_CODES = (0, 143)


def what_ended(state: str, code: int | None) -> str:
    """What happened to a container that is no longer running, in words: removed or stopped
    by someone else (`llmctl down` from another shell, `docker rm`/`stop`), or a crash."""
    if state == "removed":
        return "was removed by someone else (`llmctl down` or `docker rm`?)"
    if state == "exited" and code in STOPPED_EXIT_CODES:
        return (f"was stopped by someone else (`llmctl down` or `docker stop`?; exit code "
                f"{code})")
    if state == "restarting":
        return f"crashed (exit code {code}) and Docker is restarting it"
    return f"{state} (exit code {code})"


def ended_error(state: str, code: int | None, logs: Callable[[], list[str]] | None = None,
                when: str = "before the server was ready") -> NotReadyError:
    return NotReadyError(f"the container {what_ended(state, code)} {when}", _logs_hint(logs),
                         details={"logs": logs() if logs else []})


def _logs_hint(logs: Callable[[], list[str]] | None, prefix: str = "") -> str:
    tail = logs() if logs else []
    if not tail:
        return prefix or "The container printed nothing."
    body = "\n  ".join(line[:200] for line in tail[-10:])
    return (prefix + " " if prefix else "") + "Last log lines:\n  " + body
