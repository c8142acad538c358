"""Fixtures of the security suite.

- `client`: the shared session `stack`, reached through its gateway (the attacker's view),
  with the service ports and the services' databases for the "nothing changed" checks.
- `hardened`: a second, small stack (no workers, one gunicorn worker per service) whose
  gateway has low rate limits and a CORS allow-list, and whose JWKS the key rotation test
  rewrites. Nothing here throttles or re-keys the session stack other suites share.
"""

from __future__ import annotations

import pytest
from security_client import BUYER, HARDENED_GATEWAY, SELLER, SELLER2, Client


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
