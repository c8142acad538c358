"""Fixtures for fuzzing the public API in-process with schemathesis.

A dedicated stack (no background workers) gives the databases, keys, the storefront the
marketplace calls and the payment sandbox; the apps under test are created in this process
from that stack's environment (`stack.env(...)`), so a crash shows its traceback here and
fuzzed writes never touch the data other tests rely on.

Knobs:
    FUZZ_MAX_EXAMPLES   examples per operation in the fuzzing phase (default 4; `make fuzz`: 200)
    FUZZ_RANDOM=1       new random examples each run (default: the same ones, derandomized)
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import schemathesis

# Variables of a web process that make no sense in-process (gunicorn, multiprocess metrics).
_WEB_ONLY = {"BIND", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"}


@contextmanager
def service_environment(stack, service: str):
    """`os.environ` as the stack gives it to `service` (configs read it when created)."""
    env = {k: v for k, v in stack.env(service).items() if k not in _WEB_ONLY}
    env["LOG_LEVEL"] = "WARNING"  # keep pytest's output readable
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def create_service_app(stack, service: str):
    with service_environment(stack, service):
        if service == "storefront":
            from storefront_service import create_app
        else:
            from transaction_service import create_app
        app = create_app()
    app.config["TESTING"] = False  # real error handlers (500 -> problem), as in production
    return app


@dataclass
class Actors:
    """Bearer tokens of fresh accounts made for fuzzing, by role."""

    tokens: dict[str, str]

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}


def _register_and_login(client, role: str) -> str:
    email = f"fuzz-{role}-{uuid.uuid4().hex[:10]}@fuzz.test"
    password = "fuzz-password-1"
    created = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "name": f"Fuzz {role}", "role": role},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    if role == "seller":
        token = _login(client, email, password)
        shop = client.post(
            "/api/v1/shops",
            json={"name": f"Toko Fuzz {uuid.uuid4().hex[:6]}", "city": "Bandung"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert shop.status_code == 201, shop.get_data(as_text=True)
    return _login(client, email, password)  # a seller's token now carries shop_id


def _login(client, email: str, password: str) -> str:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


@pytest.fixture(scope="session")
def fuzz_stack(new_stack):
    with new_stack(with_workers=False) as stack:
        yield stack


@pytest.fixture(scope="session")
def storefront_app(fuzz_stack):
    return create_service_app(fuzz_stack, "storefront")


@pytest.fixture(scope="session")
def transaction_app(fuzz_stack):
    return create_service_app(fuzz_stack, "transaction")


@pytest.fixture(scope="session")
def actors(storefront_app) -> Actors:
    client = storefront_app.test_client()
    tokens = {role: _register_and_login(client, role) for role in ("buyer", "seller", "creator")}
    # Admins are never self-registered: the seed's admin logs in.
    tokens["admin"] = _login(client, "admin@etalase.test", "etalase-demo")
    return Actors(tokens)


def public_schema(app):
    """The service's own document, restricted to the public API (`/api/...`)."""
    return schemathesis.openapi.from_wsgi("/openapi.json", app).include(path_regex=r"^/api/")


@pytest.fixture(scope="session")
def storefront_schema(storefront_app):
    return public_schema(storefront_app)


@pytest.fixture(scope="session")
def transaction_schema(transaction_app):
    return public_schema(transaction_app)
