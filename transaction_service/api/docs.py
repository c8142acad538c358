"""OpenAPI helpers: the problem responses a route may answer."""

from __future__ import annotations

from servicekit.app import ProblemSchema

_DESCRIPTIONS = {
    400: "Bad request (e.g. missing Idempotency-Key).",
    401: "Missing, invalid or expired bearer token (or notification signature).",
    403: "The caller lacks the role for this action.",
    404: "No such order visible to the caller.",
    409: "Conflict: illegal state transition, insufficient stock, or key in use.",
    422: "Validation failed; `errors` names the fields.",
    429: "Rate limited; see Retry-After.",
    503: "A service this request depends on is unavailable; see Retry-After.",
}


def problems(blp, *codes: int, **descriptions: str):
    """Document problem+json alternatives, e.g. `problems(blp, 401, 404, s409="...")`."""

    def decorator(view):
        for code in codes:
            description = descriptions.get(f"s{code}", _DESCRIPTIONS.get(code, ""))
            view = blp.alt_response(code, schema=ProblemSchema, description=description,
                                    content_type="application/problem+json")(view)
        return view

    return decorator
