"""Helpers shared by the blueprints: who is calling, the database, errors, paging."""

from __future__ import annotations

from functools import wraps

from flask import current_app, g, request

from servicekit.auth import (
    Principal,
    current_principal,
    inactive_account,
    internal_only,
    require_roles,
)
from servicekit.openapi import ProblemResponses
from servicekit.pagination import decode_keyset_cursor, keyset_page
from servicekit.problems import (
    BEARER_CHALLENGE,
    Problem,
    problem_response,
    register_domain_errors,
)

from ..domain.errors import AuthenticationFailed, InsufficientStock
from ..identity import SigningKeyUnavailable
from ..store import accounts
from ..store.paging import Keyset
from .context import ctx

BEARER = [{"bearerAuth": []}]
INTERNAL = [{"internalToken": []}]


def caller(*roles: str) -> Principal:
    """The verified user of this request (401 without a valid token), holding one of
    `roles` if any are given (403 otherwise)."""
    principal = current_principal()
    if not g.get("account_active"):
        # The showcase owns the accounts: a disabled or deleted account's token stops
        # working here at once (the marketplace follows within its status cache).
        if not accounts.is_active(ctx().database, principal.account_id):
            raise inactive_account()
        g.account_active = True
    require_roles(principal, *roles)
    return principal


def authenticated(*roles: str):
    """Check the bearer token (and roles) before the body is even parsed, so an anonymous
    caller gets 401, not a validation error about a body it may not send at all."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            caller(*roles)
            return view(*args, **kwargs)

        return wrapper

    return decorator


# `/internal/...` views: the marketplace's X-Internal-Token, never a user's JWT.
internal_caller = internal_only(lambda: ctx().config.internal_token)


# The problem responses a showcase route may answer, in the OpenAPI document.
problems = ProblemResponses({
    401: "Missing or invalid credentials.",
    403: "The caller lacks the required role.",
    404: "Not found.",
    409: "Conflict with the current state.",
    412: "If-Match names a version that is no longer current.",
    422: "Invalid input.",
    429: "Too many requests (login-busy, login-throttled); see Retry-After.",
    503: "A dependency is unavailable.",
})


def keyset(args: dict) -> Keyset:
    """Turn `?limit=&cursor=` into a keyset position; a tampered cursor is a 422."""
    return Keyset(limit=args["limit"], after=decode_keyset_cursor(args.get("cursor")))


def paginate(rows: list[dict], limit: int) -> dict:
    return keyset_page(rows, limit)


# The showcase's own kinds; the shared ones answer by servicekit's DOMAIN_ERRORS.
ERRORS = [
    (AuthenticationFailed, 401, "Unauthorized", {"WWW-Authenticate": BEARER_CHALLENGE}),
    (InsufficientStock, 409, "Insufficient stock"),
]


def register_error_handlers(app) -> None:
    register_domain_errors(app, ERRORS)

    @app.errorhandler(SigningKeyUnavailable)
    def _no_signing_key(error: SigningKeyUnavailable):
        current_app.logger.error("JWT signing key unavailable: %s", error)
        return problem_response(
            Problem(
                503,
                "Service Unavailable",
                "Login is temporarily unavailable.",
                slug="signing-key-unavailable",
                headers={"Retry-After": "30"},
            )
        )


def allow_public_caching(app, blueprint_names: set[str]) -> None:
    """Let shared caches (the gateway's microcache, a CDN) keep anonymous catalogue reads
    for PUBLIC_CACHE_SECONDS.

    Only successful GET/HEAD without an Authorization header: a signed-in seller who just
    edited a product reads it fresh, and so does a buyer about to check out. The answer is
    the same for every caller on these routes, so sharing it leaks nothing; stock shown
    may be that many seconds old, and checkout's reservation is what counts.
    """

    @app.after_request
    def _cache_headers(response):
        seconds = ctx().config.public_cache_seconds
        if (
            seconds > 0
            and request.blueprint in blueprint_names
            and request.method in ("GET", "HEAD")
            and response.status_code == 200
            and "Authorization" not in request.headers
        ):
            response.headers["Cache-Control"] = f"public, max-age={seconds}"
        return response

