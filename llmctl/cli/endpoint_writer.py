"""`--write-endpoint` for `up` and `pull`: verify and save the endpoint the MCP client reads,
with the same rules as `llmctl endpoint write` (managed servers get their llmctl-network URL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl.cli.output import err, warn
from llmctl.cli.output import note as say_note
from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.verify import WriteResult


def write_endpoint_for(url: str, model: str | None, *, what: str) -> WriteResult:
    """Write the default endpoint for ``url`` (and ``model``); errors say what already
    happened (``what``) so the user knows the server or model is in place."""
    from llmctl.cli.managed_targets import managed_targets_or_note
    from llmctl.verify import prepare_endpoint, write_endpoint

    managed, note = managed_targets_or_note()
    if note:
        err(f"note: {note}")
    try:
        result = prepare_endpoint(url=url, model=model, targets_from_managed=managed)
        use_runner_container_url(result, explicit=None)
        write_endpoint(result, make_default=True, on_wait=say_note)
    except LlmctlError as exc:
        exc.message = f"{what}, but the endpoint was not written: {exc.message}"
        raise
    for w in result.warnings:
        warn(w)
    err(f"wrote endpoint {result.endpoint.name!r} (default) to {result.path}: "
        f"{result.endpoint.api_type} {result.endpoint.endpoint} model {result.endpoint.model}")
    return result


def use_runner_container_url(result: WriteResult, *, explicit: str | None) -> None:
    """A Docker Model Runner llmctl did not start: containers reach it at the address the
    runner itself reports (``model-runner.docker.internal`` on Desktop, the bridge gateway on
    Engine), not at the host.docker.internal guess used for other servers."""
    from urllib.parse import urlsplit

    ep = result.endpoint
    if explicit or result.managed is not None or ep.llm_type != "docker-model-runner" \
            or ep.api_type != "openai":
        return
    from llmctl.cli.commands.model_runner import runner_status
    from llmctl.cli.common import get_engine

    try:
        status = runner_status(get_engine())
    except LlmctlError:
        return
    if status is None or not status.running or not status.base_url \
            or not status.endpoint_container:
        return
    if urlsplit(status.base_url).port == urlsplit(ep.endpoint).port:
        ep.endpoint_container = status.endpoint_container
