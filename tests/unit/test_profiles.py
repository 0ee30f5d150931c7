"""Profile loading and validation: every error names the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl.errors import ConfigError, ExitCode, NotFoundError
from llmctl.profiles import discover, load_profile, load_profile_file

GOOD = """\
schema: 1
name: {name}
kind: ollama
image: ollama/ollama:0.17.1
container_port: 11434
host_port: 11435
volumes:
  - name: ollama-data
    target: /root/.ollama
readiness:
  path: /
  contains: Ollama is running
"""


def write(tmp_path: Path, text: str, name: str = "mine") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_builtin_ollama_profile_matches_the_issue() -> None:
    p = load_profile("ollama")
    assert p.image.startswith("ollama/ollama:") and not p.image.endswith(":latest")
    assert (p.container_port, p.host_port) == (11434, 11435)
    assert [(v.name, v.target) for v in p.volumes] == [("ollama-data", "/root/.ollama")]
    assert p.api == "ollama" and p.origin == "built-in"
    assert p.readiness.contains == "Ollama is running"


@pytest.mark.parametrize(
    ("edit", "key", "what"),
    [
        (("host_port: 11435", "host_port: 70000"), "host_port", "not a TCP port"),
        (("host_port: 11435", "host_port: yes"), "host_port", "not a boolean"),
        (("kind: ollama", "kind: mystery"), "kind", "is not one of"),
        (("image: ollama/ollama:0.17.1", "image: ollama/ollama"), "image", "no tag"),
        (("image: ollama/ollama:0.17.1", "image: 'Bad Image:1'"), "image", "not a valid"),
        (("  path: /", "  path: health"), "readiness.path", "must start with /"),
        (("    target: /root/.ollama", "    target: data"), "volumes[0].target", "absolute"),
        (("container_port: 11434\n", ""), "container_port", "is required"),
        (("schema: 1", "schema: 1\ncolour: blue"), "colour", "unknown key"),
        (("  contains: Ollama is running", "  contains: x\n  pth: /"), "readiness.pth",
         "unknown key"),
    ],
)
def test_bad_profiles_name_file_and_key(
    tmp_path: Path, edit: tuple[str, str], key: str, what: str
) -> None:
    text = GOOD.format(name="mine").replace(*edit)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_profile_file(path)
    assert err.value.message.startswith(f"{path}: {key}: ")
    assert what in err.value.message
    assert err.value.exit_code == ExitCode.CONFIG


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nkind: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_profile_file(path)
    assert f"{path}: line" in err.value.message and "not valid YAML" in err.value.message


def test_yaml_tags_are_refused_safe_load_only(tmp_path: Path) -> None:
    path = write(tmp_path, "!!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError):
        load_profile_file(path)


def test_name_must_match_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.format(name="other"))
    with pytest.raises(ConfigError, match="must match the file name"):
        load_profile_file(path)


def test_user_profiles_override_builtins_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, GOOD.format(name="ollama").replace("11435", "11500"), "ollama")
    write(tmp_path, GOOD.format(name="mine"))
    monkeypatch.setenv("LLMCTL_PROFILES_DIR", str(tmp_path))
    entries = discover()
    assert entries["ollama"].origin == "LLMCTL_PROFILES_DIR"
    assert entries["ollama"].shadows and entries["ollama"].shadows[0].endswith("ollama.yaml")
    assert load_profile("ollama").host_port == 11500
    assert load_profile("mine").origin == "LLMCTL_PROFILES_DIR"


def test_user_config_dir_profiles_are_found(_isolated_config: Path) -> None:
    (_isolated_config / "profiles").mkdir()
    write(_isolated_config / "profiles", GOOD.format(name="mine"))
    assert discover()["mine"].origin == "user config"


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(NotFoundError) as err:
        load_profile("nope")
    assert "ollama" in err.value.message
