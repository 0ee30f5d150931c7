"""`--write-endpoint` for `up` and `pull`: verify and save the endpoint the MCP client reads,
with the same rules as `llmctl endpoint write` (managed servers get their llmctl-network URL,
a Model Runner llmctl did not start the URL it reports: see
llmctl.targets.model_runner.target.use_container_url)."""

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
    from llmctl.cli.context import get_engine
    from llmctl.cli.managed_targets import managed_targets_or_note
    from llmctl.targets.model_runner.target import use_container_url
    from llmctl.verify import prepare_endpoint, write_endpoint

    managed, note = managed_targets_or_note()
    if note:
        err(f"note: {note}")
    try:
        result = prepare_endpoint(url=url, model=model, targets_from_managed=managed)
        use_container_url(result, get_engine, explicit=None)
        write_endpoint(result, make_default=True, on_wait=say_note)
    except LlmctlError as exc:
        exc.message = f"{what}, but the endpoint was not written: {exc.message}"
        raise
    for w in result.warnings:
        warn(w)
    err(f"wrote endpoint {result.endpoint.name!r} (default) to {result.path}: "
        f"{result.endpoint.api_type} {result.endpoint.endpoint} model {result.endpoint.model}")
    return result
