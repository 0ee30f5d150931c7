"""The doctor package's shape: every check written is registered, once, in the printed order;
the face only re-exports; versions are compared as versions."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import llmctl.doctor
import llmctl.doctor.checks
from llmctl.doctor import CHECKS, Check

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
