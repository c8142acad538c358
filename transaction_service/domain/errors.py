"""Failures the marketplace's rules and use cases report; the HTTP layer maps each to a
problem (`api/__init__.py: ERRORS`, then servicekit's shared DOMAIN_ERRORS).

The shared kinds are servicekit's, so both services speak one error vocabulary; a use
case gives a refusal its own `slug` and, where clients know it by one, its `title`
("Refund refused"). Nothing here knows HTTP: the workers that run the same use cases see
what went wrong, never a status code.
"""

from __future__ import annotations

from servicekit.errors import (
    AccountInactive,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "AccountInactive", "Conflict", "DomainError", "Forbidden", "InsufficientStock", "Invalid",
    "NotFound", "TooManyRequests", "Unauthenticated", "Unavailable",
]


class InsufficientStock(Conflict):
    """The showcase could not reserve a line; its fields name the product (and how many
    were asked for and are left, when the showcase said)."""

    slug = "insufficient-stock"
