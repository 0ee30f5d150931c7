"""The command-line face of llmctl: the only package that imports typer or rich."""
