"""HTTP entry points: one flask-smorest blueprint per resource."""

from __future__ import annotations

from servicekit.problems import register_domain_errors

from ..domain.errors import InsufficientStock
from ..domain.orders import IllegalTransition

# The marketplace's own kinds; the shared ones answer by servicekit's DOMAIN_ERRORS.
ERRORS = [
    (IllegalTransition, 409, "Illegal transition"),
    (InsufficientStock, 409, "Insufficient stock"),
]


def register_blueprints(app, api) -> None:
    from . import (
        admin,
        audit,
        checkout,
        creators,
        notifications,
        orders,
        refunds,
        returns,
        sellers,
        webhooks,
    )

    for module in (checkout, orders, notifications, sellers, creators, admin, refunds, audit,
                   webhooks, returns):
        api.register_blueprint(module.blp)

    register_domain_errors(app, ERRORS)
