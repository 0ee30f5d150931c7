"""Is a Docker Model Runner answering at a URL, and what does it say about itself?

Routes (reference/server-apis.md §2.1, §2.2): ``GET /`` answers the text
``Docker Model Runner is running``; ``GET /version`` ``{"version": …}``;
``GET /engines/status`` a map of backend name to a status string; ``GET /engines/v1/models``
the OpenAI list ``{"object": "list", "data": [{"id": …}, …]}``. There is no ``/health``.
Errors are plain text (Go ``http.Error``), so bodies are quoted, never parsed as JSON.

The models API itself (pull, list in Docker format, delete) lives in backends/model_runner.py.
How a probe tells a Model Runner apart from other servers is ``SERVER`` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.backends.fingerprint import Answers, ServerKind, Sign, Tell, openai_list
from llmctl.backends.http import describe_transport_error, make_client, snippet
from llmctl.errors import RunnerHttpError

if TYPE_CHECKING:
    import httpx

RUNNING_TEXT = "Docker Model Runner is running"
OPENAI_PATH = "/engines/v1"


@dataclass
class RunnerProbe:
    """What answered at ``url``: reduced to what status and up decide on."""

    url: str
    running: bool  # GET / said "Docker Model Runner is running"
    reason: str  # ok | refused | timeout | unavailable | http-error | not-runner
    detail: str
    version: str | None = None
    backends: dict[str, str] = field(default_factory=dict)
    models: list[str] | None = None

    @property
    def answered(self) -> bool:
        """Something is listening and speaks HTTP (a runner or not)."""
        return self.reason not in ("refused", "timeout", "unreachable")


def _error(url: str, reason: str, message: str, hint: str | None = None) -> RunnerHttpError:
    return RunnerHttpError(message, hint, details={"reason": reason, "url": url})


def _transport_reason(exc: BaseException) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    text = describe_transport_error(exc)
    return "refused" if text == "connection refused" else "unreachable"


def check_root(client: httpx.Client, url: str) -> str:
    """GET / must say the runner is running; return the text or raise RunnerHttpError."""
    import httpx

    try:
        r = client.get("/")
    except httpx.HTTPError as exc:
        raise _error(url, _transport_reason(exc),
                     f"nothing answers at {url} ({describe_transport_error(exc)})") from None
    body = r.text.strip()
    if r.status_code == 503:
        raise _error(url, "unavailable",
                     f"the Model Runner at {url} answered 503: {snippet(r.content) or '-'}",
                     "It is starting or broken: see `docker model status` and "
                     "`docker model logs`.")
    if r.status_code != 200:
        raise _error(url, "http-error",
                     f"GET {url}/ answered HTTP {r.status_code}: {snippet(r.content)!r}")
    if RUNNING_TEXT not in body:
        ctype = r.headers.get("content-type", "").split(";")[0] or "no content type"
        raise _error(url, "not-runner",
                     f"{url} is not a Docker Model Runner: GET / answered {ctype} "
                     f"{snippet(r.content)!r}")
    return body


def _get_json(client: httpx.Client, url: str, path: str) -> Any:
    import httpx

    try:
        r = client.get(path)
    except httpx.HTTPError as exc:
        raise _error(url, _transport_reason(exc),
                     f"GET {url}{path} failed: {describe_transport_error(exc)}") from None
    if r.status_code == 503:
        raise _error(url, "unavailable",
                     f"GET {url}{path} answered 503: {snippet(r.content) or '-'}",
                     "The runner is not ready: see `docker model status` and "
                     "`docker model logs`.")
    if r.status_code != 200:
        # Model Runner errors are plain text with a trailing newline.
        raise _error(url, "http-error",
                     f"GET {url}{path} answered HTTP {r.status_code}: {snippet(r.content)!r}")
    try:
        return r.json()
    except ValueError:
        ctype = r.headers.get("content-type", "").split(";")[0] or "no content type"
        raise _error(url, "bad-models" if "models" in path else "http-error",
                     f"GET {url}{path} answered {ctype}, not JSON: "
                     f"{snippet(r.content)!r}") from None


def engines_status(client: httpx.Client, url: str) -> dict[str, str]:
    doc = _get_json(client, url, "/engines/status")
    if not isinstance(doc, dict):
        raise _error(url, "http-error", f"GET {url}/engines/status: expected an object of "
                                        f"backend states, got {type(doc).__name__}")
    return {str(k): str(v) for k, v in doc.items()}


def runner_version(client: httpx.Client, url: str) -> str | None:
    doc = _get_json(client, url, "/version")
    if isinstance(doc, dict) and isinstance(doc.get("version"), str):
        return str(doc["version"])
    return None


def openai_models(client: httpx.Client, url: str) -> list[str]:
    """IDs from ``GET /engines/v1/models``; the OpenAI list form is required."""
    doc = _get_json(client, url, f"{OPENAI_PATH}/models")
    if not (isinstance(doc, dict) and doc.get("object") == "list"
            and isinstance(doc.get("data"), list)):
        raise _error(url, "bad-models",
                     f"GET {url}{OPENAI_PATH}/models is not an OpenAI model list "
                     f"({snippet(str(doc))!r})")
    ids = []
    for item in doc["data"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise _error(url, "bad-models",
                         f"GET {url}{OPENAI_PATH}/models: an entry has no string 'id'")
        ids.append(item["id"])
    return ids


def verify(base_url: str, *, timeout: float = 5.0, transport: Any = None) -> RunnerProbe:
    """The runner answers as it should: ``/`` text, ``/engines/v1/models`` in OpenAI format,
    and its backends. Raises RunnerHttpError saying what is wrong."""
    url = base_url.rstrip("/")
    with make_client(url, timeout=timeout, connect_timeout=timeout,
                     transport=transport) as client:
        check_root(client, url)
        models = openai_models(client, url)
        backends = engines_status(client, url)
        try:
            version = runner_version(client, url)
        except RunnerHttpError:
            version = None  # older runners: /version is optional for llmctl
    return RunnerProbe(url, True, "ok", f"{RUNNING_TEXT} ({len(models)} models)",
                       version=version, backends=backends, models=models)


def probe(base_url: str, *, timeout: float = 1.5, transport: Any = None) -> RunnerProbe:
    """Like :func:`verify` but never raises: for `status` and for naming a port's holder."""
    url = base_url.rstrip("/")
    try:
        return verify(url, timeout=timeout, transport=transport)
    except RunnerHttpError as exc:
        # A runner whose / answered but whose other routes failed is still "running".
        running = exc.reason in ("bad-models", "http-error", "unavailable") and \
            _root_ok(url, timeout, transport)
        return RunnerProbe(url, running, exc.reason, exc.message)


def _root_ok(url: str, timeout: float, transport: Any) -> bool:
    try:
        with make_client(url, timeout=timeout, connect_timeout=timeout,
                         transport=transport) as client:
            check_root(client, url)
        return True
    except RunnerHttpError:
        return False


# --- how a probe tells a Model Runner apart (llmctl.backends.fingerprint) ---


def fingerprint(answers: Answers) -> list[Sign]:
    """``GET /engines/status`` (a map of backend to state) and ``owned_by: docker``; its
    ``GET /`` text is read for every kind."""
    signs = []
    engines = answers.json("/engines/status")
    if (
        answers["/engines/status"].status == 200
        and isinstance(engines, dict)
        and engines
        and all(isinstance(v, str) for v in engines.values())
    ):
        signs.append(Sign(Tell.OWN_ROUTE,
                          "GET /engines/status lists backends: " + ", ".join(list(engines)[:3])))
    if "docker" in answers.owner_set:
        signs.append(Sign(Tell.OWNED_BY))
    return signs


def probed_models(answers: Answers) -> list[str]:
    """The ids in ``GET /engines/v1/models`` (else what ``/v1/models`` lists)."""
    ids, _ = openai_list(answers.json(f"{OPENAI_PATH}/models"))
    return ids or answers.model_ids


SERVER = ServerKind(
    "docker-model-runner", "Docker Model Runner", fingerprint, running_text=RUNNING_TEXT,
    paths=("/engines/status", f"{OPENAI_PATH}/models", "/version"), models=probed_models,
)
