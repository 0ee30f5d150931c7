"""Fake LLM servers for tests (see llmfake.py)."""
