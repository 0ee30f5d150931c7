"""The servers llmctl runs, as targets for `probe` and `endpoint write`.

Commands that only *may* use the managed servers ask through here: an engine that cannot be
reached (no socket, daemon stopped, bad context) is a note on stderr, never a failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.managed import ManagedServer
    from llmctl.probe import ManagedTarget


def to_target(server: ManagedServer) -> ManagedTarget:
    from llmctl.probe import ManagedTarget

    assert server.endpoint is not None
    return ManagedTarget(
        url=server.endpoint,
        instance=server.instance,
        profile=server.profile,
        api=server.api,
        container=server.container,
        endpoint_container=server.endpoint_container,
    )


def managed_targets() -> list[ManagedTarget]:
    """The running llmctl-managed servers that publish a port (raises LlmctlError when the
    engine cannot be reached)."""
    from llmctl.cli.context import get_engine
    from llmctl.managed import list_servers

    servers = list_servers(get_engine())
    return [to_target(s) for s in servers if s.state == "running" and s.endpoint]


def managed_targets_or_note() -> tuple[list[ManagedTarget], str | None]:
    """(targets, None), or ([], why) when the engine cannot be asked."""
    try:
        return managed_targets(), None
    except LlmctlError as exc:
        return [], f"llmctl-managed servers not looked up ({exc.message})"
