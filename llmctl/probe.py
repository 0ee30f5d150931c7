"""Detect what answers at a URL, concurrently, each target bounded by a wall-clock deadline.

For every target: a TCP connect first (refused / unreachable / ``localhost`` resolved to
127.0.0.1 or ::1, whichever answers), then a handful of GETs in parallel whose answers tell
the servers apart (reference/server-apis.md §7): ``GET /`` text, ``/api/version``,
``/v1/models`` ``owned_by``, ``/engines/status``, ``/health``, ``/readyz``, ``/info``. What
each kind of server looks like is its fingerprint, next to its backend
(:mod:`llmctl.backends.kinds`); :func:`classify` asks them. Bodies are read up to 1 MiB;
redirects are reported, never followed; loopback traffic never goes through a proxy
(``llmctl.backends.http``). asyncio cancellation makes the deadline hard, even against a
server that trickles bytes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmctl import urls
from llmctl.backends.fingerprint import Answers, Fetch, identify_kind, named_at_root
from llmctl.backends.kinds import KINDS, SERVER_NAMES, server_phrase
from llmctl.errors import UsageError
from llmctl.urls import api_base

DEFAULT_PORTS = urls.PROBE_PORTS
DEFAULT_TIMEOUT = 3.0
MAX_BODY = 1024 * 1024
PATHS = (
    "/",
    "/api/version",
    "/api/tags",
    "/v1/models",
    "/engines/status",
    "/engines/v1/models",
    "/health",
    "/readyz",
    "/info",
    "/version",
    "/props",  # llama.cpp: build_info is its version
)
# --- results ---


@dataclass(frozen=True)
class ManagedTarget:
    """A server llmctl runs in a container (built from :class:`llmctl.managed.ManagedServer`
    by the caller: this module never talks to Docker)."""

    url: str  # server root for processes on this machine, e.g. http://127.0.0.1:11434
    instance: str
    profile: str
    api: str = "openai"  # ollama | openai (the container's label)
    container: str = ""
    endpoint_container: str | None = None  # server root on the llmctl network

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "profile": self.profile,
            "container": self.container,
            "endpoint_container": self.endpoint_container,
        }


ManagedLookup = Callable[[], Sequence[ManagedTarget]]


@dataclass
class ProbeResult:
    url: str  # as given
    root: str  # the server root that was probed (127.0.0.1 rather than localhost)
    # ready | loading | unhealthy | not-llm | no-answer (TCP accepted, HTTP silent) | unreachable
    status: str = "unreachable"
    reason: str | None = None
    server: str | None = None  # ollama | docker-model-runner | vllm | llamacpp | tgi | ...
    api_type: str | None = None  # ollama | openai
    base_url: str | None = None  # what a client should use
    version: str | None = None
    models: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    elapsed_ms: float = 0.0
    managed: ManagedTarget | None = None  # set when llmctl runs this server
    # nothing LLM-like at the URL's path, but at the host's root: the URL to use there
    suggestion: str | None = None

    @property
    def reachable(self) -> bool:
        return self.status != "unreachable"

    @property
    def is_llm(self) -> bool:
        return self.server is not None

    @property
    def server_name(self) -> str:
        return SERVER_NAMES.get(self.server or "", self.server or "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "root": self.root,
            "reachable": self.reachable,
            "status": self.status,
            "reason": self.reason,
            "server": self.server,
            "server_name": self.server_name or None,
            "api_type": self.api_type,
            "base_url": self.base_url,
            "version": self.version,
            "models": self.models,
            "evidence": self.evidence,
            "notes": self.notes,
            "latency_ms": self.latency_ms,
            "elapsed_ms": self.elapsed_ms,
            "managed": self.managed.to_dict() if self.managed else None,
            "suggestion": self.suggestion,
        }


@dataclass
class ProbeReport:
    results: list[ProbeResult]
    timeout: float
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)  # e.g. why managed servers were skipped

    @property
    def found(self) -> list[ProbeResult]:
        return [r for r in self.results if r.is_llm]

    def to_dict(self) -> dict[str, Any]:
        return {
            "timeout_s": self.timeout,
            "elapsed_ms": self.elapsed_ms,
            "found": len(self.found),
            "results": [r.to_dict() for r in self.results],
            "notes": self.notes,
        }


# --- targets ---


def normalize_target(url: str) -> tuple[str, str]:
    """(server root to probe, host as written): :func:`llmctl.urls.parse` with the
    shorthands (``host:port``, ``:port``, a bare port); ``localhost`` is kept, since probe
    tries 127.0.0.1 and ::1 and uses the one that answers."""
    u = urls.parse(url, "")
    return u.root_as_given(), u.host_as_given


def root_of(url: str) -> str:
    """The server root a URL is probed at, for comparing targets (``localhost`` →
    127.0.0.1, API suffixes removed)."""
    return urls.parse(url, "URL").root


def extra_targets(targets_from_managed: Sequence[str | ManagedTarget] | None = None) -> list[str]:
    """Targets beyond the usual ports: the URLs of the servers llmctl manages
    (the caller passes them in; this module does not talk to Docker)."""
    urls = [t.url if isinstance(t, ManagedTarget) else t for t in (targets_from_managed or [])]
    return [u for u in urls if u]


def managed_match(url: str, managed: Sequence[ManagedTarget]) -> ManagedTarget | None:
    """The managed server answering at ``url`` (same host and port), if any."""
    try:
        root = root_of(url)
    except UsageError:
        return None
    for m in managed:
        with contextlib.suppress(UsageError):
            if root_of(m.url) == root:
                return m
    return None


def configured_targets() -> list[tuple[str, str | None]]:
    """(URL, token) of the endpoints in the endpoint file; a broken file is skipped."""
    from llmctl.endpoint import read_config
    from llmctl.errors import LlmctlError

    try:
        _, eps = read_config()
    except LlmctlError:
        return []
    return [(e.endpoint, e.bearer_token) for e in eps]


def configured_token(url: str) -> str | None:
    """The bearer token of the configured endpoint whose server is at ``url``, if any."""
    from llmctl.endpoint import configured_for

    try:
        configured = configured_for(url)
    except Exception:  # a URL that cannot be read is reported by the probe itself
        return None
    return configured.bearer_token if configured is not None else None


def default_targets(
    targets_from_managed: Sequence[str | ManagedTarget] | None = None,
    *,
    include_configured: bool = True,
) -> list[tuple[str, str | None]]:
    targets: list[tuple[str, str | None]] = [(f"http://127.0.0.1:{p}", None) for p in DEFAULT_PORTS]
    targets += [(t, None) for t in extra_targets(targets_from_managed)]
    if include_configured:
        targets += configured_targets()
    return targets


# --- detection (pure) ---


def classify(result: ProbeResult, fetches: dict[str, Fetch]) -> ProbeResult:
    """Fill ``result`` from the answers to :data:`PATHS` (no I/O; unit-tested directly): the
    kind of server whose signs are most telling (:mod:`llmctl.backends.fingerprint`), then
    its API, models, version and state as that kind says them."""
    answered = [x for x in fetches.values() if x.status is not None]
    if not answered:
        errors = [x.error for x in fetches.values() if x.error]
        result.status = "unreachable"
        root_error = fetches["/"].error if "/" in fetches else "not asked"
        result.reason = root_error or (errors[0] if errors else "no answer")
        return result
    answers = Answers(fetches)
    result.latency_ms = round(min(x.elapsed for x in answered) * 1000, 1)
    found = identify_kind(answers, KINDS)
    result.evidence.extend(found.evidence)
    if answers.models_locked:
        result.notes.append("the server wants an API key (--token-file)")
    kind = found.kind
    if kind is None:
        result.status = "not-llm"
        result.reason = _not_llm_reason(answers["/"])
        return result
    result.server = kind.name
    result.api_type = kind.api
    result.base_url = api_base(result.root, kind.api, kind.name)
    result.models = kind.models_in(answers)
    result.version = kind.version_in(answers)
    result.status = "ready"
    # "Still loading" is said whoever answers; "unhealthy" as the kind that answers says it.
    loading = next((note for k in KINDS if k.loading is not None
                    and (note := k.loading(answers)) is not None), None)
    unhealthy = kind.unhealthy(answers) if kind.unhealthy is not None else None
    if loading is not None:
        result.status = "loading"
        result.notes.append(loading)
    elif unhealthy is not None:
        result.status = "unhealthy"
        result.reason = unhealthy
    if any(x.truncated for x in fetches.values()):
        big = ", ".join(x.path for x in fetches.values() if x.truncated)
        result.notes.append(f"answers over 1 MiB were not read: {big}")
    return result


def _not_llm_reason(root: Fetch) -> str | None:
    """Why nothing LLM-like answers, as GET / shows it (a page, a redirect, an error)."""
    from llmctl.backends.http import not_api_reason, snippet

    if root.status is not None and root.status < 400:
        return not_api_reason(root.status, root.content_type, root.location, root.body,
                              expect_json=True)
    if root.status is not None:
        body = snippet(root.body, 60)
        return f"answers HTTP {root.status}, not an LLM API" + (f" ({body!r})" if body else "")
    return f"not an LLM API (GET / failed: {root.error})"


# --- I/O ---


async def _connect(host: str, port: int, timeout: float) -> tuple[str | None, str | None]:
    """(address that accepted, error). ``localhost`` tries 127.0.0.1 and ::1 together."""
    import asyncio
    import socket

    candidates = ["127.0.0.1", "::1"] if host.lower() == "localhost" else [host]

    async def one(addr: str) -> str:
        _, writer = await asyncio.wait_for(asyncio.open_connection(addr, port), timeout)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return addr

    outcomes = await asyncio.gather(*(one(a) for a in candidates), return_exceptions=True)
    for addr, outcome in zip(candidates, outcomes, strict=True):
        if isinstance(outcome, str):
            return addr, None
    exc = outcomes[0]
    if isinstance(exc, asyncio.TimeoutError):
        return None, f"connect timed out after {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return None, "connection refused"
    if isinstance(exc, socket.gaierror):
        return None, "host name not found"
    if isinstance(exc, OSError):
        return None, f"cannot connect: {exc.strerror or exc}"
    return None, f"cannot connect: {exc}"


async def _fetch(
    client: Any, root: str, path: str, timeout: float, headers: dict[str, str] | None
) -> Fetch:
    import httpx

    from llmctl.backends.http import describe_transport_error

    t0 = time.monotonic()
    fetch = Fetch(path)
    try:
        async with client.stream(
            "GET", root + path, timeout=httpx.Timeout(timeout), headers=headers
        ) as response:
            fetch.status = response.status_code
            fetch.content_type = response.headers.get("content-type", "")
            fetch.location = response.headers.get("location")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    fetch.truncated = True
                    del body[MAX_BODY:]
                    break
            fetch.body = bytes(body)
    except httpx.HTTPError as exc:
        if fetch.status is None:
            fetch.error = describe_transport_error(exc)
        else:
            fetch.truncated = True  # the body broke off mid-way
    fetch.elapsed = time.monotonic() - t0
    return fetch


def _next_paths(root: Fetch) -> list[str]:
    """After GET /: what its text names needs only a few more GETs (``ServerKind.paths``);
    anything else gets every tell-tale path."""
    named = named_at_root(root.text() if root.status == 200 else "", KINDS)
    if named is not None and named.paths:
        return list(named.paths)
    return [p for p in PATHS if p != "/"]


async def probe_one(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    api_key: str | None = None,
    loopback_client: Any = None,
) -> ProbeResult:
    """Probe one target; returns within ``timeout`` seconds (plus scheduling noise).

    ``loopback_client``: a shared proxy-less client for loopback targets, so a scan of many
    local ports does not build one client (and TLS context) per target.
    """
    import asyncio

    from llmctl.backends.http import is_loopback_host, make_async_client

    t0 = time.monotonic()
    root, host = normalize_target(url)
    result = ProbeResult(url=url, root=root)
    deadline = t0 + timeout

    async def body() -> None:
        nonlocal root
        parts = urlsplit(root)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addr, error = await _connect(host, port, timeout)
        if addr is None:
            result.status, result.reason = "unreachable", error
            if port in (urls.VLLM_PORT, *urls.TGI_PORTS) and "refused" in (error or ""):
                result.notes.append("vLLM and TGI refuse connections while loading a model")
            return
        if addr != host:  # localhost → the address that answered
            netloc = (f"[{addr}]" if ":" in addr else addr) + f":{port}"
            root = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
            result.root = root
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        remaining = max(0.05, deadline - time.monotonic())
        own = None
        if (
            loopback_client is not None
            and root.startswith("http://")
            and is_loopback_host(urlsplit(root).hostname or "")
        ):
            client = loopback_client
        else:
            client = own = make_async_client(root, timeout=remaining, connect_timeout=remaining)
        fetches: dict[str, Fetch] = {}

        async def fetch_all(paths: list[str]) -> None:
            tasks = {
                p: asyncio.ensure_future(_fetch(client, root, p, remaining, headers)) for p in paths
            }
            done, pending = await asyncio.wait(
                tasks.values(), timeout=max(0.01, deadline - time.monotonic())
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=0.2)
            for path, task in tasks.items():
                if task in done and not task.cancelled() and task.exception() is None:
                    fetches[path] = task.result()
                else:
                    fetches[path] = Fetch(
                        path,
                        error=f"accepted the connection but sent no answer within {timeout:g}s",
                    )

        try:
            # GET / first: its text names Ollama and Model Runner, which then need only
            # a couple more GETs; anything else gets the full set of tell-tale paths.
            await fetch_all(["/"])
            first = fetches["/"]
            if first.status is not None and time.monotonic() < deadline:
                await fetch_all(_next_paths(first))
        finally:
            if own is not None:
                await own.aclose()
        classify(result, fetches)
        if result.status == "unreachable":  # TCP accepted, but no HTTP answer
            result.status = "no-answer"
            errors = [x.error or "" for x in fetches.values()]
            if all("no answer" in e or "timed out" in e for e in errors):
                result.reason = (
                    f"accepted the connection but sent no HTTP answer within {timeout:g}s"
                )

    try:
        await asyncio.wait_for(body(), timeout + 0.5)
    except asyncio.TimeoutError:
        result.status = "no-answer"
        result.reason = f"no answer within {timeout:g}s"
    prefix = urlsplit(result.root).path
    left = deadline - time.monotonic()
    if result.status == "not-llm" and prefix and left > 0.05:
        # A wrong path is said as such: is there an LLM server at the host's root?
        origin = result.root[: len(result.root) - len(prefix)]
        there = await probe_one(origin, timeout=left, api_key=api_key,
                                loopback_client=loopback_client)
        if there.is_llm:
            result.reason = (f"no LLM API at the path {prefix} ({result.reason}); "
                             f"{there.root} is {server_phrase(there.server)}")
            result.suggestion = there.base_url
            result.notes.append(f"use {there.base_url} ({there.api_type} API)")
    result.elapsed_ms = round((time.monotonic() - t0) * 1000, 1)
    return result


def probe_url(url: str, *, timeout: float = DEFAULT_TIMEOUT, api_key: str | None = None
              ) -> ProbeResult:
    """Probe one URL (checked by :func:`llmctl.urls.parse` first) and return what answers
    there, within ``timeout`` seconds; for callers outside an event loop, such as the
    commands that take ``--endpoint URL``."""
    from llmctl.backends.http import run_sync

    urls.parse(url, "URL")  # a UsageError before any I/O
    return run_sync(probe_one(url, timeout=timeout, api_key=api_key))


async def _call_in_thread(fn: Callable[[], Any], timeout: float) -> Any:
    """Run a blocking ``fn`` (a Docker lookup) in a daemon thread, bounded by ``timeout``:
    a daemon that never answers cannot hold the probe (or the interpreter's exit) up."""
    import asyncio
    import threading

    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)

    def run() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = fn()
        except BaseException as exc:  # handed to the waiting coroutine
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=run, name="llmctl-managed-lookup", daemon=True).start()
    return await asyncio.wait_for(future, timeout)


def _lookup_failure(exc: BaseException, timeout: float) -> str:
    import asyncio

    from llmctl.errors import LlmctlError

    if isinstance(exc, asyncio.TimeoutError):
        why = f"the Docker engine did not answer within {timeout:g}s"
    elif isinstance(exc, LlmctlError):
        why = exc.message
    else:
        why = f"{type(exc).__name__}: {exc}"
    return f"llmctl-managed servers not probed ({why})"


async def aprobe(
    urls: list[str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    api_key: str | None = None,
    targets_from_managed: Sequence[str | ManagedTarget] | None = None,
    include_configured: bool = True,
    managed_lookup: ManagedLookup | None = None,
) -> ProbeReport:
    """Probe ``urls`` (or the defaults) concurrently; see :func:`probe`."""
    import asyncio

    import httpx  # imported before the clocks start

    from llmctl.backends.http import make_async_client
    from llmctl.inputs import check_seconds

    check_seconds(timeout, say_value=False)
    if urls:
        # A URL that is a configured endpoint's server uses that endpoint's token (the key
        # `llmctl expose` wrote), unless one is given.
        targets = [(u, api_key or configured_token(u)) for u in urls]
        managed_lookup = None  # the URLs given are the whole job
    else:
        targets = default_targets(targets_from_managed, include_configured=include_configured)
    managed = [t for t in (targets_from_managed or []) if isinstance(t, ManagedTarget)]
    notes: list[str] = []
    seen: set[str] = set()

    def fresh(pairs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        unique: list[tuple[str, str | None]] = []
        at: dict[str, int] = {}
        for url, token in pairs:
            root, _ = normalize_target(url)  # raises UsageError on a bad URL before any I/O
            if root in at and token and not unique[at[root]][1]:
                # A configured endpoint on a usual port: probed once, with its token.
                unique[at[root]] = (unique[at[root]][0], token)
            if root in seen:
                continue
            seen.add(root)
            at[root] = len(unique)
            unique.append((url, token or api_key))
        return unique

    unique = fresh(targets)
    t0 = time.monotonic()
    # Plain-http loopback only (https targets get their own client), so no CA bundle to load.
    # No keep-alive: a probe is one-shot, and a reused connection to a server that writes
    # headers and body in two segments without TCP_NODELAY costs a 40 ms delayed ACK.
    transport = httpx.AsyncHTTPTransport(
        verify=False, limits=httpx.Limits(max_connections=None, max_keepalive_connections=0)
    )
    async with make_async_client(
        "http://127.0.0.1", timeout=timeout, connect_timeout=timeout, transport=transport
    ) as loopback:

        async def run(pairs: list[tuple[str, str | None]]) -> list[ProbeResult]:
            return list(
                await asyncio.gather(
                    *(
                        probe_one(u, timeout=timeout, api_key=t, loopback_client=loopback)
                        for u, t in pairs
                    )
                )
            )

        async def managed_round() -> list[ProbeResult]:
            # Ask Docker while the usual ports are being probed, then probe what it names.
            if managed_lookup is None:
                return []
            lookup_timeout = max(timeout, 1.0)
            try:
                found = list(await _call_in_thread(managed_lookup, lookup_timeout))
            except Exception as exc:  # an engine problem is a note, never fatal
                notes.append(_lookup_failure(exc, lookup_timeout))
                return []
            managed.extend(found)
            extra: list[tuple[str, str | None]] = []
            for m in found:
                try:
                    if root_of(m.url) not in seen:  # localhost:P is 127.0.0.1:P here
                        extra += fresh([(m.url, None)])
                except UsageError:
                    notes.append(f"{m.instance}: unusable endpoint {m.url!r}; not probed")
            return await run(extra)

        first, second = await asyncio.gather(run(unique), managed_round())
    results = first + second
    for r in results:
        r.managed = managed_match(r.url, managed)
    return ProbeReport(
        results=results,
        timeout=timeout,
        elapsed_ms=round((time.monotonic() - t0) * 1000, 1),
        notes=notes,
    )


def probe(
    urls: list[str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    api_key: str | None = None,
    targets_from_managed: Sequence[str | ManagedTarget] | None = None,
    include_configured: bool = True,
    managed_lookup: ManagedLookup | None = None,
) -> ProbeReport:
    """Probe targets concurrently. With no ``urls``: 127.0.0.1 on the usual ports, the
    servers llmctl manages (``targets_from_managed``, and whatever ``managed_lookup``
    returns: it runs in a thread alongside the port probes, and if it fails or takes longer
    than ``timeout`` the report says so in ``notes``) and the configured endpoints."""
    from llmctl.backends.http import run_sync

    return run_sync(aprobe(urls, timeout=timeout, api_key=api_key,
                           targets_from_managed=targets_from_managed,
                           include_configured=include_configured, managed_lookup=managed_lookup))
