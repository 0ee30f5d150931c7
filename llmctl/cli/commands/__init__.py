"""One small module per command: parse, call one core function, render its result."""
