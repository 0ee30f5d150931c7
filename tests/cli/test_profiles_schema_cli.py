"""`llmctl profiles schema` as a user sees it: the schema on stdout, exactly the shipped file;
`--json` one document; the documented way to use it for your own profiles works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmctl.cli.app import run
from llmctl.profile_schema import FILE_NAME, MODELINE, schema

ROOT = Path(__file__).resolve().parents[2]


def test_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["profiles", "schema"]) == 0
    cap = capsys.readouterr()
    assert cap.out == (ROOT / "profiles" / FILE_NAME).read_text(encoding="utf-8")
    assert json.loads(cap.out) == schema()
    assert cap.err == ""


def test_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["profiles", "schema", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "profiles schema" and doc["ok"] is True
    assert doc["result"] == schema()


def test_the_documented_setup_for_your_own_profiles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The schema saved in the profiles folder is not taken for a profile; a profile with
    the modeline is read as before."""
    assert run(["profiles", "schema"]) == 0
    (tmp_path / FILE_NAME).write_text(capsys.readouterr().out, encoding="utf-8")
    (tmp_path / "mine.yaml").write_text(
        f"{MODELINE}\nname: mine\nkind: openai\nimage: ghcr.io/me/server:1.0\n"
        "container_port: 8080\nhost_port: 18080\n", encoding="utf-8")
    monkeypatch.setenv("LLMCTL_PROFILES_DIR", str(tmp_path))
    assert run(["profiles", "list", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)["result"]}
    assert listed["mine"]["origin"] == "LLMCTL_PROFILES_DIR"
    assert not any(p["path"].endswith(".json") for p in listed.values())
    assert run(["profiles", "validate", str(tmp_path / "mine.yaml")]) == 0
    assert capsys.readouterr().out == "ok  mine\n"


def test_stays_light() -> None:
    """Printing the schema needs neither docker, httpx nor yaml."""
    code = ("import sys, io, contextlib\nfrom llmctl.cli.app import run\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert run(['profiles', 'schema']) == 0\n"
            "print(sorted(m for m in ('docker', 'httpx', 'yaml') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
