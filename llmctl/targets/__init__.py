"""What llmctl runs, behind one interface (see llmctl.targets.base)."""
