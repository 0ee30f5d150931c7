"""Talking to LLM servers over HTTP, one module per API kind."""
