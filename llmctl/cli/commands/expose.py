"""`llmctl expose NAME` and `llmctl unexpose NAME`: an authenticating proxy in front of a
server llmctl runs, and its removal."""

from __future__ import annotations

import typer

from llmctl.cli.options import JSON_OPTION
from llmctl.cli.output import emit_json, warn


def register(app: typer.Typer) -> None:
    app.command("expose")(expose)
    app.command("unexpose")(unexpose)


def expose(
    name: str = typer.Argument(..., help="The server to expose: its instance name "
                                         "(`llmctl status`), e.g. ollama."),
    listen: str | None = typer.Option(
        None, "--listen",
        help="IP:PORT the proxy is published on (default 127.0.0.1 and port 11480, or 11443 "
             "with TLS). Anything but loopback exposes it: asks first, or --yes."),
    tls: str = typer.Option("off", "--tls",
                            help="off | internal (the proxy's own CA signs its certificate)."),
    rotate_key: bool = typer.Option(False, "--rotate-key",
                                    help="Replace the key (the server keeps running)."),
    proxy_image: str | None = typer.Option(
        None, "--proxy-image", help="Caddy 2 image with an explicit tag (default caddy:2.11.7)."),
    timeout: float = typer.Option(60.0, "--timeout",
                                  help="Seconds to wait for the proxy to answer."),
    yes: bool = typer.Option(False, "--yes", "-y",
                             help="Confirm exposing beyond loopback."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Put an authenticating proxy (Caddy) in front of NAME: requests need
    `Authorization: Bearer KEY`, anything else gets 401 and never reaches the server. The
    key goes into the endpoint file (entry NAME-exposed, the default), never on screen."""
    from llmctl.cli import context, render
    from llmctl.cli.progress import progress_sink, resolve_mode
    from llmctl.expose import proxy
    from llmctl.expose.plan import ExposeRequest

    request = ExposeRequest(name=name, listen=listen, tls=tls, rotate_key=rotate_key,
                            image=proxy_image, timeout=timeout)
    events = context.events(yes=yes)
    # The command line is checked, and exposure confirmed, before Docker is contacted.
    checked = proxy.check_request(request, events)
    engine = context.get_engine()
    with progress_sink(resolve_mode("auto")) as sink:
        result = proxy.expose(engine, checked, events=events, progress=sink)
    for note in result.notes:
        if note.startswith("no endpoint entry"):
            warn(note)
        else:
            events.note(note)
    if json_out:
        emit_json("expose", result)
        return
    render.expose_result(result)


def unexpose(
    name: str = typer.Argument(..., help="The server whose proxy to remove."),
    volumes: bool = typer.Option(False, "--volumes",
                                 help="Also remove the proxy's CA volume (--tls internal)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Remove NAME's proxy, its endpoint entry and its CA file; the server keeps running on
    loopback."""
    from llmctl.cli import context, render
    from llmctl.expose import proxy
    from llmctl.names import validate_instance_name

    validate_instance_name(name, "NAME")
    result = proxy.unexpose(context.get_engine(), name, volumes=volumes)
    if json_out:
        emit_json("unexpose", result)
        return
    render.unexpose_result(result)
