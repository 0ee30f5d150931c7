"""Choose, probe, verify: decide which endpoint ``llmctl endpoint write`` (and ``up``/``pull``
``--write-endpoint``) saves, before :mod:`llmctl.endpoint` writes it.

The steps, each a small function below: check the options (before any I/O); find the server
(the URL given, the one server llmctl runs, or the one a probe of the usual ports finds);
say what it is (kind, API, base URL; or, unverified, what the URL implies); the URL other
containers use; the model (given, or the server's only one); and, verifying, that the
server has the model (and, for Ollama, whether it does tools).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.endpoint import (
    API_TYPES,
    LLM_TYPES,
    Endpoint,
    Verified,
    endpoint_from_url,
    endpoints_path,
    save_endpoint,
)
from llmctl.errors import (
    EndpointUnreachable,
    ModelNotFound,
    NotFoundError,
    NotReadyError,
    UsageError,
)
from llmctl.probe import ManagedTarget, managed_match
from llmctl.urls import api_base, connectable, container_url

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from llmctl.probe import ProbeResult


@dataclass
class WriteResult:
    endpoint: Endpoint
    path: str
    verified: bool
    warnings: list[str] = field(default_factory=list)
    probed: dict[str, Any] | None = None
    default: bool = True
    managed: ManagedTarget | None = None  # the llmctl container serving it, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint.to_dict(),
            "path": self.path,
            "verified": self.verified,
            "default": self.default,
            "managed": self.managed.to_dict() if self.managed else None,
            "warnings": self.warnings,
        }


LLM_TYPE_BY_SERVER = {
    "ollama": "ollama",
    "docker-model-runner": "docker-model-runner",
}


def llm_type_for(server: str, managed: ManagedTarget | None) -> str:
    """``docker-model-runner`` for a Model Runner (as probe detects it, or llmctl's own
    runner), ``docker-container`` for another server llmctl runs, else ``ollama`` or
    ``openai-compatible``."""
    from llmctl.names import MODEL_RUNNER

    if server == "docker-model-runner" or (managed is not None and managed.profile == MODEL_RUNNER):
        return "docker-model-runner"
    if managed is not None:
        return "docker-container"
    return LLM_TYPE_BY_SERVER.get(server, "openai-compatible")


@dataclass(frozen=True)
class Server:
    """What the endpoint points at, before the model is chosen."""

    api_type: str  # ollama | openai
    base: str  # the API base URL written as ``endpoint``
    server: str  # what probe found there (ollama, vllm, ...); "" when it was not asked
    llm_type: str  # ollama | docker-model-runner | docker-container | openai-compatible


def prepare_endpoint(
    *,
    url: str | None = None,
    model: str | None = None,
    api: str | None = None,
    name: str | None = None,
    token: str | None = None,
    endpoint_container: str | None = None,
    llm_type: str | None = None,
    verify: bool = True,
    timeout: float = 5.0,
    targets_from_managed: Sequence[str | ManagedTarget] | None = None,
) -> WriteResult:
    """Decide what to write: find or probe the server, check the model (and tools).

    ``targets_from_managed``: the servers llmctl runs (:class:`llmctl.probe.ManagedTarget`,
    or bare URLs). With no ``url``, the one running managed server is the default, else
    the one server a probe finds. A server that is one of them is written with
    ``llm_type: docker-container`` (``docker-model-runner`` for a Model Runner) and the
    URL other containers on the ``llmctl`` network use (``http://llmctl-NAME:PORT``).
    """
    url, endpoint_container = check_options(url, api, llm_type, endpoint_container)
    managed = [t for t in (targets_from_managed or []) if isinstance(t, ManagedTarget)]
    if url is None and len(managed) == 1:
        url = managed[0].url  # the one server llmctl runs
    if url is None:
        found: ProbeResult | None = find_server(timeout, token, targets_from_managed)
    else:
        found = probe_server(url, timeout, token) if verify else None
    target = managed_match(found.url if found is not None else url or "", managed)
    warnings: list[str] = []
    if found is not None:
        server = probed_server(found, api, llm_type, target, verify=verify, warnings=warnings)
    else:
        assert url is not None
        server = server_at_url(url, api, llm_type, target)
    if endpoint_container is None:
        endpoint_container = managed_container_url(target, server)
    model = model or only_model(found)
    verified = None
    if found is not None and verify:
        verified = verify_model(found, model, server, token, timeout, warnings)
    ep = Endpoint(
        name=name or (target.instance if target is not None else server.llm_type),
        api_type=server.api_type,
        endpoint=server.base,
        model=model,
        llm_type=server.llm_type,
        endpoint_container=endpoint_container or container_url(server.base),
        bearer_token=token,
        verified=verified,
    )
    return WriteResult(
        endpoint=ep,
        path=str(endpoints_path()),
        verified=verified is not None,
        warnings=warnings,
        managed=target,
    )


def check_options(url: str | None, api: str | None, llm_type: str | None,
                  endpoint_container: str | None) -> tuple[str | None, str | None]:
    """The option values, checked before any I/O: (url, endpoint_container) normalized."""
    from llmctl import urls

    if api is not None and api not in API_TYPES:
        raise UsageError(f"--api must be one of {', '.join(API_TYPES)}, not {api!r}")
    if llm_type is not None and llm_type not in LLM_TYPES:
        raise UsageError(f"--llm-type must be one of {', '.join(LLM_TYPES)}")
    if url is not None:
        url = urls.normalize(url, "--endpoint")
    if endpoint_container is not None:
        endpoint_container = urls.normalize(endpoint_container, "--endpoint-container")
    return url, endpoint_container


def find_server(timeout: float, token: str | None,
                targets_from_managed: Sequence[str | ManagedTarget] | None) -> ProbeResult:
    """No URL given: the one LLM server a probe finds (usual ports and managed servers)."""
    from llmctl.probe import probe

    report = probe(None, timeout=timeout, targets_from_managed=targets_from_managed,
                   include_configured=False, api_key=token)
    found = [r for r in report.results if r.is_llm]
    if not found:
        raise NotFoundError(
            "no LLM server answered on this machine's usual ports",
            "Start one (llmctl up ollama) or pass --endpoint URL.",
        )
    if len({r.root for r in found}) > 1:
        listing = ", ".join(_describe(r) for r in found)
        raise UsageError(
            f"several LLM servers answer: {listing}",
            "Choose one with --endpoint URL.",
        )
    return found[0]


def probe_server(url: str, timeout: float, token: str | None) -> ProbeResult:
    from llmctl.probe import probe

    return probe([url], timeout=timeout, api_key=token).results[0]


def _describe(r: ProbeResult) -> str:
    who = f"{r.base_url} ({r.server}"
    if r.managed is not None:
        who += f", llmctl instance {r.managed.instance}"
    return who + ")"


def probed_server(found: ProbeResult, api: str | None, llm_type: str | None,
                  target: ManagedTarget | None, *, verify: bool, warnings: list[str]) -> Server:
    """What a probe found, as the endpoint to write; an error when it is no LLM server (a
    wrong path is said as one) or, verifying, when it is still loading its model."""
    if not found.is_llm and found.suggestion:  # a wrong path, said as one
        raise UsageError(f"--endpoint {found.url}: {found.reason}",
                         f"Use --endpoint {found.suggestion}.",
                         details={"url": found.url, "suggestion": found.suggestion})
    if not found.is_llm:
        raise EndpointUnreachable(
            f"{found.url}: {found.reason or 'not an LLM server'}",
            "Check the URL with: llmctl probe " + found.url,
        )
    server = found.server or "openai-compatible"
    api_type = api or found.api_type or "openai"
    chosen = Server(api_type=api_type, base=api_base(connectable(found.root), api_type, server),
                    server=server, llm_type=llm_type or llm_type_for(server, target))
    if found.status == "loading":
        if verify:  # nothing can be checked yet: the model, its tools
            raise NotReadyError(
                f"{found.base_url}: the {found.server_name} is still loading its model",
                f"Wait until `llmctl probe {found.root}` says ready, then run this "
                "again (--no-verify writes it without checking).",
                details={"url": found.base_url, "server": server},
            )
        warnings.append(f"{found.base_url} is still loading its model")
    return chosen


def server_at_url(url: str, api: str | None, llm_type: str | None,
                  target: ManagedTarget | None) -> Server:
    """Unverified: what the URL implies (a path ending in /v1 is the OpenAI API), or the
    API the managed server there is labelled with."""
    if target is not None and api is None and not url.rstrip("/").endswith("/v1"):
        api = target.api if target.api in API_TYPES else None
    ep = endpoint_from_url(url, api=api)
    kind = llm_type or (llm_type_for(ep.llm_type, target) if target is not None else ep.llm_type)
    return Server(api_type=ep.api_type, base=ep.endpoint, server="", llm_type=kind)


def managed_container_url(target: ManagedTarget | None, server: Server) -> str | None:
    """The API base other containers use for a server llmctl runs (on the llmctl network)."""
    if target is None or not target.endpoint_container:
        return None
    inside = server.server or ("docker-model-runner"
                               if server.llm_type == "docker-model-runner" else "")
    return api_base(target.endpoint_container, server.api_type, inside)


def only_model(found: ProbeResult | None) -> str:
    """No --model: the server's only model, else a usage error listing what it has."""
    models = found.models if found is not None else []
    if len(models) == 1:
        return models[0]
    have = ", ".join(models[:10]) if models else "none"
    pulls = found is None or found.server in ("ollama", "docker-model-runner")
    raise UsageError(
        f"--model is required (the server has: {have})",
        "Pass --model NAME" + ("; pull one first with: llmctl pull MODEL"
                               if pulls and not models else "."),
    )


def verify_model(found: ProbeResult, model: str, server: Server, token: str | None,
                 timeout: float, warnings: list[str]) -> Verified:
    """The server has ``model`` (else ModelNotFound); for Ollama's API, whether it does
    tools (a warning when it does not: the MCP client needs tool calling)."""
    from datetime import datetime, timezone

    from llmctl.names import model_matches

    if not any(model_matches(model, m, server.server) for m in found.models):
        raise ModelNotFound(model, url=found.base_url or found.root)
    tools = None
    if server.server == "ollama" or (server.api_type == "ollama"
                                     and server.server == "docker-model-runner"):
        tools = _ollama_tools(found.root, model, token, timeout)
        if tools is False:
            warnings.append(
                f"model {model!r} does not support tools (Ollama /api/show capabilities);"
                " the MCP client needs tool calling"
            )
    return Verified(
        at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        server=server.server,
        model_present=True,
        tools=tools,
    )


def _ollama_tools(root: str, model: str, token: str | None, timeout: float) -> bool | None:
    from llmctl.backends import ollama
    from llmctl.backends.http import make_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        with make_client(connectable(root), timeout=timeout, headers=headers) as client:
            return ollama.supports_tools(client, model)
    except Exception:  # capability check is advisory
        return None


def write_endpoint(result: WriteResult, *, make_default: bool = True,
                   on_wait: Callable[[str], None] | None = None) -> WriteResult:
    path = save_endpoint(result.endpoint, make_default=make_default, on_wait=on_wait)
    result.path = str(path)
    result.default = make_default
    return result
