"""Fixtures for the marketplace's integration tests: the real stack (devstack), real
storefront, real payment sandbox, real Postgres. Nothing of ours or theirs is mocked.

- `market`: the shared session `stack` (workers running), reached through the gateway.
- `quiet_market`: a second stack without background workers and with short payment /
  auto-complete delays, for tests that stop services or drive the workers with `--once`.

Tests use the helpers on `Market` (checkout_market.py), so where the stack comes from is a
fixture detail.
"""

from __future__ import annotations

import pytest
from checkout_market import Market


@pytest.fixture(scope="session")
def market(stack) -> Market:
    return Market(stack)


@pytest.fixture(scope="session")
def quiet_market(new_stack) -> Market:
    with new_stack(
        with_workers=False,
        env_overrides={
            "transaction": {
                "PAYMENT_EXPIRY_SECONDS": "8",
                "AUTO_COMPLETE_SECONDS": "1",
                "AUTO_DELIVER_SECONDS": "1",
                "ABANDONED_CHECKOUT_SECONDS": "2",
                "STOREFRONT_TIMEOUT_SECONDS": "2",
                "PAYMENT_TIMEOUT_SECONDS": "2",
            }
        },
    ) as stack:
        yield Market(stack)
