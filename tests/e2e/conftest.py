"""Browser fixtures for the shopper page: a real Chromium (Debian's `chromium` package)
driven by Playwright's Python client, against the session `stack` (tests/conftest.py).

- `browser`: one headless Chromium per session. Without /usr/bin/chromium (or the
  `playwright` package) the tests are skipped locally and FAIL in CI (`CI` is set), so CI
  can never pass by not running them.
- `shop`: a fresh browser context + page on the stack's gateway, with an `OriginGuard`
  recording every request and navigation (anything off the gateway's origin is blocked and
  reported), a `shoot()` helper saving phone and desktop screenshots, and `api`, a small
  HTTP client for test setup through the same gateway.

Playwright must NOT download its own browsers (`playwright install`): the Debian Chromium
is used through `executable_path`. Override the path with ETALASE_CHROMIUM.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from api_client import ApiClient
from browser_support import CHROMIUM, CHROMIUM_ARGS, E2E_DIR, api_for, make_shop


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives the shopper page in a real browser")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _unavailable(reason: str):
    """Skip on a developer machine; fail in CI, where the browser must be installed."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set: the end-to-end tests must run there)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_instance():
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} not found: install Debian's `chromium` package "
                     "(apt-get install -y chromium) or set ETALASE_CHROMIUM")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the `playwright` Python package is not installed "
                     "(pip install -r requirements-dev.txt)")
    instance = sync_playwright().start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def gateway(stack) -> str:
    return stack.urls.gateway


@pytest.fixture(scope="session")
def api(gateway) -> ApiClient:
    return api_for(gateway)


@pytest.fixture
def shop(browser, gateway, request):
    prefix = request.node.name.removeprefix("test_") + "-"
    context, shop = make_shop(browser, gateway, prefix)
    yield shop
    context.close()
