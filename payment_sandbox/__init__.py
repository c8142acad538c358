"""Payment sandbox: a stand-in for an external Midtrans-style payment provider.

It speaks the Midtrans Core API subset the marketplace uses (charge, status, cancel,
refund), plays the customer paying (`POST /v2/{order_id}/pay`, sandbox only) and sends
signed notifications to the marketplace from a separate notifier process. State lives in
SQLite (WAL), shared by the gunicorn workers and the notifier.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Flask

from servicekit.app import ProblemApi, build_app
from servicekit.problems import Problem

from .api.schemas import ProblemSchema
from .config import Config
from .provider import Provider
from .store import Store

SERVICE = "payment-sandbox"


class SandboxApi(ProblemApi):
    ERROR_SCHEMA = ProblemSchema


def midtrans_members(problem: Problem) -> None:
    """Every error is problem+json; Midtrans clients also find `status_code`/`status_message`."""
    problem.extra.setdefault("status_code", str(problem.status))
    problem.extra.setdefault("status_message", problem.detail)


def create_app(config: Config | dict | None = None) -> Flask:
    if config is None:
        config = Config()
    elif isinstance(config, dict):
        config = replace(Config(), **config)

    store = Store(config.db_path)
    store.initialize()

    def sqlite_ready() -> None:
        try:
            store.check()
        except Exception as exc:  # any failure to use the database means not ready
            raise RuntimeError(f"SQLite unavailable: {exc.__class__.__name__}: {exc}") from exc

    app, api = build_app(
        import_name=__name__,
        service=SERVICE,
        title="Etalase payment sandbox (Midtrans-compatible)",
        version="1.0.0",
        settings={"SANDBOX": config},
        database=None,
        migrations_dir=None,
        log_level=config.log_level,
        max_content_length=config.max_content_length,
        extra_readiness=[sqlite_ready],
        security_schemes={"basicAuth": {"type": "http", "scheme": "basic"}},
        api_class=SandboxApi,
        problem_extension=midtrans_members,
    )
    app.extensions["sandbox_store"] = store
    app.extensions["sandbox_provider"] = Provider(store, config)

    from .api import register_blueprints

    register_blueprints(app, api)
    return app
