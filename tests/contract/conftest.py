"""Fixtures for the contract tests: a dedicated stack for provider verification.

The pacts' provider states create their own shop, products, reservations and orders with
fixed ids; a stack of their own (no background workers, a fixed payment server key so the
notification pact's signature verifies) keeps that data away from the session stack.
"""

from __future__ import annotations

import os

import pytest

# pact's FFI reports anonymous usage statistics over the network unless told not to; the
# contract tests run offline.
os.environ.setdefault("PACT_DO_NOT_TRACK", "true")
from pact_support import CONTRACT_SERVER_KEY


@pytest.fixture(scope="session")
def contract_stack(new_stack):
    with new_stack(
        with_workers=False,
        env_overrides={
            "transaction": {"PAYMENT_SERVER_KEY": CONTRACT_SERVER_KEY},
            "sandbox": {"SANDBOX_SERVER_KEY": CONTRACT_SERVER_KEY},
        },
    ) as stack:
        yield stack
