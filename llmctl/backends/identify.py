"""What answers at ``GET /`` of a URL: one request, and the server's name when its page says
it (Ollama and Docker Model Runner do: reference/server-apis.md §7).

The one home for this question, for every caller that has a URL and wants a short answer:
``llmctl doctor``, "who holds this port", a runner's status. (``llmctl probe`` asks many
routes at once and reads the same page through :mod:`llmctl.backends.fingerprint`.)
"""

from __future__ import annotations

from dataclasses import dataclass

from llmctl.backends.fingerprint import named_at_root
from llmctl.backends.kinds import KINDS

DEFAULT_TIMEOUT = 1.0
# A server that names itself, in the words of `Answer.kind` (llmctl's backend names).
ANSWER_KINDS = {"ollama": "ollama", "docker-model-runner": "model-runner"}


@dataclass(frozen=True)
class Answer:
    """What answers HTTP at a URL: ``kind`` ollama | model-runner | http | silent | none."""

    kind: str
    detail: str
    status: int | None = None  # GET /'s HTTP status, when something answered
    server: str | None = None  # probe's name of the server that named itself (ollama, ...)

    @property
    def listening(self) -> bool:
        return self.kind != "none"


def identify(url: str, timeout: float = DEFAULT_TIMEOUT) -> Answer:
    """One ``GET /`` at ``url`` within ``timeout`` seconds: nothing listens (``none``), it
    listens but does not answer HTTP (``silent``), a server that says its name (``ollama``,
    ``model-runner``), or another HTTP server (``http``, with its status and type)."""
    import httpx

    from llmctl.backends.http import describe_transport_error, make_client, snippet

    try:
        with make_client(url, timeout=timeout, connect_timeout=timeout) as client:
            r = client.get("/")
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout):
            return Answer("none", "connect timed out")
        return Answer("silent", f"accepts connections but sent no HTTP answer in {timeout:g} s")
    except httpx.HTTPError as exc:
        reason = describe_transport_error(exc)
        if reason == "connection refused":
            return Answer("none", "nothing listens")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return Answer("silent", f"listens but does not speak HTTP ({reason})")
        return Answer("none", reason)
    named = named_at_root(r.text.strip(), KINDS)
    if named is not None and named.name in ANSWER_KINDS:
        return Answer(ANSWER_KINDS[named.name], named.title, r.status_code, named.name)
    ctype = r.headers.get("content-type", "").split(";")[0] or "no content type"
    return Answer("http", f"an HTTP server (GET / answered {r.status_code} {ctype}"
                          f"{': ' + repr(snippet(r.content, 40)) if r.content else ''})",
                  r.status_code)
