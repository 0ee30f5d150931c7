"""Ollama's create-from-file API: blobs and create (reference/real-servers.md "Ollama's
create-from-file API", checked on Ollama 0.24.0; server/routes.go ``HeadBlobHandler``,
``CreateBlobHandler``, server/create.go ``CreateHandler``).

* ``HEAD /api/blobs/sha256:HEX``: 200 when the server has the blob, 404 when not.
* ``POST /api/blobs/sha256:HEX`` with the raw bytes: 201 once stored; 200 without reading
  when it exists; 400 ``digest mismatch, expected "…", got "…"`` when the bytes do not hash
  to the URL's digest. A broken upload leaves nothing (the server writes a temporary file and
  removes it on error).
* ``POST /api/create`` ``{"model", "files": {"<file name>": "sha256:HEX"}}`` streams NDJSON
  status lines (``parsing GGUF``, ``using existing layer sha256:…``, ``writing manifest``,
  ``success``); an ``{"error": …}`` line inside the HTTP 200 stream is a failure. The
  manifest is written last: a create that stops earlier leaves no model.

Functions take an httpx client from :func:`llmctl.backends.http.make_client` whose base URL
is the server root. The file is streamed in 1 MiB chunks with an explicit Content-Length
(never read whole, never chunked); a stall is httpx's write timeout (the server stopped
taking bytes) or the same wall-clock watchdog as ``pull`` on the create stream.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmctl.backends.http import describe_transport_error, error_text, snippet
from llmctl.backends.ollama_models import (
    DEFAULT_STALL_TIMEOUT,
    EMIT_INTERVAL,
    Watchdog,
    shutdown_response,
    watched_chunks,
)
from llmctl.errors import DigestMismatch, LlmctlError, NotOllama, OllamaUnreachable, ServerError
from llmctl.progress import ProgressEvent, ProgressSink, human_size, null_sink

if TYPE_CHECKING:
    import httpx

CHUNK = 1 << 20
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
START_HINT = "Start it with `llmctl up ollama`, or give --endpoint URL."


def _url(client: httpx.Client) -> str:
    return f"{client.base_url}".rstrip("/")


def _unreachable(exc: BaseException, what: str, url: str) -> ServerError:
    return OllamaUnreachable(f"cannot reach Ollama to {what}: {describe_transport_error(exc)} "
                             f"({url})", START_HINT)


def server_version(client: httpx.Client) -> str:
    """``GET /api/version``: the version, or NotOllama when something else answers there."""
    import httpx

    url = _url(client)
    try:
        response = client.get("/api/version")
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _unreachable(exc, "import a model", url) from None
    except httpx.TransportError as exc:
        raise ServerError(f"Ollama at {url} did not answer GET /api/version: "
                          f"{describe_transport_error(exc)}") from None
    try:
        doc = response.json() if response.status_code == 200 else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str):
        raise NotOllama(f"{url} is not an Ollama server (GET /api/version: HTTP "
                        f"{response.status_code}, {snippet(response.content) or 'no body'!r})")
    return str(doc["version"])


def blob_exists(client: httpx.Client, digest: str) -> bool:
    """``HEAD /api/blobs/DIGEST``: True (200) or False (404)."""
    import httpx

    url = _url(client)
    try:
        response = client.head(f"/api/blobs/{digest}")
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _unreachable(exc, "check for the blob", url) from None
    except httpx.TransportError as exc:
        raise ServerError(f"HEAD /api/blobs/… at {url}: {describe_transport_error(exc)}"
                          ) from None
    if response.status_code == 200:
        return True
    if response.status_code == 404:
        return False
    raise ServerError(f"HEAD /api/blobs/{digest[:19]}… at {url}: HTTP {response.status_code}")


def upload_blob(
    client: httpx.Client,
    path: Path,
    digest: str,
    size: int,
    *,
    on_event: ProgressSink = null_sink,
    subject: str | None = None,
    emit_interval: float = EMIT_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """``POST /api/blobs/DIGEST`` with the bytes of ``path``, streamed, with progress events
    (layer = the first 12 hex digits of the digest, status ``uploading``).

    Raises DigestMismatch (400 ``digest mismatch``), ServerError for any other answer, a
    stall (the client's write timeout) or a broken connection. KeyboardInterrupt closes the
    connection mid-body: the server drops what it got."""
    import httpx

    url = _url(client)
    layer = digest.removeprefix("sha256:")[:12]
    sent = [0]

    def event(done: bool = False) -> ProgressEvent:
        return ProgressEvent("model", "uploading", layer=layer, current=sent[0], total=size,
                             done=done, subject=subject)

    def chunks() -> Iterator[bytes]:
        next_emit = 0.0
        with path.open("rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    return
                yield chunk
                sent[0] += len(chunk)  # handed to the socket
                now = clock()
                if now >= next_emit and sent[0] < size:
                    next_emit = now + emit_interval
                    on_event(event())

    def where() -> str:
        return f"{100 * sent[0] // max(size, 1)}% ({human_size(sent[0])} of {human_size(size)})"

    on_event(event())
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    try:
        response = client.post(f"/api/blobs/{digest}", content=chunks(), headers=headers)
    except httpx.WriteTimeout:
        raise ServerError(f"uploading {path.name} stalled at {where()}: Ollama took no bytes "
                          f"for {client.timeout.write:g} s ({url})",
                          "Check the server's disk space and logs, then run the import "
                          "again.") from None
    except httpx.LocalProtocolError:
        raise LlmctlError(f"{path} changed size while it was uploaded",
                          "Wait until whatever writes it is done, then import it again."
                          ) from None
    except httpx.TransportError as exc:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            raise _unreachable(exc, "upload the model file", url) from None
        raise ServerError(f"uploading {path.name} broke off at {where()}: "
                          f"{describe_transport_error(exc)} ({url})",
                          "Run the import again; nothing half-made stays on the server."
                          ) from None
    if response.status_code in (200, 201):
        sent[0] = size
        on_event(event(done=True))
        return
    text = error_text(response)
    if response.status_code == 400 and "digest mismatch" in text.lower():
        raise DigestMismatch(f"Ollama at {url} hashed {path.name} differently ({text})")
    raise ServerError(f"uploading {path.name} to Ollama at {url} failed (HTTP "
                      f"{response.status_code}: {text})")


@dataclass
class CreateOutcome:
    statuses: list[str] = field(default_factory=list)
    success: bool = False
    manifest_written: bool = False  # saw "writing manifest": the model may exist now


def create_model(
    client: httpx.Client,
    name: str,
    files: dict[str, str],
    *,
    on_event: ProgressSink = null_sink,
    stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    outcome: CreateOutcome | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CreateOutcome:
    """``POST /api/create`` ``{"model": name, "files": files}``; each new status line becomes
    a progress event. Raises ServerError for a 4xx/5xx, an error line, a stall, a dropped
    connection, or a stream that ends without ``success``. ``outcome`` (when given) is
    filled in as the stream goes, so a caller interrupted half-way knows how far it got."""
    import httpx

    url = _url(client)
    outcome = outcome if outcome is not None else CreateOutcome()
    watchdog = Watchdog(stall_timeout, clock)

    def stalled() -> LlmctlError:
        last = outcome.statuses[-1] if outcome.statuses else "the start"
        return ServerError(f"creating {name} stalled after {last!r}: no new step for "
                           f"{stall_timeout:g} s ({url})")

    body: dict[str, Any] = {"model": name, "files": files, "stream": True}
    try:
        with client.stream("POST", "/api/create", json=body) as response:
            if response.status_code != 200:
                response.read()
                raise ServerError(f"Ollama at {url} refused to create {name} (HTTP "
                                  f"{response.status_code}: {error_text(response)})")
            chunks = watched_chunks(response.iter_bytes(), watchdog, stalled,
                                    lambda: shutdown_response(response))
            _follow(chunks, name, outcome, watchdog, on_event, url)
    except httpx.TransportError as exc:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            raise _unreachable(exc, f"create {name}", url) from None
        raise ServerError(f"creating {name} broke off: {describe_transport_error(exc)} "
                          f"({url})") from None
    if not outcome.success:
        last = outcome.statuses[-1] if outcome.statuses else "nothing"
        raise ServerError(f"creating {name}: the stream ended without 'success' (last status: "
                          f"{last!r}; {url})")
    return outcome


def _follow(chunks: Iterator[bytes], name: str, outcome: CreateOutcome, watchdog: Watchdog,
            on_event: ProgressSink, url: str) -> None:
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            _line(line, name, outcome, watchdog, on_event, url)
    if rest.strip():
        _line(rest, name, outcome, watchdog, on_event, url)


def _line(line: bytes, name: str, outcome: CreateOutcome, watchdog: Watchdog,
          on_event: ProgressSink, url: str) -> None:
    if not line.strip():
        return
    try:
        doc = json.loads(line)
    except ValueError:
        raise ServerError(f"creating {name}: the server sent a line that is not JSON "
                          f"({snippet(line)!r}; {url})") from None
    if not isinstance(doc, dict):
        raise ServerError(f"creating {name}: unexpected line {snippet(line)!r} ({url})")
    if "error" in doc:
        raise ServerError(f"creating {name} failed: {doc['error']} ({url})",
                          details={"model": name, "server_error": str(doc["error"])})
    status = str(doc.get("status") or "")
    if not status or (outcome.statuses and outcome.statuses[-1] == status):
        return
    outcome.statuses.append(status)
    watchdog.progressed()
    if status == "writing manifest":
        outcome.manifest_written = True
    if status == "success":
        outcome.success = True
        return  # the caller announces success
    on_event(ProgressEvent("model", status, subject=name))
