"""Helpers of the browser tests (imported by conftest.py and the tests): the HTTP client
for arranging data (`api`), the origin guard, and `Shop`, a page on the gateway with
screenshot and login helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from api_client import ApiClient

from tools.shopper import DEMO_PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails, in CI) and says why
    expect = None

E2E_DIR = Path(__file__).resolve().parent
SCREENSHOTS = E2E_DIR / "screenshots"
CHROMIUM = os.environ.get("ETALASE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def api_for(gateway: str) -> ApiClient:
    """requests against the gateway, for arranging data (not for what the test proves)."""
    return ApiClient(gateway, timeout=30, account_prefix="e2e")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


@dataclass
class OriginGuard:
    """Records every request and main-frame navigation of a page; blocks other origins."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)

    def attach(self, context, page) -> None:
        def on_request(request):
            self.requests.append(request.url)
            if origin_of(request.url) != self.origin:
                self.foreign.append(f"{request.method} {request.url}")

        def block_foreign(route):
            if origin_of(route.request.url) == self.origin:
                route.continue_()
            else:
                route.abort("blockedbyclient")

        page.on("request", on_request)
        page.on("framenavigated",
                lambda frame: self.navigations.append(frame.url)
                if frame == page.main_frame else None)
        context.route("**/*", block_foreign)

    def assert_same_origin(self, start_url: str) -> None:
        assert not self.foreign, f"requests left the gateway's origin: {self.foreign}"
        assert self.requests, "no request was recorded at all"
        base = without_fragment(start_url)
        moved = [url for url in self.navigations if without_fragment(url) != base]
        assert not moved, f"the page navigated away from {base}: {moved}"


@dataclass
class Shop:
    """A page on the gateway plus helpers shared by the tests."""

    page: object
    gateway: str
    guard: OriginGuard
    console_errors: list[str]
    shots_prefix: str

    @property
    def start_url(self) -> str:
        return f"{self.gateway}/"

    def open(self, route: str = "#/feed") -> None:
        self.page.goto(f"{self.start_url}{route}")
        self.page.wait_for_selector("h1.page-title")
        # A marker on the document: still there at the end == the document never reloaded.
        self.page.evaluate("window.__etalaseE2E = 'same-document'")

    def go(self, route: str) -> None:
        """Change the route like a shopper following a link (only the hash changes)."""
        self.page.evaluate("(hash) => { window.location.hash = hash; }", route)

    def shoot(self, name: str, *, phone: bool = True, full_page: bool = False) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        page.screenshot(path=str(SCREENSHOTS / f"{self.shots_prefix}{name}-desktop.png"),
                        full_page=full_page)
        if phone:
            page.set_viewport_size(PHONE)
            page.wait_for_timeout(100)
            page.screenshot(path=str(SCREENSHOTS / f"{self.shots_prefix}{name}-phone.png"),
                            full_page=full_page)
            page.set_viewport_size(DESKTOP)
            page.wait_for_timeout(50)

    def login(self, email: str, password: str = DEMO_PASSWORD, *, expect_route: str | None = None):
        page = self.page
        if not page.url.split("#", 1)[-1].startswith("/login"):
            page.get_by_role("link", name="Sign in").click()
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.locator("form.form").get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").wait_for()
        if expect_route:
            page.wait_for_url(f"**#{expect_route}")

    def logout(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.get_by_role("link", name="Sign in").wait_for()

    def assert_stayed_on_origin(self) -> None:
        self.guard.assert_same_origin(self.start_url)
        marker = self.page.evaluate("window.__etalaseE2E")
        assert marker == "same-document", "the document was reloaded or replaced"
        assert without_fragment(self.page.url) == self.start_url
        assert not self.console_errors, f"errors in the page: {self.console_errors}"


def make_shop(browser, gateway: str, prefix: str):
    context = browser.new_context(viewport=DESKTOP, locale="en-GB",
                                  timezone_id="Asia/Jakarta", service_workers="block")
    context.set_default_timeout(15_000)
    page = context.new_page()
    guard = OriginGuard(origin_of(gateway))
    guard.attach(context, page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return context, Shop(page=page, gateway=gateway.rstrip("/"), guard=guard,
                         console_errors=errors, shots_prefix=prefix)
