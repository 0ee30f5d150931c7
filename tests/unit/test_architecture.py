"""The shape of the package, read from its source with ``ast`` (nothing is imported):

- no import cycle among llmctl's modules, counting every import: at the top, inside
  functions (lazy imports are for start-up cost, never to hide a cycle) and under
  ``TYPE_CHECKING`` (a type that points back up is a cycle in the design too);
- typer and rich only under ``llmctl/cli/``, docker only under ``llmctl/engine/``.

ruff's banned-api rule (pyproject.toml) says the second while editing; it can only exempt a
whole folder from every banned name, so this test is the exact rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "llmctl"
ONLY_UNDER = {"typer": "cli", "rich": "cli", "docker": "engine"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. llmctl.probe
    target: str  # what it imports (a module of llmctl, or any top-level name)
    line: int

    def where(self) -> str:
        return f"{self.source.replace('.', '/')}.py:{self.line}"


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path) -> list[Import]:
    """Every import in the module (any depth), as the absolute names it asks for."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # `from llmctl.backends import ollama` imports the module llmctl.backends.ollama;
            # `from llmctl.errors import UsageError` resolves to llmctl.errors (import_graph)
            out += [Import(name, f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """module -> {module of the package it imports: line of the first such import}."""
    mods = modules(package)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for name, path in mods.items():
        for imp in imports(name, path):
            target = imp.target
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].setdefault(target, imp.line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def describe(group: list[str], graph: dict[str, dict[str, int]]) -> str:
    edges = [f"    {a.replace('.', '/')}.py:{line} imports {b}"
             for a in group for b, line in sorted(graph[a].items()) if b in group]
    return "  " + ", ".join(group) + ":\n" + "\n".join(edges)


def test_the_cycle_finder_finds_a_cycle_and_reads_every_kind_of_import(tmp_path: Path) -> None:
    src = tmp_path / "pkg"
    (src / "sub").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "sub" / "__init__.py").write_text("")
    (src / "a.py").write_text("from pkg.sub import b\n")  # a module through its package
    (src / "sub" / "b.py").write_text("def f():\n    from ..c import X\n")  # relative, lazy
    (src / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    import pkg.a\n")  # for types only
    (src / "d.py").write_text("import pkg.c\n")  # into the cycle, not part of it
    graph = import_graph(src)
    assert graph["pkg.sub.b"] == {"pkg.c": 2}
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert "pkg/c.py:3 imports pkg.a" in describe(cycles(graph)[0], graph)


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "llmctl.backends.chat" in graph["llmctl.backends.ollama"]  # the graph is real
    found = cycles(graph)
    listing = "\n".join(describe(g, graph) for g in found)
    assert not found, f"import cycles in llmctl (each group imports itself in a circle):\n{listing}"


def test_typer_and_rich_only_in_cli_docker_only_in_engine() -> None:
    wrong = []
    for name, path in modules().items():
        for imp in imports(name, path):
            top = imp.target.split(".")[0]
            home = ONLY_UNDER.get(top)
            if home is not None and not name.startswith(f"llmctl.{home}"):
                wrong.append(f"{imp.where()}: {imp.target} belongs under llmctl/{home}/")
    assert wrong == [], "\n".join(sorted(set(wrong)))
