"""Documenting a view's error answers in the service's OpenAPI document.

Every error a service answers is `application/problem+json`; a view declares which ones it
may answer with the one helper of its service, an instance of `ProblemResponses` made in
its `api/` package with the service's default descriptions:

    problems = ProblemResponses({401: "Missing or invalid bearer token.", ...})

    @blp.route(...)
    @problems(blp, 401, 404, 409, s409="insufficient-stock: names the product.")
    def view(...): ...

`s<status>=` overrides the default description of one status for one view.
"""

from __future__ import annotations

from collections.abc import Mapping

import marshmallow as ma

from .app import ProblemSchema
from .problems import PROBLEM_CONTENT_TYPE


class ProblemResponses:
    """The problem+json alternative responses of views, with default descriptions per status
    (`fallback` where a status has none) and the schema of the service's problems."""

    def __init__(self, descriptions: Mapping[int, str], *,
                 schema: type[ma.Schema] = ProblemSchema, fallback: str | None = None):
        self.descriptions = dict(descriptions)
        self.schema = schema
        self.fallback = fallback

    def __call__(self, blp, *statuses: int, **overrides: str):
        """Decorator documenting `statuses` on a view of `blp`."""

        unknown = set(overrides) - {f"s{status}" for status in statuses}
        if unknown:  # a typo would silently keep the default description
            raise TypeError(f"descriptions of undeclared statuses: {sorted(unknown)}")

        def decorator(view):
            for status in statuses:
                description = overrides.get(
                    f"s{status}", self.descriptions.get(status, self.fallback))
                view = blp.alt_response(status, schema=self.schema, description=description,
                                        content_type=PROBLEM_CONTENT_TYPE)(view)
            return view

        return decorator
