"""Shared pytest setup: keep tests away from the user's real config and Docker context."""

from __future__ import annotations

import pytest

from llmctl.cli import output, state


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    cfg = tmp_path_factory.mktemp("llmctl-config")
    monkeypatch.setenv("LLMCTL_CONFIG_DIR", str(cfg))
    monkeypatch.delenv("LLMCTL_PROFILES_DIR", raising=False)
    monkeypatch.delenv("LLMCTL_ENDPOINTS_FILE", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    output.reset_consoles()
    state.options.__init__()  # type: ignore[misc]
    yield cfg
    output.reset_consoles()
