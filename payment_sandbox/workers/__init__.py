"""Background loops: `python -m payment_sandbox workers` (servicekit.workers)."""
