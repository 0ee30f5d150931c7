"""The profile JSON Schema agrees with the loader (llmctl.profiles), both ways.

- every document the loader refuses, the schema refuses, at the same key or the mapping
  holding it (a table with a case for each of the loader's checks, and random edits of a
  full profile where the two must give the same verdict);
- the built-in profiles (with their `# yaml-language-server` line) and sample user profiles
  pass both;
- the shipped file is what `llmctl profiles schema` prints.

Each document is validated under draft 2020-12 (what the schema declares) and under draft-07
(what the YAML language server in editors applies): the verdicts must not differ. The rules a
schema cannot express are listed in llmctl/profile_schema.py and left out here: the name
matching the file name (parse_profile is called without a file name), integers written as
8000.0, and values ending in a newline.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, Draft202012Validator

from llmctl import profile_schema
from llmctl.profiles import ProfileError, builtin_dir, load_profile_file, parse_profile

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = profile_schema.schema()
DRAFT7 = {k: v for k, v in SCHEMA.items() if k != "$schema"}
VALIDATORS = {"2020-12": Draft202012Validator(SCHEMA), "draft-07": Draft7Validator(DRAFT7)}

# A user profile with every key the loader knows, each set to a valid value.
FULL: dict[str, Any] = {
    "schema": 1,
    "name": "mine",
    "kind": "vllm",
    "description": "my vLLM",
    "image": "registry.example:5000/team/vllm-openai:v0.11.0",
    "container_port": 8000,
    "host_port": 8001,
    "volumes": [{"name": "mine-cache", "target": "/root/.cache/huggingface"}],
    "env": {"HF_HOME": "/root/.cache/huggingface", "WORKERS": 2, "RATIO": 0.5},
    "command": ["--max-model-len", "4096"],
    "readiness": {"path": "/health", "status": 200, "contains": "ok", "timeout": 1800,
                  "models": "listed", "models_path": "/v1/models"},
    "gpu": "required",
    "model": {"arg": "--model", "env": "MODEL_ID", "file_arg": "-m", "file_target": "/models",
              "alias_arg": "--served-model-name", "required": True, "example": "org/m"},
    "secrets": [{"env": "HF_TOKEN", "from_env": ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
                 "from_file": "~/.cache/huggingface/token", "required": False}],
    "shm_size": "1G",
    "ipc": "host",
}
DELETE = object()


def loader_problems(doc: Any) -> list[str] | None:
    """The loader's problem keys, or None when it accepts the document."""
    try:
        parse_profile(doc, "mine.yaml")
    except ProfileError as exc:
        return [p.key for p in exc.problems]
    return None


def schema_errors(doc: Any) -> dict[str, list[list[Any]]]:
    """Per draft, the path of every error the schema reports."""
    return {draft: [list(e.absolute_path) for e in v.iter_errors(doc)]
            for draft, v in VALIDATORS.items()}


def key_path(key: str) -> list[Any]:
    """A loader key (``volumes[0].target``) as a JSON path (``['volumes', 0, 'target']``)."""
    if key == "(top level)":
        return []
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", key)]


def edited(base: dict[str, Any], *edits: tuple[str, Any]) -> Any:
    """A deep copy of ``base`` with ``path = value`` edits (DELETE removes the key)."""
    doc = copy.deepcopy(base)
    for path, value in edits:
        *parents, last = key_path(path)
        node: Any = doc
        for p in parents:
            node = node[p]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


def test_the_schema_is_a_valid_2020_12_and_draft_07_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)
    Draft7Validator.check_schema(DRAFT7)
    text = json.dumps(SCHEMA)
    for newer_only in ("$ref", "$defs", "prefixItems", "unevaluated", "dependentRequired",
                       "dependentSchemas", "$anchor", "$dynamicRef"):
        assert newer_only not in text, newer_only  # draft-07 validators would ignore them


def test_the_shipped_file_is_what_the_command_prints() -> None:
    shipped = (ROOT / "profiles" / profile_schema.FILE_NAME).read_text(encoding="utf-8")
    assert shipped == json.dumps(SCHEMA, indent=2) + "\n", (
        "profiles/profile.schema.json is out of date: "
        "`llmctl profiles schema > profiles/profile.schema.json`")


@pytest.mark.parametrize("path", sorted(builtin_dir().glob("*.yaml")), ids=lambda p: p.stem)
def test_builtin_profiles_name_the_schema_and_pass_both(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == profile_schema.MODELINE
    modeline_target = profile_schema.MODELINE.split("$schema=", 1)[1]
    assert (path.parent / modeline_target).is_file()  # relative to the profile, as editors read
    load_profile_file(path, origin="built-in")
    assert schema_errors(yaml.safe_load(text)) == {"2020-12": [], "draft-07": []}


def first_yaml_block(path: Path, after: str) -> str:
    text = path.read_text(encoding="utf-8").split(after, 1)[1]
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_documented_profiles_and_a_full_user_profile_pass_both(tmp_path: Path) -> None:
    texts = {"ollama": first_yaml_block(ROOT / "README.md", "### Profiles:"),
             "my-server": first_yaml_block(ROOT / "docs" / "backends.md", "## Your own profile"),
             "mine": yaml.safe_dump(FULL, sort_keys=False)}
    for name, text in texts.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        load_profile_file(path)
        assert schema_errors(yaml.safe_load(text)) == {"2020-12": [], "draft-07": []}, name


def test_the_smallest_profile_passes_both() -> None:
    doc = {k: FULL[k] for k in ("name", "kind", "image", "container_port", "host_port")}
    assert loader_problems(doc) is None
    assert schema_errors(doc) == {"2020-12": [], "draft-07": []}


def test_null_means_left_out_for_both() -> None:
    """`key:` with no value: the loader takes the default; the schema allows null there."""
    optional = [k for k in FULL if k not in ("name", "kind", "image", "container_port",
                                             "host_port")]
    doc = edited(FULL, *[(k, None) for k in optional])
    assert loader_problems(doc) is None
    assert schema_errors(doc) == {"2020-12": [], "draft-07": []}


# Every check the loader makes, as an edit of FULL and the key the loader names.
REFUSED: list[tuple[tuple[tuple[str, Any], ...], str]] = [
    # the document
    ((("name", DELETE), ("kind", DELETE), ("image", DELETE), ("container_port", DELETE),
      ("host_port", DELETE)), "name"),
    ((("colour", "blue"),), "colour"),
    # schema
    ((("schema", 2),), "schema"),
    ((("schema", "1"),), "schema"),
    ((("schema", True),), "schema"),
    # name
    ((("name", DELETE),), "name"),
    ((("name", None),), "name"),
    ((("name", "Mine"),), "name"),
    ((("name", "-mine"),), "name"),
    ((("name", "a" * 64),), "name"),
    ((("name", "my profile"),), "name"),
    ((("name", 7),), "name"),
    # kind
    ((("kind", DELETE),), "kind"),
    ((("kind", "mystery"),), "kind"),
    ((("kind", ["vllm"]),), "kind"),
    # image
    ((("image", DELETE),), "image"),
    ((("image", "vllm/vllm-openai"),), "image"),
    ((("image", "Bad Image:1"),), "image"),
    ((("image", "vllm/vllm-openai@sha256:abc"),), "image"),
    ((("image", 3),), "image"),
    # description
    ((("description", ["a", "b"]),), "description"),
    # ports
    ((("container_port", DELETE),), "container_port"),
    ((("container_port", 0),), "container_port"),
    ((("container_port", 70000),), "container_port"),
    ((("container_port", "8000"),), "container_port"),
    ((("container_port", True),), "container_port"),
    ((("container_port", 8000.5),), "container_port"),
    ((("host_port", -1),), "host_port"),
    ((("host_port", 65536),), "host_port"),
    ((("host_port", False),), "host_port"),
    # volumes
    ((("volumes", {"name": "v", "target": "/v"}),), "volumes"),
    ((("volumes", ["v:/v"]),), "volumes[0]"),
    ((("volumes[0].name", DELETE),), "volumes[0].name"),
    ((("volumes[0].target", DELETE),), "volumes[0].target"),
    ((("volumes[0].name", "-cache"),), "volumes[0].name"),
    ((("volumes[0].name", "my cache"),), "volumes[0].name"),
    ((("volumes[0].target", "data"),), "volumes[0].target"),
    ((("volumes[0].target", 5),), "volumes[0].target"),
    ((("volumes[0].mode", "ro"),), "volumes[0].mode"),
    # env
    ((("env", ["A=b"]),), "env"),
    ((("env", {"BAD NAME": "x"}),), "env.BAD NAME"),
    ((("env", {"1X": "x"}),), "env.1X"),
    ((("env", {1: "x"}),), "env.1"),
    ((("env.WORKERS", ["a"]),), "env.WORKERS"),
    ((("env.WORKERS", True),), "env.WORKERS"),
    ((("env.WORKERS", None),), "env.WORKERS"),
    ((("env.WORKERS", {"a": 1}),), "env.WORKERS"),
    # command
    ((("command", "--jinja"),), "command"),
    ((("command", ["--port", 8000]),), "command[1]"),
    ((("command", [None]),), "command[0]"),
    # readiness
    ((("readiness", "/health"),), "readiness"),
    ((("readiness.path", "health"),), "readiness.path"),
    ((("readiness.path", 5),), "readiness.path"),
    ((("readiness.status", 99),), "readiness.status"),
    ((("readiness.status", 600),), "readiness.status"),
    ((("readiness.status", "200"),), "readiness.status"),
    ((("readiness.timeout", 0),), "readiness.timeout"),
    ((("readiness.timeout", -5),), "readiness.timeout"),
    ((("readiness.timeout", "10s"),), "readiness.timeout"),
    ((("readiness.timeout", True),), "readiness.timeout"),
    ((("readiness.models", "maybe"),), "readiness.models"),
    ((("readiness.models_path", "v1/models"),), "readiness.models_path"),
    ((("readiness.contains", 5),), "readiness.contains"),
    ((("readiness.pth", "/"),), "readiness.pth"),
    # gpu
    ((("gpu", "always"),), "gpu"),
    ((("gpu", True),), "gpu"),
    # model
    ((("model", "--model"),), "model"),
    ((("model", {}),), "model.arg"),
    ((("model", {"required": True}),), "model.arg"),
    ((("model", {"arg": None, "env": None, "file_arg": None}),), "model.arg"),
    ((("model.arg", "model"),), "model.arg"),
    ((("model.arg", "-"),), "model.arg"),
    ((("model.alias_arg", "alias"),), "model.alias_arg"),
    ((("model.file_arg", 1),), "model.file_arg"),
    ((("model.env", "BAD NAME"),), "model.env"),
    ((("model.file_target", "models"),), "model.file_target"),
    ((("model.file_target", "/"),), "model.file_target"),
    ((("model.file_target", "///"),), "model.file_target"),
    ((("model.required", "yes"),), "model.required"),
    ((("model.example", 5),), "model.example"),
    ((("model.colour", "red"),), "model.colour"),
    # secrets
    ((("secrets", {"env": "T"}),), "secrets"),
    ((("secrets", ["HF_TOKEN"]),), "secrets[0]"),
    ((("secrets[0].env", DELETE),), "secrets[0].env"),
    ((("secrets[0].env", "BAD NAME"),), "secrets[0].env"),
    ((("secrets[0].from_env", DELETE), ("secrets[0].from_file", DELETE)), "secrets[0].from_env"),
    ((("secrets[0].from_env", []), ("secrets[0].from_file", None)), "secrets[0].from_env"),
    ((("secrets[0].from_env", ["1X"]),), "secrets[0].from_env[0]"),
    ((("secrets[0].from_env", [""]),), "secrets[0].from_env[0]"),
    ((("secrets[0].from_env", ""),), "secrets[0].from_env[0]"),
    ((("secrets[0].from_env", 5),), "secrets[0].from_env"),
    ((("secrets[0].from_file", [""]),), "secrets[0].from_file[0]"),
    ((("secrets[0].from_file", ["~/t", 3]),), "secrets[0].from_file[1]"),
    ((("secrets[0].required", "no"),), "secrets[0].required"),
    ((("secrets[0].file", "~/t"),), "secrets[0].file"),
    # shm_size
    ((("shm_size", "lots"),), "shm_size"),
    ((("shm_size", "1gb"),), "shm_size"),
    ((("shm_size", "0g"),), "shm_size"),
    ((("shm_size", 0),), "shm_size"),
    ((("shm_size", -1),), "shm_size"),
    ((("shm_size", 1.5),), "shm_size"),
    ((("shm_size", True),), "shm_size"),
    # ipc
    ((("ipc", "everything"),), "ipc"),
    ((("ipc", 1),), "ipc"),
]


@pytest.mark.parametrize(("edits", "key"), REFUSED,
                         ids=[f"{key}={edits[-1][1]!r}"[:60] for edits, key in REFUSED])
def test_what_the_loader_refuses_the_schema_refuses_at_the_same_key(
        edits: tuple[tuple[str, Any], ...], key: str) -> None:
    doc = edited(FULL, *edits)
    problems = loader_problems(doc)
    assert problems is not None and key in problems, problems
    for draft, paths in schema_errors(doc).items():
        assert paths, f"{draft}: the schema accepts what the loader refuses: {problems}"
        for problem in problems:  # each loader problem is flagged there or on its mapping
            where = key_path(problem)
            assert any(where[:len(p)] == p for p in paths), (draft, problem, paths)


@pytest.mark.parametrize("doc", [None, [], ["name: x"], "name: x", 5])
def test_what_is_not_a_mapping_is_refused_by_both(doc: Any) -> None:
    assert loader_problems(doc) == ["(top level)"]
    assert all(paths == [[]] for paths in schema_errors(doc).values())


# --- random edits: the same verdict from both --------------------------------------------------

PATHS = [*FULL, "colour", "volumes[0].name", "volumes[0].target", "volumes[0].x", "env.WORKERS",
         "readiness.path", "readiness.status", "readiness.timeout", "readiness.models",
         "readiness.models_path", "readiness.contains", "readiness.x", "model.arg", "model.env",
         "model.file_arg", "model.file_target", "model.alias_arg", "model.required",
         "model.example", "model.x", "secrets[0].env", "secrets[0].from_env",
         "secrets[0].from_file", "secrets[0].required", "secrets[0].x"]
VALUES: list[Any] = [
    DELETE, None, True, False, 0, 1, -1, 99, 100, 599, 8000, 65535, 65536, 1.5, 0.25, "",
    "x", "mine", "Mine", "ollama", "openai", "llamacpp", "/", "/x", "///", "x/", "--model",
    "-m", "model", "HF_TOKEN", "1X", "BAD NAME", "1g", "512M", "0", "67108864", "lots",
    "host", "none", "optional", "required", "listed", "answers", "ollama/ollama:0.17.1",
    "ollama/ollama", [], [""], ["x"], ["HF_TOKEN"], ["--a", 1], [{"name": "v", "target": "/v"}],
    [{"name": "v"}], [{"env": "T", "from_env": "T"}], [{"env": "T"}], {}, {"arg": "--m"},
    {"path": "/x"}, {"A": "b"}, {"A": True}, {"a b": "c"},
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(VALUES)),
                min_size=1, max_size=4))
def test_random_edits_get_the_same_verdict(edits: list[tuple[str, Any]]) -> None:
    doc = copy.deepcopy(FULL)
    for path, value in edits:
        try:
            doc = edited(doc, (path, value))
        except (KeyError, IndexError, TypeError):  # its parent was edited away
            continue
    accepted = loader_problems(doc) is None
    for draft, paths in schema_errors(doc).items():
        assert (not paths) == accepted, (draft, doc, loader_problems(doc), paths)
