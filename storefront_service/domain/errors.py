"""Failures the rules and repositories report; the HTTP layer maps each to a problem.

The shared kinds (not found, conflict, invalid, ...) are servicekit's, so both services
speak one error vocabulary; these are the showcase's own. They carry what a client needs
to act (which product, how many are left) but nothing about HTTP, so the same rules serve
the API, the CLI and the workers. `api/common.py: ERRORS` says how each answers.
"""

from __future__ import annotations

from servicekit.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    StaleVersion,
    Unauthenticated,
)

__all__ = [
    "AuthenticationFailed", "Conflict", "DomainError", "Forbidden", "InsufficientStock",
    "Invalid", "InvalidTransition", "NotFound", "StaleVersion",
]


class InsufficientStock(Conflict):
    slug = "insufficient-stock"

    def __init__(self, product_id: str, requested: int, available: int):
        super().__init__(
            f"Only {available} unit(s) of product {product_id} are available; "
            f"{requested} requested.",
            product_id=product_id,
            requested=requested,
            available=available,
        )
        self.product_id = product_id


class InvalidTransition(Conflict):
    slug = "invalid-transition"


class AuthenticationFailed(Unauthenticated):
    slug = "invalid-credentials"
