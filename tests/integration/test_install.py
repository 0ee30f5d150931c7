"""The README's install lines work from a fresh checkout.

The project is the checkout's root (`pyproject.toml` there): every path the README's
Install section hands to pip/pipx/uv must be a folder holding a pyproject.toml, and the
Quickstart line really builds and installs llmctl, with its built-in profiles, into a fresh
virtual environment (this downloads the dependencies from the package index, like a user).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import need, refused_daemon

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_install_path_in_the_readme_is_the_project() -> None:
    lines = [ln.strip() for ln in _section("Install").splitlines() if ln.startswith("    ")]
    found = [m.groups() for ln in lines
             if (m := re.match(r"(pipx install|uv tool install|pip install) (\S+)", ln))]
    assert {"pipx install", "pip install"} <= {tool for tool, _ in found}
    assert all((ROOT / path / "pyproject.toml").is_file() for _, path in found), found


def test_quickstart_installs_llmctl_with_its_profiles_into_a_fresh_venv(tmp_path: Path) -> None:
    need(shutil.which("git") is not None, "needs git to make a fresh checkout")
    quickstart = next(ln.strip() for ln in _section("Quickstart").splitlines()
                      if ln.strip().startswith("python3 -m venv"))
    setup, run_it = quickstart.rsplit(" && ", 1)
    assert run_it == ".venv/bin/llmctl up ollama"
    checkout = tmp_path / "llmctl"
    if (ROOT / ".git").exists():  # what a clone has: the committed files
        subprocess.run(["git", "clone", "-q", str(ROOT), str(checkout)], check=True)
    else:  # an unpacked sdist
        shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    built = subprocess.run(["bash", "-c", setup.replace("python3", sys.executable, 1)],
                           cwd=checkout, capture_output=True, text=True, timeout=600)
    need(built.returncode == 0 or "Could not find a version" not in built.stderr,
         "needs the package index to install dependencies")
    assert built.returncode == 0, built.stderr[-2000:]
    llmctl = checkout / ".venv" / "bin" / "llmctl"
    version = subprocess.run([str(llmctl), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("llmctl ")
    listed = subprocess.run([str(llmctl), "profiles", "list", "--json"], capture_output=True,
                            text=True, cwd=tmp_path)
    profiles = {p["name"]: p for p in json.loads(listed.stdout)["result"]}
    assert set(profiles) == {"ollama", "vllm", "tgi", "llamacpp", "localai"}
    assert all("/site-packages/llmctl/_profiles/" in p["path"] for p in profiles.values())
    # the JSON Schema ships beside them, where their `# yaml-language-server` line points
    printed = subprocess.run([str(llmctl), "profiles", "schema"], capture_output=True,
                             text=True, cwd=tmp_path)
    shipped = Path(profiles["ollama"]["path"]).parent / "profile.schema.json"
    assert printed.returncode == 0 and printed.stdout == shipped.read_text(encoding="utf-8")
    # the Quickstart's last step, planned (no engine needed, nothing started)
    plan = subprocess.run([str(llmctl), "--host", refused_daemon(), "up", "ollama",
                           "--dry-run", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["result"]["spec"]["image"].startswith("ollama/ollama:")
