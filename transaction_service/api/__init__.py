"""HTTP entry points: one flask-smorest blueprint per resource."""

from __future__ import annotations


def register_blueprints(app, api) -> None:
    # Blueprints are added here as resources are built (auth, shops, products, ...).
    return None
