"""The failures rules, repositories and use cases report: one vocabulary for both services.

They carry what a client needs to act (which product, how long to wait, which field is
wrong) but nothing about HTTP, so the same code serves the API, the CLI and the workers.
Each app maps them to problem+json once, at its edge, through one table
(`servicekit.problems.register_domain_errors`); nothing here imports Flask.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. `slug` names the problem type; `title` is the short summary a client
    shows (None: the one the mapping table gives the kind); `errors` maps field names to
    messages; `retry_after` is how many seconds a retry should wait; other keyword
    arguments are machine-readable details (`product_id=...`)."""

    slug = "error"

    def __init__(self, detail: str, *, slug: str | None = None, title: str | None = None,
                 errors: dict[str, list[str]] | None = None, retry_after: int | None = None,
                 **fields: Any):
        super().__init__(detail)
        self.detail = detail
        if slug:
            self.slug = slug
        self.title = title
        self.errors = errors or {}
        self.retry_after = retry_after
        self.fields = fields


class Unauthenticated(DomainError):
    """The caller could not be identified (a wrong signature, a bad password)."""

    slug = "unauthorized"


class AccountInactive(Unauthenticated):
    """A validly signed token whose account is disabled or no longer exists."""

    slug = "account-inactive"

    def __init__(self, detail: str = "The account of this token is disabled or no longer "
                                     "exists.", **kwargs: Any):
        super().__init__(detail, **kwargs)


class Forbidden(DomainError):
    slug = "forbidden"


class NotFound(DomainError):
    """Unknown, or not visible to this caller (the two are never told apart)."""

    slug = "not-found"


class Conflict(DomainError):
    slug = "conflict"  # the request is fine but the current state refuses it


class StaleVersion(DomainError):
    """A write conditioned on a version (If-Match) that is no longer the current one."""

    slug = "precondition-failed"


class Invalid(DomainError):
    """Well-formed input that breaks a rule; `errors` maps each field to its messages."""

    slug = "validation-error"


class TooManyRequests(DomainError):
    slug = "rate-limited"  # `retry_after` says when the caller may try again


class Unavailable(DomainError):
    """Something we depend on cannot answer now (the showcase, the provider, a key);
    nothing was done, and the same request may work later (`retry_after`)."""

    slug = "service-unavailable"
