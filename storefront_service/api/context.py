"""The per-app `Context` (config, database, token issuer) for views."""

from __future__ import annotations

from flask import current_app

from ..context import Context

EXTENSION = "storefront_context"


def ctx() -> Context:
    return current_app.extensions[EXTENSION]
