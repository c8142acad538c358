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
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `pytest` works as well as `python -m pytest`
    sys.path.insert(0, str(ROOT))

from tools.stacks import throwaway_stack  # noqa: E402  (needs the path above)

TESTS_DIR = ROOT / "tests"
INTEGRATION_DIRS = {"integration", "e2e", "contract"}

# Parallel runs (pytest-xdist: `make test` runs `-n 2`). Each worker is a pytest session of
# its own, so a session fixture that starts a stack (or a browser) would start once on every
# worker that runs a test using it. Tests are handed out in groups, one group to one worker:
# a module is a group (its module fixtures are built once, its tests run in file order), and
# the modules below share one. The groups go by path because xdist's scheduler sees node ids
# only; `pytest_collection_modifyitems` checks that every module using one of these session
# stacks is in its fixture's group, so a new one cannot start a second copy unnoticed.
SHARED_GROUPS = {
    # Whole stacks of their own, killed processes, a minute of load: never two at once.
    "chaos/": "exclusive",
    "integration/test_devstack_run.py": "exclusive",
    "contract/": "contract",  # contract_stack; the consumer tests write the pacts replayed
    "fuzz/": "fuzz",
    "e2e/": "browser",
    "integration/sandbox/": "sandbox",
    "security/test_gateway_hardening.py": "hardened",
    "security/test_key_rotation.py": "hardened",
    "integration/transaction/test_workers_and_outages.py": "quiet",
}
# session fixture starting a stack (or Chromium) of its own -> the group of its modules
OWN_STACK_GROUPS = {
    "contract_stack": "contract",
    "fuzz_stack": "fuzz",
    "browser": "browser",
    "sandbox": "sandbox",
    "hardened_stack": "hardened",
    "quiet_market": "quiet",
}


def xdist_group(rel: str) -> str:
    """The group of a test module (path relative to tests/)."""
    for prefix, group in SHARED_GROUPS.items():
        if rel.startswith(prefix):
            return group
    return rel


def _rel(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].removeprefix("tests/")


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's loadgroup reads marks xdist 3.8 can no longer attach under pytest 9.2 (node
    ids are immutable there), so the groups are scopes of its loadscope scheduler."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None  # an explicit --dist loadfile / each / ... as asked
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(_rel(nodeid))

    # Groups in collection order (chaos first: the longest go out first), not by size.
    config.option.loadscopereorder = False
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Tests under tests/integration (and e2e, contract) are integration tests; a module
    using a session stack of its own must be in that stack's group (SHARED_GROUPS)."""
    misplaced = set()
    for item in items:
        try:
            rel = item.path.resolve().relative_to(TESTS_DIR).as_posix()
        except ValueError:
            continue
        if rel.split("/", 1)[0] in INTEGRATION_DIRS:
            item.add_marker(pytest.mark.integration)
        for fixture, group in OWN_STACK_GROUPS.items():
            if fixture in item.fixturenames and xdist_group(rel) != group:
                misplaced.add(f"{rel} uses {fixture}: add it to SHARED_GROUPS as {group!r}")
    if misplaced:
        raise pytest.UsageError("tests/conftest.py: " + "; ".join(sorted(misplaced)))


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
