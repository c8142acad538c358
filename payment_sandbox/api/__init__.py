"""Blueprints of the sandbox: the Midtrans Core API subset and the sandbox-only helpers."""

from __future__ import annotations

import hmac
from functools import wraps

from flask import Flask, current_app, request
from flask_smorest import Api

from servicekit.openapi import ProblemResponses
from servicekit.problems import Problem

from .schemas import ProblemSchema

# The problem responses a sandbox route may answer, in its OpenAPI document (every error is
# problem+json with Midtrans' members).
problems = ProblemResponses({
    404: "Unknown order or transaction id.",
    412: "The transaction is no longer pending.",
}, schema=ProblemSchema)


def provider():
    return current_app.extensions["sandbox_provider"]


def require_server_key(view):
    """HTTP Basic with the server key as username and an empty password (Midtrans)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        expected = current_app.config["SANDBOX"].server_key.encode()
        auth = request.authorization
        ok = (
            auth is not None
            and auth.type == "basic"
            and hmac.compare_digest((auth.username or "").encode(), expected)
            and not auth.password
        )
        if not ok:
            detail = "Access denied: use HTTP Basic with the server key and an empty password."
            raise Problem(
                401,
                "Unauthorized",
                detail,
                slug="unauthorized",
                headers={"WWW-Authenticate": 'Basic realm="payment-sandbox"'},
                extra={"status_code": "401", "status_message": detail},
            )
        return view(*args, **kwargs)

    return wrapper


def register_blueprints(app: Flask, api: Api) -> None:
    from .sandbox import blp as sandbox_blp
    from .transactions import blp as transactions_blp

    api.register_blueprint(transactions_blp)
    api.register_blueprint(sandbox_blp)
