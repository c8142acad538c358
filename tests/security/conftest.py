"""Fixtures of the security suite.

- `client`: the shared session `stack`, reached through its gateway (the attacker's view),
  with the service ports and the services' databases for the "nothing changed" checks.
- `hardened`: a second, small stack (no workers, one gunicorn worker per service) whose
  gateway has low rate limits and a CORS allow-list, and whose JWKS the key rotation test
  rewrites. Nothing here throttles or re-keys the session stack other suites share.
"""

from __future__ import annotations

import pytest
from security_client import BUYER, SELLER, SELLER2, Client

# The hardened gateway: limits low enough to trip in a few requests.
HARDENED_GATEWAY = {
    "client_rate": "5r/s",
    "client_burst": 15,
    "token_rate": "1r/s",
    "token_burst": 4,
    "auth_rate": "1r/m",
    "auth_burst": 3,
    "cors_allowed_origins": ("https://shop.etalase.test", "http://localhost:5173"),
}
ALLOWED_ORIGIN = "https://shop.etalase.test"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/security/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def client(stack) -> Client:
    return Client(stack)


@pytest.fixture(scope="session")
def buyer(client) -> str:
    return client.token(BUYER)


@pytest.fixture(scope="session")
def seller(client) -> str:
    return client.token(SELLER)


@pytest.fixture(scope="session")
def seller2(client) -> str:
    return client.token(SELLER2)


@pytest.fixture(scope="session")
def hardened_stack(new_stack):
    with new_stack(
        with_workers=False,
        web_concurrency=1,
        gateway_settings=dict(HARDENED_GATEWAY),
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
def hardened(hardened_stack) -> Client:
    return Client(hardened_stack, auth_via="storefront")
