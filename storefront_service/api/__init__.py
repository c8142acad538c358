"""HTTP entry points: one flask-smorest blueprint per resource."""

from __future__ import annotations

from . import auth, cart, contents, internal, products, shops
from .common import register_error_handlers


def register_blueprints(app, api) -> None:
    register_error_handlers(app)
    for module in (auth, shops, products, contents, cart, internal):
        api.register_blueprint(module.blp)
