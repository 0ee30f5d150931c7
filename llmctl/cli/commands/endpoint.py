"""`llmctl endpoint write|show|env|list|remove`: the config the MCP client reads."""

from __future__ import annotations

from pathlib import Path

import typer

from llmctl.cli.options import SHORT_JSON_OPTION
from llmctl.cli.output import emit_json, err, out, table, warn, write_document
from llmctl.cli.output import note as say_note
from llmctl.errors import UsageError

endpoint_app = typer.Typer(
    help="Write and show the endpoint config the MCP client reads (endpoints.yaml).",
    no_args_is_help=True,
)

FORMAT_HELP = "yaml, json or env (shell exports)."


def _check_format(fmt: str) -> str:
    from llmctl.endpoint import FORMATS

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt


@endpoint_app.command("write")
def write_command(
    endpoint: str | None = typer.Option(
        None,
        "--endpoint",
        "-e",
        help="Server URL (default: the one server llmctl runs, else the one probe finds).",
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Model the client uses."),
    api: str | None = typer.Option(None, "--api", help="ollama or openai (default: detected)."),
    name: str | None = typer.Option(None, "--name", "-n", help="Entry name (default: the kind)."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="File holding a bearer token (stored 0600, never printed)."
    ),
    endpoint_container: str | None = typer.Option(
        None,
        "--endpoint-container",
        help="URL other containers use (default: http://llmctl-NAME:PORT for a server "
        "llmctl runs, else host.docker.internal).",
    ),
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Check the server and model first."
    ),
    make_default: bool = typer.Option(
        True, "--default/--no-default", help="Make this the default endpoint."
    ),
    fmt: str = typer.Option("yaml", "--format", "-f", help=FORMAT_HELP),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also export the entry in --format to this file (0600)."
    ),
    timeout: float = typer.Option(5.0, "--timeout", "-t", help="Seconds for verification."),
    json_out: bool = SHORT_JSON_OPTION,
) -> None:
    """Verify an endpoint (server answers, model present, tool support) and save it.

    A server llmctl runs in a container is written as llm_type docker-container (a Model
    Runner as docker-model-runner) with the URL containers on the llmctl network use.
    """
    from llmctl import urls
    from llmctl.cli.context import get_engine
    from llmctl.cli.managed_targets import managed_targets_or_note
    from llmctl.cli.options import read_token_file
    from llmctl.endpoint import export, render
    from llmctl.targets.model_runner.target import use_container_url
    from llmctl.verify import prepare_endpoint, write_endpoint

    _check_format(fmt)
    from llmctl.names import validate_endpoint_model, validate_endpoint_name

    if name is not None:  # before anything is probed or written; '' is an error
        validate_endpoint_name(name)
    if model is not None:
        validate_endpoint_model(model, api=api)
    if endpoint is None and not verify:
        raise UsageError("--no-verify needs --endpoint URL (there is nothing to probe)")
    if endpoint is not None:  # a bad URL is a usage error before Docker or the server is asked
        urls.parse(endpoint, "--endpoint")
    if endpoint_container is not None:
        urls.parse(endpoint_container, "--endpoint-container")
    token = read_token_file(token_file)
    managed, note = managed_targets_or_note()
    if note:
        err(f"note: {note}")
    result = prepare_endpoint(
        url=endpoint,
        model=model,
        api=api,
        name=name,
        token=token,
        endpoint_container=endpoint_container,
        verify=verify,
        timeout=timeout,
        targets_from_managed=managed,
    )
    use_container_url(result, get_engine, explicit=endpoint_container)
    write_endpoint(result, make_default=make_default, on_wait=say_note)
    if output is not None:
        export(result.endpoint, fmt, output)
    if json_out:
        emit_json("endpoint write", result)
        for w in result.warnings:
            warn(w)
        return
    for w in result.warnings:
        warn(w)
    write_document(render(result.endpoint, fmt))
    what = "verified and wrote" if result.verified else "wrote (not verified)"
    err(
        f"{what} endpoint {result.endpoint.name!r}"
        f"{' (default)' if make_default else ''} to {result.path}"
    )
    if result.managed is not None:
        err(
            f"it is llmctl instance {result.managed.instance} ({result.managed.profile}); "
            f"other containers on the llmctl network use {result.endpoint.endpoint_container}"
        )
    if output is not None:
        err(f"exported it as {fmt} to {output}")


@endpoint_app.command("show")
def show_command(
    name: str | None = typer.Argument(None, help="Endpoint name (default: the default one)."),
    fmt: str = typer.Option("yaml", "--format", "-f", help=FORMAT_HELP),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write it to this file instead (0600, token included)."
    ),
    json_out: bool = SHORT_JSON_OPTION,
) -> None:
    """Show one endpoint (tokens are shown as '***')."""
    from llmctl.endpoint import export, load_endpoint, render

    _check_format(fmt)
    ep = load_endpoint(name)
    if output is not None:
        export(ep, fmt, output)
        if json_out:
            emit_json("endpoint show", {"endpoint": ep, "output": str(output)})
        else:
            err(f"wrote endpoint {ep.name!r} as {fmt} to {output}")
        return
    if json_out:
        emit_json("endpoint show", {"endpoint": ep})
        return
    write_document(render(ep, fmt))
    if fmt == "env" and ep.bearer_token:
        warn("OPENAI_API_KEY is redacted; use `llmctl endpoint env --reveal-token` or --output")


@endpoint_app.command("env")
def env_command(
    name: str | None = typer.Argument(None, help="Endpoint name (default: the default one)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the exports to this file (0600, token included)."
    ),
    reveal_token: bool = typer.Option(
        False, "--reveal-token", help="Print the real bearer token (for eval)."
    ),
    json_out: bool = SHORT_JSON_OPTION,
) -> None:
    """Shell exports: eval "$(llmctl endpoint env)"."""
    from llmctl.endpoint import env_vars, export, load_endpoint, render_env

    ep = load_endpoint(name)
    if output is not None:
        export(ep, "env", output)
        err(f"wrote exports for {ep.name!r} to {output}")
        if json_out:
            emit_json("endpoint env", {"name": ep.name, "output": str(output)})
        return
    if json_out:
        emit_json("endpoint env", {"name": ep.name, "env": env_vars(ep, reveal=False)})
        return
    write_document(render_env(ep, reveal=reveal_token))
    if ep.bearer_token and not reveal_token:
        warn("OPENAI_API_KEY is redacted; add --reveal-token for eval, or use --output FILE")


@endpoint_app.command("list")
def list_command(
    json_out: bool = SHORT_JSON_OPTION,
) -> None:
    """List the configured endpoints."""
    from llmctl.endpoint import endpoints_path, read_config

    path = endpoints_path()
    default, eps = read_config(path)
    if json_out:
        emit_json("endpoint list", {"path": str(path), "default": default, "endpoints": eps})
        return
    if not eps:
        err(f"no endpoints in {path}; write one with: llmctl endpoint write")
        return
    table(
        ["name", "default", "api", "endpoint", "model", "verified"],
        [
            [
                e.name,
                "*" if e.name == default else "",
                e.api_type,
                e.endpoint,
                e.model,
                e.verified.at if e.verified else "-",
            ]
            for e in eps
        ],
    )
    err(f"from {path}")


@endpoint_app.command("remove")
def remove_command(
    name: str = typer.Argument(..., help="Endpoint name."),
    json_out: bool = SHORT_JSON_OPTION,
) -> None:
    """Remove an endpoint (everything else in the file is kept)."""
    from llmctl.endpoint import remove_endpoint

    path = remove_endpoint(name, on_wait=say_note)
    if json_out:
        emit_json("endpoint remove", {"removed": name, "path": str(path)})
    else:
        out(f"removed endpoint {name!r} from {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(endpoint_app, name="endpoint")
