"""The common part of every Etalase app factory.

`build_app` gives a Flask app with JSON logs, request ids, problem+json errors (including
the ones flask-smorest and werkzeug raise), a request size limit, Prometheus metrics, and
`/healthz` + `/readyz`; the service's factory then registers its own blueprints on the
returned `Api`. The two services pass their Postgres database (readiness = reachable and
fully migrated); the payment sandbox passes none, its own readiness check, and a hook
that adds Midtrans' members to every problem.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import marshmallow as ma
from flask import Flask, jsonify
from flask_smorest import Api

from . import migrations
from .auth import install_token_verifier
from .db import Database, DatabaseUnavailable
from .observability import configure_logging, init_request_tracking, metrics_response
from .problems import (
    PROBLEM_CONTENT_TYPE,
    PROBLEM_EXTENSION,
    Problem,
    problem_from_http_exception,
    problem_response,
    register_problem_handlers,
)
from .request_body import drain_unread_body

SERVICE_SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "internalToken": {"type": "apiKey", "in": "header", "name": "X-Internal-Token"},
}


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error response of the API is shaped.

    Problems may carry extension members (e.g. `current_status`, `available`), so the
    documented object allows additional properties.
    """

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(
        required=True, metadata={"example": "https://etalase.dev/problems/not-found"}
    )
    title = ma.fields.String(required=True, metadata={"example": "Not Found"})
    status = ma.fields.Integer(required=True, metadata={"example": 404})
    detail = ma.fields.String()
    request_id = ma.fields.String(allow_none=True)
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Field path to messages, for validation errors."},
    )


class ProblemApi(Api):
    """flask-smorest `Api` whose errors are problem documents."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        # flask-smorest documents its default error responses (DEFAULT_ERROR and the one
        # per status it adds for e.g. @arguments' 422) as application/json; ours are
        # application/problem+json.
        default_content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_CONTENT_TYPE
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = default_content_type

    def handle_http_exception(self, error):
        return problem_response(problem_from_http_exception(error))


def build_app(
    *,
    import_name: str,
    service: str,
    title: str,
    version: str,
    settings: dict,
    database: Database | None,
    migrations_dir: Path | None,
    log_level: str = "INFO",
    max_content_length: int = 1024 * 1024,
    extra_readiness: list[Callable[[], None]] | None = None,
    description: str = "",
    security_schemes: dict | None = None,
    api_class: type[ProblemApi] = ProblemApi,
    problem_extension: Callable[[Problem], None] | None = None,
    jwks_file: str | Path | None = None,
) -> tuple[Flask, ProblemApi]:
    """`database`/`migrations_dir` None: no Postgres; readiness is `extra_readiness` only.
    `problem_extension` may add members to every problem the app answers. `jwks_file`: the
    app verifies user tokens against it (`servicekit.auth.current_principal`); None: the
    app takes none (the sandbox)."""
    configure_logging(service, log_level)
    app = Flask(import_name)
    app.config.update(settings)
    app.config.update(
        MAX_CONTENT_LENGTH=max_content_length,
        API_TITLE=title,
        API_VERSION=version,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            **({"info": {"description": description}} if description else {}),
            "components": {"securitySchemes": security_schemes or SERVICE_SECURITY_SCHEMES},
        },
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False
    # Whatever the answer, the rest of the body is read so the connection stays reusable.
    app.wsgi_app = drain_unread_body(app.wsgi_app, limit=2 * max_content_length)
    app.extensions["database"] = database
    if jwks_file is not None:
        install_token_verifier(app, jwks_file)
    if problem_extension is not None:
        app.extensions[PROBLEM_EXTENSION] = problem_extension

    init_request_tracking(app, service)
    register_problem_handlers(app)

    @app.errorhandler(DatabaseUnavailable)
    def _database_unavailable(error):
        return problem_response(
            Problem(
                503,
                "Service Unavailable",
                "The database is not reachable; try again shortly.",
                slug="database-unavailable",
                headers={"Retry-After": "5"},
            )
        )

    api = api_class(app)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", service=service)

    # The migration files ship with the code: list them once, not on every probe.
    expected_versions = (
        {m.version for m in migrations.discover(migrations_dir)} if migrations_dir else set()
    )

    @app.get("/readyz")
    def readyz():
        problems: list[str] = []
        if database is not None:
            try:
                missing = expected_versions - migrations.applied_versions(database)
                if missing:
                    problems.append(f"{len(missing)} migration(s) not applied")
            except Exception as exc:  # any failure to reach the database means not ready
                problems.append(f"database unreachable: {exc.__class__.__name__}")
        for check in extra_readiness or []:
            try:
                check()
            except Exception as exc:
                problems.append(str(exc) or exc.__class__.__name__)
        if problems:
            response = problem_response(
                Problem(
                    503,
                    "Not Ready",
                    "; ".join(problems),
                    slug="not-ready",
                    headers={"Retry-After": "2"},
                )
            )
            return response
        return jsonify(status="ready", service=service)

    @app.get("/metrics")
    def metrics():
        return metrics_response()

    return app, api


__all__ = ["build_app", "ProblemApi", "ProblemSchema", "PROBLEM_CONTENT_TYPE"]
