"""OpenAPI: the problem responses a marketplace route may answer (`servicekit.openapi`)."""

from __future__ import annotations

from servicekit.openapi import ProblemResponses

problems = ProblemResponses({
    400: "Bad request (e.g. missing Idempotency-Key).",
    401: "Missing, invalid or expired bearer token (or notification signature).",
    403: "The caller lacks the role for this action.",
    404: "No such order visible to the caller.",
    409: "Conflict: illegal state transition, insufficient stock, or key in use.",
    422: "Validation failed; `errors` names the fields.",
    429: "Rate limited; see Retry-After.",
    503: "A service this request depends on is unavailable; see Retry-After.",
}, fallback="")
