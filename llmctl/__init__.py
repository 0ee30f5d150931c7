"""llmctl: run, check and wire up LLM servers in containers."""

__version__ = "0.1.0"
