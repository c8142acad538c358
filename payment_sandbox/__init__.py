"""Payment sandbox: a stand-in for an external Midtrans-style payment provider.

It speaks the Midtrans Core API subset the marketplace uses (charge, status, cancel,
refund), plays the customer paying (`POST /v2/{order_id}/pay`, sandbox only) and sends
signed notifications to the marketplace from a separate notifier process. State lives in
SQLite (WAL), shared by the gunicorn workers and the notifier.
"""

from __future__ import annotations

from dataclasses import replace

import marshmallow as ma
from flask import Flask, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from servicekit.observability import configure_logging, init_request_tracking, metrics_response
from servicekit.problems import (
    Problem,
    problem_from_http_exception,
    problem_response,
    register_problem_handlers,
)

from .config import Config
from .provider import Provider
from .store import Store

SERVICE = "payment-sandbox"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, plus Midtrans' `status_code` and `status_message`."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    request_id = ma.fields.String(allow_none=True)
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))
    status_code = ma.fields.String(metadata={"description": "Midtrans-style code, e.g. \"406\"."})
    status_message = ma.fields.String()


def _midtrans_problem(problem: Problem):
    """Every error is problem+json; Midtrans clients also find `status_code`/`status_message`."""
    problem.extra.setdefault("status_code", str(problem.status))
    problem.extra.setdefault("status_message", problem.detail)
    return problem_response(problem)


class SandboxApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return _midtrans_problem(problem_from_http_exception(error))


def create_app(config: Config | dict | None = None) -> Flask:
    if config is None:
        config = Config()
    elif isinstance(config, dict):
        config = replace(Config(), **config)
    configure_logging(SERVICE, config.log_level)

    store = Store(config.db_path)
    store.initialize()

    app = Flask(__name__)
    app.config.update(
        SANDBOX=config,
        MAX_CONTENT_LENGTH=config.max_content_length,
        API_TITLE="Etalase payment sandbox (Midtrans-compatible)",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}}}
        },
    )
    app.json.sort_keys = False
    app.extensions["sandbox_store"] = store
    app.extensions["sandbox_provider"] = Provider(store, config)

    init_request_tracking(app, SERVICE)
    register_problem_handlers(app)  # keeps its catch-all 500 handler

    @app.errorhandler(Problem)
    def _problem(problem: Problem):
        return _midtrans_problem(problem)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        return _midtrans_problem(problem_from_http_exception(error))

    api = SandboxApi(app)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", service=SERVICE)

    @app.get("/readyz")
    def readyz():
        try:
            store.check()
        except Exception as exc:  # any failure to use the database means not ready
            raise Problem(
                503,
                "Not Ready",
                f"SQLite unavailable: {exc.__class__.__name__}: {exc}",
                slug="not-ready",
                headers={"Retry-After": "2"},
            ) from None
        return jsonify(status="ready", service=SERVICE)

    @app.get("/metrics")
    def metrics():
        return metrics_response()

    from .api import register_blueprints

    register_blueprints(app, api)
    return app
