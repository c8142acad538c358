"""Shared fixtures: a real local stack (devstack) on free ports, started once per session.

`pytest tests/unit` never starts it: only tests that ask for `stack` (or a fixture built on
it) do. Sub-directories add their own fixtures in their own conftest.py files.

Environment knobs:
    ETALASE_TEST_KEEP_DATA=1   keep the stack's data dir (logs!) after the session
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `pytest` works as well as `python -m pytest`
    sys.path.insert(0, str(ROOT))

from devstack import Stack, free_ports, new_data_dir  # noqa: E402  (needs the path above)

INTEGRATION_DIRS = {"integration", "e2e", "contract"}


def pytest_collection_modifyitems(config, items):
    """Tests under tests/integration (and e2e, contract) are integration tests."""
    tests_dir = ROOT / "tests"
    for item in items:
        try:
            parts = Path(str(item.fspath)).resolve().relative_to(tests_dir).parts
        except ValueError:
            continue
        if parts and parts[0] in INTEGRATION_DIRS:
            item.add_marker(pytest.mark.integration)


TEST_LOGIN_LIMIT = {"auth_rate": "1000r/s", "auth_burst": 5000}


class StackFactory:
    """Builds extra stacks (e.g. with different env) and stops them all at session end."""

    def __init__(self):
        self._stacks: list[tuple[Stack, Path]] = []

    def __call__(self, **kwargs) -> Stack:
        data_dir = new_data_dir("etalase-stack-")
        kwargs.setdefault("ports", free_ports())
        kwargs.setdefault("fast_unsafe_db", True)
        kwargs.setdefault("sandbox_retry_schedule", "1,1,2,3")
        # The suites read their own writes through the gateway at once (PATCH a product,
        # then GET it anonymously); a second-old microcached copy would answer instead.
        # tests/integration/test_gateway_microcache.py runs a stack with the cache on.
        overrides = {name: dict(env) for name, env in kwargs.get("env_overrides", {}).items()}
        overrides.setdefault("storefront", {}).setdefault("PUBLIC_CACHE_SECONDS", "0")
        kwargs["env_overrides"] = overrides
        # One test address logs in hundreds of times; production's per-address login
        # allowance would answer 429s. The limit itself is tested on a hardened stack
        # (tests/security) and a stand-in gateway (tests/integration/test_gateway_config).
        kwargs["gateway_settings"] = {**TEST_LOGIN_LIMIT, **kwargs.get("gateway_settings", {})}
        stack = Stack(data_dir, **kwargs)
        self._stacks.append((stack, data_dir))
        stack.start()
        return stack

    def close(self) -> None:
        keep = os.environ.get("ETALASE_TEST_KEEP_DATA") == "1"
        for stack, data_dir in reversed(self._stacks):
            stack.stop()
            if keep:
                print(f"\nstack data kept in {data_dir}")
            else:
                stack.remove_data()
                shutil.rmtree(data_dir, ignore_errors=True)
        self._stacks.clear()


@pytest.fixture(scope="session")
def stack_factory():
    factory = StackFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def stack(stack_factory) -> Stack:
    """The whole system (Postgres, both services, sandbox, workers, nginx) on free ports."""
    return stack_factory()


@pytest.fixture(scope="session")
def gateway_url(stack) -> str:
    return stack.urls.gateway
