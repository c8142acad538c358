"""RFC 9457 problem details: the single error format of every Etalase response.

Handlers here turn every failure (our own `Problem`, werkzeug's HTTP errors such as 404,
405 and 413, webargs validation errors and unexpected exceptions) into
`application/problem+json` carrying the request id, so integrators never parse two
error shapes and never see a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, json
from werkzeug.exceptions import HTTPException

from . import errors as domain

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://etalase.dev/problems/"

log = logging.getLogger(__name__)


class Problem(Exception):
    """An expected failure that the client can act on.

    `slug` becomes the problem `type` URI; `errors` maps field names to messages for
    validation failures; `headers` is added to the response (e.g. `Retry-After`).
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str | None = None,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail or title
        self.slug = slug or _slugify(title)
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "request_id": current_request_id(),
        }
        if self.errors:
            body["errors"] = self.errors
        # Extension members never replace the standard ones (a `status` extra once
        # turned a 409 problem's status into "released").
        body.update({k: v for k, v in self.extra.items() if k not in body})
        return body


def _slugify(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def current_request_id() -> str | None:
    try:
        return g.get("request_id")
    except RuntimeError:  # outside an application context
        return None


# app.extensions key of an app's hook that adds its own members to every problem (the
# payment sandbox adds Midtrans' status_code/status_message), wherever it was raised.
PROBLEM_EXTENSION = "problem_extension"


def problem_response(problem: Problem) -> Response:
    extend = current_app.extensions.get(PROBLEM_EXTENSION) if current_app else None
    if extend is not None:
        extend(problem)
    response = Response(
        json.dumps(problem.to_dict()), status=problem.status, mimetype=PROBLEM_CONTENT_TYPE
    )
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


def flatten_validation_messages(messages: Any) -> dict[str, list[str]]:
    """Turn webargs' `{"json": {"items": {"0": {"quantity": [...]}}}}` into
    `{"items.0.quantity": [...]}`: one flat map from field path to messages."""
    flat: dict[str, list[str]] = {}

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + [str(key)])
        elif isinstance(node, list) and all(isinstance(item, str) for item in node):
            flat.setdefault(".".join(path) or "_body", []).extend(node)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, path + [str(index)])
        else:
            flat.setdefault(".".join(path) or "_body", []).append(str(node))

    # The first level names the request location (json, query, headers...); the field
    # name is what a client understands, so drop it.
    if isinstance(messages, dict):
        for location_value in messages.values():
            walk(location_value, [])
    else:
        walk(messages, [])
    return flat


_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
}


def problem_from_http_exception(error: HTTPException) -> Problem:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = None
    messages = data.get("errors") or data.get("messages")
    if messages:
        errors = flatten_validation_messages(messages)
    if status == 422 and errors:
        title, detail = "Validation failed", "One or more fields are invalid."
    else:
        title = error.name
        detail = data.get("message") or error.description or error.name
    headers = dict(data.get("headers") or {})
    if status == 405:
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(sorted(allowed))
    return Problem(
        status,
        title,
        detail,
        slug=_HTTP_SLUGS.get(status, _slugify(error.name)),
        errors=errors,
        headers=headers,
    )


# How a domain error (servicekit/errors.py) answers over HTTP: the first row whose kind the
# error is an instance of (so a subclass's row comes before its base's) gives the status,
# the title unless the error names its own, and headers. A service puts the rows of its
# own kinds before these (`register_domain_errors(app, rows)`).
ErrorRow = tuple[type[domain.DomainError], int, str] | tuple[
    type[domain.DomainError], int, str, dict[str, str]]

BEARER_CHALLENGE = 'Bearer realm="etalase"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="etalase", error="invalid_token"'

DOMAIN_ERRORS: list[ErrorRow] = [
    (domain.AccountInactive, 401, "Unauthorized", {"WWW-Authenticate": INVALID_TOKEN_CHALLENGE}),
    (domain.Unauthenticated, 401, "Unauthorized"),
    (domain.Forbidden, 403, "Forbidden"),
    (domain.NotFound, 404, "Not Found"),
    (domain.StaleVersion, 412, "Precondition Failed"),
    (domain.Conflict, 409, "Conflict"),
    (domain.Invalid, 422, "Validation failed"),
    (domain.TooManyRequests, 429, "Too Many Requests"),
    (domain.Unavailable, 503, "Service Unavailable"),
]

def problem_from_domain(error: domain.DomainError,
                        table: list[ErrorRow] = DOMAIN_ERRORS) -> Problem:
    row = next((row for row in table if isinstance(error, row[0])), None)
    if row is None:  # an unmapped kind is a bug: the generic handler answers 500
        raise error
    status, title = row[1], row[2]
    headers = dict(row[3]) if len(row) > 3 else {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return Problem(status, error.title or title, error.detail, slug=error.slug,
                   errors=error.errors or None, headers=headers, extra=error.fields)


def register_domain_errors(app: Flask, rows: list[ErrorRow] = ()) -> None:
    """Answer every DomainError raised under `app` as a problem, by `rows` then the
    shared DOMAIN_ERRORS: the one place a service turns its errors into HTTP."""
    table = [*rows, *DOMAIN_ERRORS]

    @app.errorhandler(domain.DomainError)
    def _domain_error(error: domain.DomainError):
        return problem_response(problem_from_domain(error, table))


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _handle_problem(problem: Problem):
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def _handle_http(error: HTTPException):
        return problem_response(problem_from_http_exception(error))

    @app.errorhandler(RecursionError)
    def _handle_recursion(error: RecursionError):
        # A hostile body like [[[[...]]]] (well under the size limit) exhausts the JSON
        # decoder's recursion: that is the client's malformed input, not our failure.
        if _raised_in_json_decoder(error):
            return problem_response(
                Problem(
                    400,
                    "Bad Request",
                    "The JSON body is nested too deeply.",
                    slug="bad-request",
                )
            )
        return _handle_unexpected(error)

    @app.errorhandler(Exception)
    def _handle_unexpected(error: Exception):
        # Logged with the request id so the 500 a client reports can be found.
        log.exception("unhandled error", extra={"request_id": current_request_id()})
        return problem_response(
            Problem(
                500,
                "Internal Server Error",
                "The server could not complete the request; it has been logged.",
                slug="internal-error",
            )
        )


def _raised_in_json_decoder(error: BaseException) -> bool:
    tb = error.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if filename.endswith(("/json/decoder.py", "/json/__init__.py")):
            return True
        tb = tb.tb_next
    return False
