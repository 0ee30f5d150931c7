"""Ollama model management: pull (streamed), delete, list (reference/server-apis.md §1.3,
§1.6, §1.9), plus the stream plumbing both model backends share.

Functions take an httpx client from :func:`llmctl.backends.http.make_client` whose
``base_url`` is the server root. The pull reads the body in chunks and splits lines itself,
so that:

* the stall watchdog is a wall-clock check (httpx's read timeout is per read): a stall is no
  increase of completed bytes and no new status for ``stall_timeout`` seconds, whether the
  server is silent, trickles bytes, or repeats identical lines forever;
* a repeated line (Ollama resends identical progress every ~60 ms) costs one ``bytes``
  comparison: it is neither parsed nor turned into an event;
* layer progress is handed to the sink at most every ``emit_interval`` seconds per pull,
  while new layers, finished layers and status changes are always passed on.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.backends.http import check_api_answer, describe_transport_error, error_text, snippet
from llmctl.errors import LlmctlError, NotFoundError, ServerError
from llmctl.progress import ProgressEvent, ProgressSink, human_size, null_sink

if TYPE_CHECKING:
    import httpx

DEFAULT_STALL_TIMEOUT = 60.0
EMIT_INTERVAL = 0.1
GUARD_MAX_SLEEP = 5.0  # the guard re-reads the deadline at least this often
RESUME_HINT = ("Run the same `llmctl pull {model}` again: Ollama keeps what was downloaded "
               "and resumes.")


# --- shared stream plumbing --------------------------------------------------------------------


class Watchdog:
    """Wall-clock stall detection: ``progressed()`` on real progress, ``remaining()`` left;
    ``fired`` once the guard thread of :func:`watched_chunks` found it expired. ``total``
    (seconds, optional) is a limit for the whole run, whatever the progress."""

    __slots__ = ("clock", "deadline", "fired", "last", "timeout", "total")

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic, *,
                 total: float | None = None, started: float | None = None) -> None:
        self.timeout = timeout
        self.clock = clock
        self.last = clock()
        self.total = total  # counted from ``started`` (a clock value), else from now
        start = self.last if started is None else started
        self.deadline = start + total if total is not None else None
        self.fired = False

    def progressed(self) -> None:
        self.last = self.clock()

    def remaining(self) -> float:
        now = self.clock()
        left = self.last + self.timeout - now
        if self.deadline is not None:
            left = min(left, self.deadline - now)
        return left

    def over_deadline(self) -> bool:
        """True when it is the whole-run limit (not a stall) that ran out."""
        return self.deadline is not None and self.clock() >= self.deadline - 0.01


@contextlib.contextmanager
def guarded(watchdog: Watchdog, on_expire: Callable[[], None]) -> Iterator[None]:
    """Run a guard thread during the block: it sleeps until the watchdog may have run out,
    then sets ``watchdog.fired`` and calls ``on_expire`` (cut the connection, kill the child
    process) to unblock a read that waits for a silent server. The guard never competes with
    the parser for the GIL: it wakes only when the deadline may have passed."""
    stop = threading.Event()

    def guard() -> None:
        while True:
            remaining = watchdog.remaining()
            if remaining <= 0:
                watchdog.fired = True
                with contextlib.suppress(Exception):
                    on_expire()
                return
            if stop.wait(min(remaining, GUARD_MAX_SLEEP)):
                return

    threading.Thread(target=guard, name="llmctl-stall-guard", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def watched_chunks(
    chunks: Iterator[bytes],
    watchdog: Watchdog,
    on_stall: Callable[[], LlmctlError],
    on_expire: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """Yield ``chunks`` (read on the calling thread) and raise ``on_stall()`` once the
    watchdog runs out.

    Expiry is checked before each chunk (a server repeating identical lines) and, when
    ``on_expire`` is given, by a :func:`guarded` thread (callers that already run one pass
    None). A read error caused by the expiry is reported as the stall it is.
    KeyboardInterrupt passes through untouched.
    """
    with contextlib.ExitStack() as stack:
        if on_expire is not None:
            stack.enter_context(guarded(watchdog, on_expire))
        try:
            for chunk in chunks:
                if watchdog.fired or watchdog.remaining() <= 0:
                    raise on_stall()
                yield chunk
        except Exception as exc:
            if watchdog.fired and not isinstance(exc, LlmctlError):
                raise on_stall() from None
            raise
    if watchdog.fired:
        raise on_stall()


def shutdown_response(response: httpx.Response) -> None:
    """Unblock a read on ``response`` from another thread: shut its socket down (for a
    request already answered; :class:`~llmctl.backends.http.Cutter` also covers the wait for
    the answer)."""
    import socket

    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)
    else:  # pragma: no cover - transports without a socket
        response.close()


def percent(done: int, total: int) -> str:
    return f"{100 * done / total:.0f}%" if total else "0%"


@dataclass
class PullOutcome:
    """What a finished pull stream said."""

    statuses: list[str] = field(default_factory=list)
    layers: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # id -> (done, total)
    lines: int = 0
    success: bool = False

    @property
    def completed(self) -> int:
        return sum(done for done, _total in self.layers.values())

    @property
    def total(self) -> int:
        return sum(total or 0 for _done, total in self.layers.values())

    def where(self) -> str:
        """``42% (1.2 GB of 2.9 GB)``, or the last status when no bytes were announced."""
        if self.total:
            return (f"{percent(self.completed, self.total)} ({human_size(self.completed)} of "
                    f"{human_size(self.total)})")
        return f"'{self.statuses[-1]}'" if self.statuses else "the start"


def transport_failure(exc: BaseException, what: str, url: str, hint: str | None) -> ServerError:
    """A dropped / refused / timed-out connection as one clear line."""
    return ServerError(f"{what}: {describe_transport_error(exc)} ({url})", hint)


# --- pull --------------------------------------------------------------------------------------


def _pull_error(model: str, text: str, status: int | None) -> LlmctlError:
    low = text.lower()
    if "file does not exist" in low or "not found" in low or status == 404:
        return NotFoundError(
            f"model {model!r} not found in the registry (Ollama said: {text})",
            "Check the name and tag on https://ollama.com/library.",
            details={"model": model, "server_error": text},
        )
    where = f"HTTP {status}: " if status is not None else ""
    return ServerError(f"pulling {model} failed ({where}{text})",
                       RESUME_HINT.format(model=model),
                       details={"model": model, "server_error": text})


def pull(
    client: httpx.Client,
    model: str,
    *,
    on_event: ProgressSink = null_sink,
    stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    insecure: bool = False,
    emit_interval: float = EMIT_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    wall_timeout: float | None = None,
    started: float | None = None,
) -> PullOutcome:
    """``POST /api/pull`` and follow its NDJSON stream until ``success``.

    Raises NotFoundError for an unknown model, NotAnAPI for a redirect or a web page,
    ServerError for an error line in a 200 stream, a 4xx/5xx, a stall (or ``wall_timeout``
    seconds in all, from ``started`` if given), a dropped connection or a stream that ends
    without ``success``.
    """
    import httpx

    from llmctl.backends.http import Cutter, checked_stream

    url = f"{client.base_url}".rstrip("/")
    hint = RESUME_HINT.format(model=model)
    outcome = PullOutcome()
    watchdog = Watchdog(stall_timeout, clock, total=wall_timeout, started=started)

    def stalled() -> LlmctlError:
        if watchdog.over_deadline():
            return ServerError(
                f"pulling {model} did not finish within {watchdog.total:g} s (--timeout): "
                f"stopped at {outcome.where()} ({url})", hint)
        return ServerError(
            f"pulling {model} stalled at {outcome.where()}: no progress for "
            f"{stall_timeout:g} s ({url})", hint)

    body = {"model": model, "stream": True}
    if insecure:
        body["insecure"] = True
    on_event(ProgressEvent("model", "pulling", subject=model))
    # The watchdog runs from before the request: a server that accepts and never answers is
    # a stall too, cut at `stall_timeout`, not after httpx's read timeout.
    cutter = Cutter()
    try:
        with guarded(watchdog, cutter.cut), client.stream(
                "POST", "/api/pull", json=body, extensions=cutter.extensions()) as response:
            cutter.add(response)
            if response.status_code != 200:
                response.read()
                check_api_answer(response, "POST /api/pull", body=response.content)
                raise _pull_error(model, error_text(response), response.status_code)
            check_api_answer(response, "POST /api/pull")
            chunks = watched_chunks(response.iter_bytes(), watchdog, stalled)
            _follow(checked_stream(chunks, response, "POST /api/pull"), model, outcome,
                    watchdog, on_event, emit_interval, clock)
    except httpx.TransportError as exc:
        if watchdog.fired:
            raise stalled() from None
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            raise transport_failure(exc, f"cannot reach Ollama to pull {model}", url,
                                    "Start it with `llmctl up ollama`, or give --endpoint URL."
                                    ) from None
        raise ServerError(
            f"pulling {model} broke off at {outcome.where()}: {describe_transport_error(exc)} "
            f"({url})", hint) from None
    if watchdog.fired and not outcome.success:
        raise stalled()
    if not outcome.success:
        last = outcome.statuses[-1] if outcome.statuses else "nothing"
        raise ServerError(
            f"pulling {model}: the stream ended without 'success' at {outcome.where()} "
            f"(last status: {last!r}; {url})", hint)
    on_event(ProgressEvent("model", "success", done=True, subject=model))
    return outcome


_COMPLETED = b',"completed":'


def _follow(
    chunks: Iterator[bytes],
    model: str,
    outcome: PullOutcome,
    watchdog: Watchdog,
    on_event: ProgressSink,
    emit_interval: float,
    clock: Callable[[], float],
) -> None:
    """Parse the NDJSON pull stream. Hot loop: keep per-line work minimal.

    Three paths per line: identical to the previous line (one bytes comparison, skipped);
    the previous layer line with only a new ``completed`` value (the prefix up to
    ``"completed":`` matches: the number is read without a JSON parse); anything else goes
    through ``json.loads``. Go encodes ``ProgressResponse`` fields in struct order (status,
    digest, total, completed), so the second path covers nearly every progress line; if a
    server orders keys differently, the prefix never matches and JSON parsing does the work.
    """
    loads = json.loads
    layers = outcome.layers
    statuses = outcome.statuses
    seen_status: set[str] = set()
    prev = b""
    rest = b""
    next_emit = 0.0
    count = 0
    fast_prefix = b"\0"  # never matches until a layer line with "completed" was parsed
    fast_cut = 0
    fast_layer = fast_status = ""
    fast_total: int | None = None
    try:
        for chunk in chunks:
            if rest:
                chunk = rest + chunk
            lines = chunk.split(b"\n")
            rest = lines.pop()
            count += len(lines)
            for line in lines:
                if line == prev:
                    continue  # Ollama repeats identical progress lines: nothing new
                prev = line
                if line.startswith(fast_prefix):
                    tail = line[fast_cut:-1]
                    if tail.isdigit() and line.endswith(b"}"):
                        completed = int(tail)
                        if completed > layers[fast_layer][0]:
                            layers[fast_layer] = (completed, fast_total)
                            watchdog.progressed()
                            done = fast_total is not None and completed >= fast_total
                            now = clock()
                            if done or now >= next_emit:
                                next_emit = now + emit_interval
                                on_event(ProgressEvent("model", fast_status, layer=fast_layer,
                                                       current=completed, total=fast_total,
                                                       done=done, subject=model))
                        continue
                if not line or line.isspace():
                    continue
                try:
                    doc = loads(line)
                except ValueError:
                    raise ServerError(f"pulling {model}: the server sent a line that is not "
                                      f"JSON ({snippet(line)!r})") from None
                if type(doc) is not dict:
                    raise ServerError(f"pulling {model}: unexpected line {snippet(line)!r}")
                if "error" in doc:
                    raise _pull_error(model, str(doc["error"]), None)
                status = doc.get("status") or ""
                digest = doc.get("digest")
                if digest:
                    total = doc.get("total")
                    completed = doc.get("completed") or 0  # omitted while 0 (omitempty)
                    layer = digest[7:19] if digest.startswith("sha256:") else digest[:12]
                    cut = line.rfind(_COMPLETED)
                    if cut > 0:
                        fast_cut = cut + len(_COMPLETED)
                        fast_prefix = line[:fast_cut]
                        fast_layer, fast_status, fast_total = layer, status, total
                    old = layers.get(layer)
                    if old is None:
                        layers[layer] = (completed, total)
                        watchdog.progressed()
                        if status not in seen_status:
                            seen_status.add(status)
                            statuses.append(status)
                        done = total is not None and completed >= total
                        on_event(ProgressEvent("model", status, layer=layer, current=completed,
                                               total=total, done=done, subject=model))
                        continue
                    if completed > old[0] or total != old[1]:
                        layers[layer] = (max(completed, old[0]), total)
                        if completed > old[0]:
                            watchdog.progressed()
                        done = total is not None and completed >= total
                        now = clock()
                        if done or now >= next_emit:
                            next_emit = now + emit_interval
                            on_event(ProgressEvent("model", status, layer=layer,
                                                   current=completed, total=total, done=done,
                                                   subject=model))
                    continue
                if status not in seen_status:
                    seen_status.add(status)
                    statuses.append(status)
                    watchdog.progressed()
                    if status == "success":
                        outcome.success = True
                        continue  # the caller announces success once the stream is over
                    on_event(ProgressEvent("model", status, subject=model))
        if rest.strip():
            count += 1
            try:
                doc = json.loads(rest)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                if "error" in doc:
                    raise _pull_error(model, str(doc["error"]), None)
                if doc.get("status") == "success":
                    outcome.success = True
                    statuses.append("success")
    finally:
        outcome.lines = count


# --- delete ------------------------------------------------------------------------------------


def delete(client: httpx.Client, model: str) -> None:
    """``DELETE /api/delete`` with the JSON body ``{"model": ...}`` (§1.9)."""
    import httpx

    url = f"{client.base_url}".rstrip("/")
    try:
        response = client.request("DELETE", "/api/delete", json={"model": model})
    except httpx.TransportError as exc:
        raise transport_failure(exc, f"cannot reach Ollama to remove {model}", url,
                                "Start it with `llmctl up ollama`, or give --endpoint URL."
                                ) from None
    check_api_answer(response, "DELETE /api/delete", body=response.content)
    if response.status_code == 200:
        return
    text = error_text(response)
    if response.status_code == 404:
        raise NotFoundError(f"model {model!r} not found at {url} (Ollama said: {text})",
                            "See what is there with `llmctl models`.",
                            details={"model": model, "server_error": text})
    raise ServerError(f"removing {model} failed at {url} (HTTP {response.status_code}: {text})")


# --- list --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OllamaModel:
    name: str
    size: int | None
    digest: str | None
    modified: str | None
    parameters: str | None
    quantization: str | None
    family: str | None


def parse_tags(doc: Any, url: str = "") -> list[OllamaModel]:
    """``/api/tags`` → models (``{"models": []}``; null or absent means none)."""
    if not isinstance(doc, dict):
        raise ServerError(f"GET /api/tags{' at ' + url if url else ''}: expected a JSON object")
    items = doc.get("models") or []
    if not isinstance(items, list):
        raise ServerError(f"GET /api/tags{' at ' + url if url else ''}: 'models' is not a list")
    out = []
    for m in items:
        if not isinstance(m, dict):
            continue
        raw = m.get("details")
        details: dict[str, Any] = raw if isinstance(raw, dict) else {}
        size = m.get("size")
        out.append(OllamaModel(
            name=str(m.get("name") or m.get("model") or "?"),
            size=size if isinstance(size, int) else None,
            digest=str(m["digest"]) if m.get("digest") else None,
            modified=str(m["modified_at"]) if m.get("modified_at") else None,
            parameters=details.get("parameter_size") or None,
            quantization=details.get("quantization_level") or None,
            family=details.get("family") or None,
        ))
    return out


def list_models(client: httpx.Client) -> list[OllamaModel]:
    """``GET /api/tags``. Transport errors propagate as httpx exceptions (callers report
    unreachable backends without failing)."""
    from llmctl.backends.http import json_or_error

    url = f"{client.base_url}".rstrip("/")
    response = client.get("/api/tags")
    check_api_answer(response, "GET /api/tags", body=response.content)
    if response.status_code != 200:
        raise ServerError(f"GET /api/tags at {url}: HTTP {response.status_code} "
                          f"({error_text(response)})")
    return parse_tags(json_or_error(response, f"GET /api/tags at {url}"), url)
