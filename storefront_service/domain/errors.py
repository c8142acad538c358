"""Failures the rules and repositories report; the HTTP layer maps each to a problem.

They carry what a client needs to act (which product, how many are left) but nothing about
HTTP, so the same rules serve the API, the CLI and the workers.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class; `slug` names the problem type, `fields` adds machine-readable details."""

    slug = "error"

    def __init__(self, detail: str, *, slug: str | None = None, **fields: Any):
        super().__init__(detail)
        self.detail = detail
        if slug:
            self.slug = slug
        self.fields = fields


class NotFound(DomainError):
    slug = "not-found"


class Forbidden(DomainError):
    slug = "forbidden"


class Conflict(DomainError):
    slug = "conflict"


class StaleVersion(DomainError):
    """A write conditioned on a version (If-Match) that is no longer the current one."""

    slug = "precondition-failed"


class Invalid(DomainError):
    """A request that is well-formed but breaks a rule; `errors` maps field to messages."""

    slug = "validation-error"

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None, **fields):
        super().__init__(detail, **fields)
        self.errors = errors or {}


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


class AuthenticationFailed(DomainError):
    slug = "invalid-credentials"
