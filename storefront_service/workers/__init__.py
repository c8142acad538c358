"""Background loops: `python -m storefront_service workers` (servicekit.workers)."""
