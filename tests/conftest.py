"""Shared fixtures: a real local stack (devstack) on free ports, started once per session
(once per xdist worker: `make test` runs the suite in parallel, see docs/testing.md).

`pytest tests/unit` never starts it: only tests that ask for `stack` (or a fixture built on
it) do. A suite that needs a stack of its own (other settings, processes it may kill) gets
it from `new_stack`, a context manager, in a fixture of the scope it needs:

    @pytest.fixture(scope="module")
    def cached_stack(new_stack):
        with new_stack(with_workers=False) as stack:
            yield stack

Sub-directories add their own fixtures in their own conftest.py files.

Environment knobs:
    ETALASE_KEEP_DATA=1   keep the stacks' data dirs (logs!) after they stop (tools/stacks.py)
"""

from __future__ import annotations

import sys
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `pytest` works as well as `python -m pytest`
    sys.path.insert(0, str(ROOT))

from tools.stacks import throwaway_stack  # noqa: E402  (needs the path above)

TESTS_DIR = ROOT / "tests"
INTEGRATION_DIRS = {"integration", "e2e", "contract"}

# Parallel runs (pytest-xdist, `--dist loadgroup`): each worker is a pytest session of its
# own, so a session fixture that starts a stack (or a browser) would start once on every
# worker that runs a test using it. The modules using one of these go to one worker
# together: each such stack starts once in the whole run.
OWN_STACK_FIXTURES = ("contract_stack", "fuzz_stack", "hardened_stack", "quiet_market",
                      "sandbox", "browser")
# Tests that start whole stacks of their own, kill processes and put the machine under load
# for a minute (chaos, two of everything, two `make run`s): one at a time, on one worker.
EXCLUSIVE = ("chaos/", "integration/test_devstack_run.py")


def _group(rel: str, own_stacks: set[str]) -> str:
    if rel.startswith(EXCLUSIVE):
        return "exclusive"
    if rel.startswith("contract/"):  # the consumer tests write the pacts the providers read
        return "contract"
    # Otherwise a module stays on one worker (its module fixtures are built once, its tests
    # run in file order as they always have).
    return "+".join(sorted(own_stacks)) or rel


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Tests under tests/integration (and e2e, contract) are integration tests; every test
    gets its xdist group (see OWN_STACK_FIXTURES)."""
    own_stacks: dict[Path, set[str]] = defaultdict(set)
    for item in items:
        own_stacks[item.path].update(f for f in OWN_STACK_FIXTURES if f in item.fixturenames)
    for item in items:
        try:
            rel = item.path.resolve().relative_to(TESTS_DIR).as_posix()
        except ValueError:
            continue
        if rel.split("/", 1)[0] in INTEGRATION_DIRS:
            item.add_marker(pytest.mark.integration)
        item.add_marker(pytest.mark.xdist_group(_group(rel, own_stacks[item.path])))


TEST_LOGIN_LIMIT = {"auth_rate": "1000r/s", "auth_burst": 5000}


@contextmanager
def _test_stack(**kwargs):
    """tools.stacks.throwaway_stack with the suite's settings (each can be overridden)."""
    kwargs.setdefault("fast_unsafe_db", True)
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
    with throwaway_stack("etalase-stack-", **kwargs) as stack:
        yield stack


@pytest.fixture(scope="session")
def new_stack():
    """`with new_stack(**Stack kwargs) as stack:` a stack of a suite's own (see above)."""
    return _test_stack


@pytest.fixture(scope="session")
def stack(new_stack):
    """The whole system (Postgres, both services, sandbox, workers, nginx) on free ports."""
    with new_stack() as stack:
        yield stack


@pytest.fixture(scope="session")
def gateway_url(stack) -> str:
    return stack.urls.gateway
