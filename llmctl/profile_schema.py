"""The JSON Schema of profile files, built from the loader's own rules in llmctl.profiles.

Editors validate and complete profile files with it: each built-in profile starts with
``# yaml-language-server: $schema=./profile.schema.json``, the schema shipped beside it
(``profiles/profile.schema.json``, ``llmctl/_profiles/`` in the wheel), and
``llmctl profiles schema`` prints it for your own profiles. The shipped file is this
module's output (a test keeps them equal); the loader stays the authority, and a test
keeps the two in agreement: every document the loader refuses, the schema refuses.

Draft 2020-12 is declared, but only keywords that mean the same in draft-07 are used (no
``$ref``/``$defs``, ``items`` as one schema, a numeric ``exclusiveMinimum``): the YAML
language server (VS Code, Neovim, ...) validates documents with draft-07 semantics. No
``$id``: llmctl has no public URL to name, and the schema is found by path, not by name.

What the schema cannot say, and the loader still checks:

- ``name`` must equal the file name without ``.yaml`` (a schema does not see file names);
- an integer written with a zero fraction (``host_port: 8000.0``) is an integer to JSON
  Schema (JSON has one number type); the loader wants ``8000``;
- a file that is not UTF-8, not YAML, or uses YAML tags is refused before any schema;
- the loader's patterns are Python's, where ``$`` also matches before one final newline:
  a value ending in a newline passes the loader (and Python's jsonschema) but not an
  editor's JavaScript validator.
"""

from __future__ import annotations

import re
from typing import Any

from llmctl.profiles import (
    ARG_RE,
    ENV_KEY_RE,
    GPU_MODES,
    IMAGE_RE,
    IPC_MODES,
    KINDS,
    MODEL_CHECKS,
    NAME_RE,
    SCHEMA_VERSION,
    VOLUME_RE,
    ModelSpec,
    Readiness,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
FILE_NAME = "profile.schema.json"  # beside the built-in profiles
MODELINE = f"# yaml-language-server: $schema=./{FILE_NAME}"
# The loader lower-cases shm_size before matching SHM_RE (^[1-9][0-9]*[bkmg]?$).
SHM_PATTERN = "^[1-9][0-9]*[bkmgBKMG]?$"
ABSOLUTE = "^/"
ABSOLUTE_BELOW_ROOT = "^/.*[^/]"  # starts with / and names something below it


def pattern(regex: re.Pattern[str]) -> str:
    """A loader regex as a JSON Schema pattern (ECMA-262): named groups become plain ones;
    anything else that only Python understands is refused here, not in an editor."""
    text = re.sub(r"\(\?P<\w+>", "(?:", regex.pattern)
    for python_only in ("(?P", r"\A", r"\Z", "(?i", "(?x", "(?s", "(?m", "(?#"):
        if python_only in text:
            raise ValueError(f"{regex.pattern!r}: {python_only!r} has no JSON Schema form")
    return text


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The loader reads ``key: null`` (or ``key:``) as the key left out."""
    kind = schema["type"]
    out = {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def _string(description: str, regex: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"description": description, "type": "string",
            **({"pattern": regex} if regex else {}), **extra}


def _choice(description: str, values: tuple[str, ...] | list[str], default: str | None = None
            ) -> dict[str, Any]:
    return {"description": description, "type": "string", "enum": list(values),
            **({"default": default} if default is not None else {})}


def _mapping(description: str, properties: dict[str, Any], required: list[str] | None = None,
             **extra: Any) -> dict[str, Any]:
    return {"description": description, "type": "object", "properties": properties,
            **({"required": required} if required else {}),
            "additionalProperties": False, **extra}


def _given(*keys: str) -> list[dict[str, Any]]:
    """anyOf branches: one of ``keys`` is present with a value (null counts as absent)."""
    return [{"required": [k], "properties": {k: {"not": {"type": "null"}}}} for k in keys]


def _port(description: str) -> dict[str, Any]:
    return {"description": description, "type": "integer", "minimum": 1, "maximum": 65535}


def _env_name(description: str) -> dict[str, Any]:
    return _string(description, pattern(ENV_KEY_RE))


def _flag(description: str) -> dict[str, Any]:
    return _or_null(_string(description, pattern(ARG_RE), examples=["--model"]))


def _names(description: str, item: dict[str, Any]) -> dict[str, Any]:
    """A string or a list of them (the loader's ``strings``), or null for none."""
    return {"description": description,
            "anyOf": [item, {"type": "array", "items": item}, {"type": "null"}]}


def _readiness() -> dict[str, Any]:
    d = Readiness()
    return _or_null(_mapping(
        "How llmctl tells that the server is ready: GET `path` answers `status` (and "
        "contains `contains`), then, with `models`, the model list answers.",
        {
            "path": _or_null(_string("The health route.", ABSOLUTE, default=d.path)),
            "status": _or_null({"description": "The HTTP status that means ready.",
                                "type": "integer", "minimum": 100, "maximum": 599,
                                "default": d.status}),
            "contains": _or_null(_string("Text the answer must contain.")),
            "timeout": _or_null({"description": "Seconds to wait for readiness.",
                                 "type": "number", "exclusiveMinimum": 0,
                                 "default": d.timeout}),
            "models": _or_null(_choice(
                "After the health route: `answers` = GET models_path gives a JSON model "
                "list; `listed` = that list names the requested model.",
                MODEL_CHECKS, d.models)),
            "models_path": _or_null(_string("The model list route.", ABSOLUTE,
                                            default=d.models_path)),
        }))


def _model() -> dict[str, Any]:
    d = ModelSpec()
    return _or_null(_mapping(
        "Where the model a user names goes: `llmctl up --model NAME` and/or "
        "`--model-file PATH`. Set at least one of arg, env or file_arg.",
        {
            "arg": _flag("The server's flag placed before --model's value."),
            "env": _or_null(_env_name("An environment variable set to --model's value.")),
            "file_arg": _flag("The flag placed before the mounted --model-file path."),
            "file_target": _or_null(_string(
                "Where --model-file's folder is mounted (read-only).", ABSOLUTE_BELOW_ROOT,
                default=d.file_target)),
            "alias_arg": _flag("The flag that sets the id /v1/models reports."),
            "required": _or_null({"description": "Refuse to start without --model or "
                                                 "--model-file.", "type": "boolean",
                                  "default": d.required}),
            "example": _or_null(_string("A model name shown when the model is missing.")),
        },
        anyOf=_given("arg", "env", "file_arg")))


def _secrets() -> dict[str, Any]:
    non_empty: dict[str, Any] = {"type": "string", "minLength": 1}
    secret = _mapping(
        "A secret passed to the container as `env`, found in your environment or a file; "
        "never part of the profile, the printed spec, labels or the spec hash.",
        {
            "env": _env_name("The container's environment variable."),
            "from_env": _names("Variables to take it from, first set wins.",
                               {"type": "string", "pattern": pattern(ENV_KEY_RE)}),
            "from_file": _names("Files to read it from (`~` allowed), first found wins.",
                                non_empty),
            "required": _or_null({"description": "Refuse to start without it.",
                                  "type": "boolean", "default": False}),
        },
        ["env"],
        anyOf=[{"required": [k], "properties": {k: {"anyOf": [
            {"type": "string"}, {"type": "array", "minItems": 1}]}}}
            for k in ("from_env", "from_file")])
    return _or_null({"description": "Secrets such as a Hugging Face token.", "type": "array",
                     "items": secret})


def schema() -> dict[str, Any]:
    """The JSON Schema of a profile file (a JSON-able dict; ``llmctl profiles schema``)."""
    volume = _mapping("A named volume.", {
        "name": _string("The volume's name.", pattern(VOLUME_RE)),
        "target": _string("An absolute path in the container.", ABSOLUTE),
    }, ["name", "target"])
    return {
        "$schema": DIALECT,
        "title": f"llmctl profile (schema {SCHEMA_VERSION})",
        **_mapping("A backend llmctl runs in a container (`llmctl up NAME`); `llmctl "
                   "profiles validate` checks a file as llmctl reads it.", {
            "schema": {"description": "The profile format version.",
                       "type": ["integer", "null"], "enum": [SCHEMA_VERSION, None],
                       "default": SCHEMA_VERSION},
            "name": _string("The profile's name (`llmctl up NAME`); must equal the file "
                            "name without .yaml.", pattern(NAME_RE)),
            "kind": _choice("Picks the behaviour from code: the API the server speaks "
                            "and how it says it is still loading.", sorted(KINDS)),
            "description": _or_null(_string("One line for `llmctl profiles`.")),
            "image": _string("The image, with an explicit tag or digest (never a silent "
                             "latest).", pattern(IMAGE_RE),
                             examples=["ollama/ollama:0.17.1"]),
            "container_port": _port("The port the server listens on in the container."),
            "host_port": _port("The default host port (published on 127.0.0.1)."),
            "volumes": _or_null({"description": "Named volumes.", "type": "array",
                                 "items": volume}),
            "env": _or_null({
                "description": "Environment variables for the container.", "type": "object",
                "propertyNames": {"type": "string", "pattern": pattern(ENV_KEY_RE)},
                "additionalProperties": {"type": ["string", "number"]}}),
            "command": _or_null({"description": "Arguments after the image's entrypoint.",
                                 "type": "array", "items": {"type": "string"}}),
            "readiness": _readiness(),
            "gpu": _or_null(_choice("required: refuse to start where the engine has no GPU "
                                    "(unless --gpus all); optional: use one when there is.",
                                    GPU_MODES, "optional")),
            "model": _model(),
            "secrets": _secrets(),
            "shm_size": {"description": "Docker's --shm-size: bytes, or a size like 1g or "
                                        "512m.", "type": ["string", "integer", "null"],
                         "pattern": SHM_PATTERN, "minimum": 1, "examples": ["1g"]},
            "ipc": _or_null(_choice("Docker's --ipc.", IPC_MODES)),
        }, ["name", "kind", "image", "container_port", "host_port"]),
    }
