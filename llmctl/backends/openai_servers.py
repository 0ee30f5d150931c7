"""The OpenAI-compatible servers a probe tells apart (reference/server-apis.md §3-§7): vLLM,
llama.cpp server, TGI, LocalAI, and any other server that answers the OpenAI API.

They share the wire format (:mod:`llmctl.backends.openai`); what differs is how each one
gives itself away (``owned_by`` in ``/v1/models``, TGI's ``/info``, llama.cpp's ``/health``
while loading, LocalAI's ``/readyz``), where it says its version, and what "still loading"
looks like. One :class:`~llmctl.backends.fingerprint.ServerKind` each; see
:mod:`llmctl.backends.fingerprint` for how signs are weighed.
"""

from __future__ import annotations

from llmctl.backends.fingerprint import Answers, ServerKind, Sign, Tell


def _locked(answers: Answers) -> Sign | None:
    """``/v1/models`` wants a key and ``/version`` answers: an OpenAI server behind a key."""
    models = answers["/v1/models"]
    if answers.models_locked and isinstance(answers.json("/version"), dict):
        return Sign(Tell.LOCKED, f"GET /v1/models → {models.status} (an API key is required)")
    return None


def _health_503(answers: Answers) -> str | None:
    return "GET /health → 503" if answers["/health"].status == 503 else None


# --- vLLM ---


def vllm_fingerprint(answers: Answers) -> list[Sign]:
    signs = []
    if "vllm" in answers.owner_set:
        signs.append(Sign(Tell.OWNED_BY))
    health = answers["/health"]
    locked = _locked(answers)
    if locked is not None and health.status == 200 and not health.body.strip():
        signs.append(locked)  # vLLM's /health is an empty 200, key or not
    return signs


VLLM = ServerKind("vllm", "vLLM", vllm_fingerprint, unhealthy=_health_503)


# --- llama.cpp server ---


def _llamacpp_loading(answers: Answers) -> bool:
    health = answers["/health"]
    doc = answers.json("/health")
    return (
        health.status == 503
        and isinstance(doc, dict)
        and isinstance(doc.get("error"), dict)
        and "loading" in str(doc["error"].get("message", "")).lower()
    )


def llamacpp_fingerprint(answers: Answers) -> list[Sign]:
    signs = []
    if "llamacpp" in answers.owner_set:
        signs.append(Sign(Tell.OWNED_BY))
    if _llamacpp_loading(answers):
        signs.append(Sign(Tell.HEALTH, "GET /health → 503 'Loading model'"))
    return signs


def llamacpp_version(answers: Answers) -> str | None:
    props = answers.json("/props")
    if isinstance(props, dict) and isinstance(props.get("build_info"), str):
        return props["build_info"]  # e.g. "b6000-8f2e6c1" or "b11669-Debian"
    return None


def llamacpp_loading(answers: Answers) -> str | None:
    if _llamacpp_loading(answers):
        return "llama.cpp answers 503 on most routes until the model is loaded"
    return None


LLAMACPP = ServerKind("llamacpp", "llama.cpp server", llamacpp_fingerprint,
                      version=llamacpp_version, loading=llamacpp_loading)


# --- TGI ---


def tgi_fingerprint(answers: Answers) -> list[Sign]:
    signs = []
    info = answers.json("/info")
    if isinstance(info, dict) and info.get("router") == "text-generation-router":
        signs.append(Sign(Tell.INFO, "GET /info router=text-generation-router"))
    ids, owners = answers.model_ids, answers.owners
    if ids and owners and all(o == i for o, i in zip(owners, ids, strict=False)):
        signs.append(Sign(Tell.OWNED_BY))  # TGI says each model owns itself
    return signs


def tgi_version(answers: Answers) -> str | None:
    info = answers.json("/info")
    return str(info["version"]) if isinstance(info, dict) and info.get("version") else None


TGI = ServerKind("tgi", "TGI", tgi_fingerprint, version=tgi_version, unhealthy=_health_503)


# --- LocalAI ---


def _localai_starting(answers: Answers) -> bool:
    doc = answers.json("/readyz")
    return (answers["/readyz"].status == 503 and isinstance(doc, dict)
            and doc.get("status") == "starting")


def localai_fingerprint(answers: Answers) -> list[Sign]:
    readyz = answers["/readyz"]
    if answers.models_listed:
        owners = answers.owners
        if owners and all(o is None for o in owners) and readyz.status in (200, 503):
            return [Sign(Tell.SHAPE, f"GET /readyz → {readyz.status}; /v1/models has no owned_by")]
        return [Sign(Tell.SHAPE)] if _localai_starting(answers) else []
    if _localai_starting(answers):
        return [Sign(Tell.STARTING, "GET /readyz → 503 starting")]
    return []


def localai_loading(answers: Answers) -> str | None:
    if _localai_starting(answers):
        return "LocalAI /readyz: startup preload in progress"
    return None


LOCALAI = ServerKind("localai", "LocalAI", localai_fingerprint, loading=localai_loading)


# --- any other OpenAI-compatible server ---


def openai_fingerprint(answers: Answers) -> list[Sign]:
    """What any OpenAI server shows (said as evidence whoever it is), and the guess that it is
    just that: an OpenAI model list, or one behind a key."""
    signs = []
    if answers.owner_set:
        signs.append(Sign(Tell.OWNED_BY, "GET /v1/models owned_by="
                          + ",".join(sorted(map(str, answers.owner_set)))[:60], names=False))
    health = answers.json("/health")
    if (answers["/health"].status == 200 and isinstance(health, dict)
            and health.get("status") == "ok"):
        signs.append(Sign(Tell.HEALTH, 'GET /health → 200 {"status": "ok"}', names=False))
    if answers.models_listed:
        signs.append(Sign(Tell.SHAPE, "GET /v1/models answers in OpenAI format"))
    locked = _locked(answers)
    if locked is not None:
        signs.append(locked)
    return signs


OPENAI_COMPATIBLE = ServerKind("openai-compatible", "OpenAI-compatible", openai_fingerprint)
