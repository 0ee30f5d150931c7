"""The configured endpoint (`endpoint`): the endpoint file is valid, its server answers,
has the model, and the model supports tools."""

from __future__ import annotations

from typing import Any

from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, fail, ok, skip, warn
from llmctl.errors import LlmctlError


@check("endpoint", "the configured endpoint: valid file, server answers, model present, tools")
def check_endpoint(env: DoctorEnv) -> CheckResult:
    from llmctl import endpoint as ep_mod
    from llmctl.probe import probe

    path = ep_mod.endpoints_path()
    try:
        _, entries = ep_mod.read_config(path)
    except LlmctlError as exc:
        return fail(exc.message, exc.hint or f"Fix {path}, or write it again: "
                                             "`llmctl endpoint write`.", path=str(path))
    if not entries and not (env.environ.get("LLM_ENDPOINT") and env.environ.get("LLM_MODEL")):
        return skip(f"no endpoint configured ({path} does not exist or has none)",
                    "Write one once a server runs: `llmctl endpoint write`.", path=str(path))
    try:
        ep = ep_mod.load_endpoint(path=path)
    except LlmctlError as exc:
        return warn(exc.message, exc.hint, path=str(path))
    data: dict[str, Any] = {"path": str(path), "name": ep.name, "url": ep.endpoint,
                            "model": ep.model}
    where = f"endpoint {ep.name} ({ep.endpoint}, model {ep.model})"
    result = probe([ep.endpoint], timeout=max(1.0, env.http_timeout * 2),
                   api_key=ep.bearer_token, include_configured=False).results[0]
    data.update(server=result.server, status=result.status)
    if not result.reachable:
        return fail(f"{where}: nothing answers ({result.reason or result.status})",
                    "Start the server (`llmctl status` shows what runs), or point the endpoint "
                    "at one that runs: `llmctl endpoint write --endpoint URL --model "
                    f"{ep.model}`.", **data)
    if not result.is_llm:
        return fail(f"{where}: answers, but not as an LLM API ({result.reason or '?'})",
                    "Check the URL with `llmctl probe " + ep.endpoint + "`, then "
                    "`llmctl endpoint write --endpoint URL`.", **data)
    server = result.server or ""
    from llmctl.names import model_matches

    if not any(model_matches(ep.model, m, server) for m in result.models):
        have = ", ".join(result.models[:8]) or "none"
        return fail(f"{where}: the {result.server_name} there does not have the model "
                    f"(it has: {have})",
                    f"Pull it: `llmctl pull {ep.model}` (or choose one it has: "
                    "`llmctl endpoint write --model NAME`).", **data)
    tools = _tools_support(ep, result, env.http_timeout * 2)
    data["tools"] = tools
    if tools is False:
        return warn(f"{where}: {result.server_name} answers and has the model, but the model "
                    "does not support tools (the MCP client needs tool calling)",
                    "Use a model with tools, e.g. `llmctl pull qwen2.5:0.5b` then "
                    "`llmctl endpoint write --model qwen2.5:0.5b`.", **data)
    said = {True: "supports tools", None: "tool support unknown"}[tools]
    if result.status == "loading":
        return warn(f"{where}: {result.server_name} is still loading", "Wait, then run "
                    "doctor again.", **data)
    return ok(f"{where}: {result.server_name} answers, model present, {said}", **data)


def _tools_support(ep: Any, result: Any, timeout: float) -> bool | None:
    """Ollama says it in /api/show capabilities; for others, what `endpoint write` found."""
    if result.server == "ollama" or (result.server == "docker-model-runner"
                                     and ep.api_type == "ollama"):
        from llmctl.backends import ollama
        from llmctl.backends.http import make_client
        from llmctl.endpoint import connectable

        try:
            with make_client(connectable(result.root), timeout=timeout,
                             headers=ep.auth_headers()) as client:
                return ollama.supports_tools(client, ep.model)
        except Exception:  # advisory: an older server or an odd answer
            return None
    return ep.verified.tools if ep.verified is not None else None


