"""What tells LLM servers apart (reference/server-apis.md §7): the answers a probe collected,
and the signs each kind of server leaves in them. No I/O here.

Each kind of server is a :class:`ServerKind` that lives next to its backend
(``backends/ollama.py``, ``backends/runner_status.py``, ``backends/openai_servers.py``) and
:mod:`llmctl.backends.kinds` lists them in the order they are tried. A kind's
``fingerprint`` returns the :class:`Sign` values it sees in the :class:`Answers`; the most
telling sign names the server, and a tie goes to the kind tried first. What ``GET /`` says
is read once for every kind: a page names at most one server, the first kind whose
``running_text`` it contains.

Evidence (what ``llmctl probe`` says it saw) is every sign's line in order of how telling
it is, except guesses (:attr:`Tell.SHAPE` and weaker): a guess is said only when it decides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


@dataclass
class Fetch:
    """One GET of a probe: its answer (status, type, up to 1 MiB of body) or its error."""

    path: str
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    truncated: bool = False
    error: str | None = None
    elapsed: float = 0.0
    location: str | None = None

    def json(self) -> Any:
        if self.status is None or self.truncated or not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def text(self) -> str:
        return self.body[:512].decode("utf-8", "replace").strip()


def openai_list(doc: Any) -> tuple[list[str], list[Any]]:
    """(ids, owned_by values) of an OpenAI ``/v1/models`` body; ([], []) for anything else."""
    if (
        not isinstance(doc, dict)
        or not (isinstance(doc.get("data"), list) or doc.get("data") is None)
        or "data" not in doc
    ):
        return [], []
    data = [m for m in (doc.get("data") or []) if isinstance(m, dict)]
    return [str(m.get("id")) for m in data if m.get("id")], [m.get("owned_by") for m in data]


class Answers:
    """The fetches of one probe, by path, with what several kinds read from them."""

    def __init__(self, fetches: dict[str, Fetch]) -> None:
        self.fetches = fetches
        self._json: dict[str, Any] = {}
        models = self["/v1/models"]
        self.model_ids, self.owners = (openai_list(self.json("/v1/models"))
                                       if models.status == 200 else ([], []))
        self.owner_set = {o for o in self.owners if o is not None}

    def __getitem__(self, path: str) -> Fetch:
        return self.fetches.get(path) or Fetch(path, error="not asked")

    def json(self, path: str) -> Any:
        if path not in self._json:
            self._json[path] = self[path].json()
        return self._json[path]

    @property
    def root_text(self) -> str:
        """What ``GET /`` said, when it answered 200."""
        root = self["/"]
        return root.text() if root.status == 200 else ""

    @property
    def models_listed(self) -> bool:
        """``GET /v1/models`` answered 200 with JSON (of any shape)."""
        return self["/v1/models"].status == 200 and self.json("/v1/models") is not None

    @property
    def models_locked(self) -> bool:
        """``GET /v1/models`` wants an API key."""
        return self["/v1/models"].status in (401, 403)

    def version_route(self) -> str | None:
        """``GET /version`` ``{"version": "..."}``: what servers without their own way say."""
        doc = self.json("/version")
        if isinstance(doc, dict) and isinstance(doc.get("version"), str):
            return str(doc["version"])
        return None


class Tell(IntEnum):
    """How telling a sign is, most telling first."""

    ROOT_TEXT = 1  # GET / says the server's name
    OWN_ROUTE = 2  # a route only that server has (Model Runner's /engines/status)
    INFO = 3  # GET /info names the server (TGI's router)
    OWNED_BY = 4  # GET /v1/models owned_by
    HEALTH = 5  # the server's own /health answer
    NATIVE_API = 6  # the server's own API answers (Ollama's /api/version)
    # Guesses: the answers fit, but nothing names the server. Said only for the kind chosen.
    SHAPE = 7  # an OpenAI model list
    STARTING = 8  # /readyz says starting, without a model list
    LOCKED = 9  # /v1/models wants an API key


@dataclass(frozen=True)
class Sign:
    tell: Tell
    evidence: str = ""  # said in probe's evidence ("": another sign says it)
    names: bool = True  # False: an observation said as evidence, naming no server

    @property
    def guess(self) -> bool:
        return self.tell >= Tell.SHAPE


Fingerprint = Callable[[Answers], list[Sign]]
Reader = Callable[[Answers], Any]


@dataclass(frozen=True)
class ServerKind:
    """One kind of LLM server, as a probe tells it apart and reads it."""

    name: str  # probe's word: ollama | docker-model-runner | vllm | llamacpp | tgi | ...
    title: str  # for people: "Ollama", "llama.cpp server"
    fingerprint: Fingerprint
    api: str = "openai"  # the API a client uses: ollama | openai
    running_text: str | None = None  # what GET / says on this server, if it says who it is
    paths: tuple[str, ...] = ()  # what to GET once GET / named it (else every tell-tale path)
    models: Callable[[Answers], list[str]] | None = None  # else the /v1/models ids
    version: Callable[[Answers], str | None] | None = None  # else GET /version
    loading: Callable[[Answers], str | None] | None = None  # a note when answers say "loading"
    unhealthy: Callable[[Answers], str | None] | None = None  # the reason, when it is this kind

    def models_in(self, answers: Answers) -> list[str]:
        return self.models(answers) if self.models is not None else answers.model_ids

    def version_in(self, answers: Answers) -> str | None:
        found = self.version(answers) if self.version is not None else None
        return found if found is not None else answers.version_route()


def named_at_root(text: str, kinds: tuple[ServerKind, ...]) -> ServerKind | None:
    """The kind whose ``running_text`` is in ``text`` (GET /'s answer), the first one tried."""
    return next((k for k in kinds if k.running_text and k.running_text in text), None)


@dataclass
class Identified:
    kind: ServerKind | None
    evidence: list[str] = field(default_factory=list)


def identify_kind(answers: Answers, kinds: tuple[ServerKind, ...]) -> Identified:
    """Which of ``kinds`` answered (None: no sign names one), and the evidence for it."""
    seen: list[tuple[Sign, ServerKind]] = []
    named = named_at_root(answers.root_text, kinds)
    if named is not None:
        seen.append((Sign(Tell.ROOT_TEXT, f"GET / says '{named.running_text}'"), named))
    for kind in kinds:
        seen += [(sign, kind) for sign in kind.fingerprint(answers)]
    seen.sort(key=lambda seen_one: seen_one[0].tell)  # stable: a tie keeps the kinds' order
    decisive = next((pair for pair in seen if pair[0].names), None)
    evidence = [pair[0].evidence for pair in seen
                if pair[0].evidence and (not pair[0].guess or pair is decisive)]
    return Identified(decisive[1] if decisive is not None else None, evidence)
