"""The doctor package's shape: every check written is registered, once, in the printed order;
the face only re-exports; versions are compared as versions."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from packaging.version import Version

import llmctl.doctor
import llmctl.doctor.checks
from llmctl.doctor import CHECKS, Check
from llmctl.doctor.checks.common import older_than, version_of

PACKAGE = Path(llmctl.doctor.__file__).parent


def defined_checks() -> dict[str, Check]:
    """Every Check object defined at the top of a module in llmctl.doctor.checks."""
    found: dict[str, Check] = {}
    for info in pkgutil.iter_modules(llmctl.doctor.checks.__path__):
        module = importlib.import_module(f"llmctl.doctor.checks.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Check) and value.fn.__module__ == module.__name__:
                assert value.name not in found, f"two checks named {value.name}"
                found[value.name] = value
    return found


def test_every_check_written_is_registered_and_nothing_else() -> None:
    defined = defined_checks()
    assert set(defined) == set(CHECKS)
    assert all(CHECKS[name] is chk for name, chk in defined.items())


def test_the_face_defines_nothing() -> None:
    """llmctl/doctor/__init__.py imports and re-exports; the parts never import the face."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert defs == []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "llmctl.doctor", path
                if node.module == "llmctl":
                    assert "doctor" not in [a.name for a in node.names], path


@pytest.mark.parametrize(("text", "minimum", "older"), [
    ("1.41", "1.41", False),  # Docker 20.10: exactly the minimum
    ("1.40", "1.41", True),
    ("1.51", "1.41", False),
    ("4.40", "4.40.0", False),  # padding: 4.40 is 4.40.0 (tuples said (4, 40) < (4, 40, 0))
    ("4.9.0", "4.40", True),  # numeric, not text, order
    ("4.49.0 (208700)", "4.40", False),  # Desktop's build number after the release
    ("28.5.1-rd", "28.5", False),  # Rancher Desktop's suffix (not PEP 440)
    ("20.10.24+dfsg1", "20.10", False),  # Debian's local version
    ("v20.10.3", "20.10", False),
    ("", "4.40", True),  # no version at all counts as older (doctor says it is unknown)
    (None, "4.40", True),
    ("unknown", "4.40", True),
])
def test_versions_compare_as_versions(text: str | None, minimum: str, older: bool) -> None:
    assert older_than(text, Version(minimum)) is older


def test_version_of_reads_the_release_number() -> None:
    assert version_of("4.49.0 (208700)") == Version("4.49")
    assert version_of("28.5.1-rd") == Version("28.5.1")
    assert version_of("conmon version 2.1.13") is None
