"""HTTP entry points: one flask-smorest blueprint per resource."""

from __future__ import annotations

from . import admin, auth, cart, contents, internal, products, shops, witness
from .common import allow_public_caching, register_error_handlers

# Catalogue reads that are the same for every caller (a flash crowd from a live stream
# hits exactly these); carts, accounts and the internal API are never shared.
PUBLIC_CATALOGUE = (shops, products, contents)


def register_blueprints(app, api) -> None:
    register_error_handlers(app)
    for module in (auth, shops, products, contents, cart, internal, admin, witness):
        api.register_blueprint(module.blp)
    allow_public_caching(app, {module.blp.name for module in PUBLIC_CATALOGUE})
