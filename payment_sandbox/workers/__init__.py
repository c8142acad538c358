"""Background loops of the sandbox (separate processes)."""
