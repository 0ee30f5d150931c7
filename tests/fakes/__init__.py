"""Fakes for what cannot run here: the LLM servers (llmfake.py, one module per kind in
servers/), a connected Docker daemon (engine.py) and the docker CLI plugins (plugins/)."""
