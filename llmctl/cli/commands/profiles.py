"""`llmctl profiles list|show|validate|schema`: built-in and user profiles, where each is from,
and the JSON Schema editors check them with."""

from __future__ import annotations

from pathlib import Path

import typer

from llmctl.cli.options import JSON_OPTION
from llmctl.cli.output import emit_json, out, table, write_document

profiles_app = typer.Typer(help="List, show and validate profiles; print their JSON Schema.",
                           no_args_is_help=False, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(profiles_app, name="profiles")


@profiles_app.callback(invoke_without_command=True)
def _default(ctx: typer.Context, json_out: bool = JSON_OPTION) -> None:
    """List profiles (same as `llmctl profiles list`)."""
    if ctx.invoked_subcommand is None:
        list_profiles(json_out)


@profiles_app.command("list")
def list_profiles(json_out: bool = JSON_OPTION) -> None:
    """Every profile, where it comes from, and what it overrides."""
    from llmctl.profiles import discover

    entries = discover()
    if json_out:
        emit_json("profiles", [{"name": e.name, "path": str(e.path), "origin": e.origin,
                                "overrides": list(e.shadows)} for e in entries.values()])
        return
    table(["name", "origin", "path", "overrides"],
          [[e.name, e.origin, str(e.path), ", ".join(e.shadows) or "-"]
           for e in entries.values()])


@profiles_app.command("show")
def show(name: str = typer.Argument(...), json_out: bool = JSON_OPTION) -> None:
    """Print one profile as llmctl reads it."""
    import dataclasses

    import yaml

    from llmctl.profiles import load_profile

    prof = load_profile(name)
    doc = dataclasses.asdict(prof)
    if json_out:
        emit_json("profiles show", doc)
        return
    out(yaml.safe_dump(doc, sort_keys=False).rstrip())


@profiles_app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(None, help="Files to check (default: every profile)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Check profile files: every problem of every file, one `file: key.path: what` line
    each; exit 3 when there is one."""
    from llmctl.errors import ConfigError
    from llmctl.profiles import Problem, ProfileError, discover, load_profile_file

    targets = list(paths or []) or [e.path for e in discover().values()]
    checked: list[str] = []
    problems: list[Problem] = []
    errors: list[ConfigError] = []
    for path in targets:
        try:
            checked.append(load_profile_file(path).name)
        except ProfileError as exc:
            problems += exc.problems
            errors.append(exc)
        except ConfigError as exc:  # the file itself: unreadable, not UTF-8, ...
            problems.append(Problem(str(path), "", exc.message.removeprefix(f"{path}: ")))
            errors.append(exc)
    if not json_out:
        for n in checked:
            out(f"ok  {n}")
    if len(errors) == 1:
        raise errors[0]  # with its own hint (the chown, the encoding, ...)
    if problems:
        raise ProfileError(problems)
    if json_out:
        emit_json("profiles validate", {"valid": checked})


@profiles_app.command("schema")
def schema(json_out: bool = JSON_OPTION) -> None:
    """Print the JSON Schema of profile files, for editors.

    Save it beside your profiles (`llmctl profiles schema > profile.schema.json`) and
    start a profile with `# yaml-language-server: $schema=./profile.schema.json`.
    """
    import json

    from llmctl.profile_schema import schema as profile_schema

    doc = profile_schema()
    if json_out:
        emit_json("profiles schema", doc)
        return
    write_document(json.dumps(doc, indent=2) + "\n")
