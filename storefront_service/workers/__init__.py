"""Background loops, each run as its own process: `python -m storefront_service worker NAME`."""
