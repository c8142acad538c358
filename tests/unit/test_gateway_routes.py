"""The gateway route table (gateway/routes.py) against DESIGN.md §3 and §9."""

from __future__ import annotations

import pytest

from gateway.build import build_config, compose_settings, local_settings
from gateway.routes import ROUTES, SANDBOX, STOREFRONT, TRANSACTION, Route, route_for, routes

# DESIGN.md §3: (method, public path) -> owning service
PUBLIC_API = [
    ("POST", "/api/v1/auth/register", STOREFRONT),
    ("POST", "/api/v1/auth/login", STOREFRONT),
    ("GET", "/api/v1/auth/me", STOREFRONT),
    ("GET", "/api/v1/shops", STOREFRONT),
    ("GET", "/api/v1/shops/6f1c", STOREFRONT),
    ("POST", "/api/v1/shops", STOREFRONT),
    ("GET", "/api/v1/products", STOREFRONT),
    ("GET", "/api/v1/products/6f1c", STOREFRONT),
    ("POST", "/api/v1/products", STOREFRONT),
    ("PATCH", "/api/v1/products/6f1c", STOREFRONT),
    ("GET", "/api/v1/feed", STOREFRONT),
    ("GET", "/api/v1/contents/6f1c", STOREFRONT),
    ("POST", "/api/v1/contents", STOREFRONT),
    ("GET", "/api/v1/cart", STOREFRONT),
    ("PUT", "/api/v1/cart/items/6f1c", STOREFRONT),
    ("DELETE", "/api/v1/cart/items/6f1c", STOREFRONT),
    ("POST", "/api/v1/checkout", TRANSACTION),
    ("GET", "/api/v1/checkouts/6f1c", TRANSACTION),
    ("POST", "/api/v1/checkouts/6f1c/cancel", TRANSACTION),
    ("GET", "/api/v1/orders", TRANSACTION),
    ("GET", "/api/v1/orders/6f1c", TRANSACTION),
    ("POST", "/api/v1/orders/6f1c/cancel", TRANSACTION),
    ("POST", "/api/v1/orders/6f1c/ship", TRANSACTION),
    ("POST", "/api/v1/orders/6f1c/confirm-receipt", TRANSACTION),
    ("POST", "/api/v1/orders/6f1c/deliver", TRANSACTION),
    ("POST", "/api/v1/orders/6f1c/returns", TRANSACTION),
    ("GET", "/api/v1/returns", TRANSACTION),
    ("GET", "/api/v1/returns/6f1c", TRANSACTION),
    ("POST", "/api/v1/returns/6f1c/resolve", TRANSACTION),
    ("POST", "/api/v1/payments/notifications/sandbox", TRANSACTION),
    ("POST", "/api/v1/payments/notifications/midtrans", TRANSACTION),
    ("GET", "/api/v1/sellers/me/balance", TRANSACTION),
    ("GET", "/api/v1/sellers/me/ledger", TRANSACTION),
    ("POST", "/api/v1/sellers/me/payouts", TRANSACTION),
    ("GET", "/api/v1/admin/audit/verify", TRANSACTION),
    ("GET", "/api/v1/audit/checkpoint", TRANSACTION),
    ("GET", "/api/v1/audit/entries/12", TRANSACTION),
    ("GET", "/api/v1/audit/consistency", TRANSACTION),
    ("GET", "/api/v1/audit/keys", TRANSACTION),
    ("GET", "/api/v1/orders/6f1c/audit", TRANSACTION),
    ("POST", "/sandbox/v2/order-1/pay", SANDBOX),
    ("GET", "/sandbox/v2/order-1/status", SANDBOX),
]

# Words that mark money, orders or the ledger: none of these may reach the showcase.
MARKETPLACE_WORDS = (
    "checkout",
    "order",
    "payment",
    "ledger",
    "payout",
    "balance",
    "refund",
    "settlement",
    "escrow",
    "audit",
    "sellers",
    "return",
)


@pytest.mark.parametrize(("method", "path", "service"), PUBLIC_API)
def test_every_public_path_goes_to_its_owner(method, path, service):
    route = route_for(path)
    assert route is not None, f"{path} is not routed"
    assert route.upstream == service
    assert method in route.allowed_methods


def test_no_marketplace_path_goes_to_the_storefront():
    for route in ROUTES:
        if route.upstream == STOREFRONT:
            assert not any(word in route.prefix for word in MARKETPLACE_WORDS), route
    for _method, path, _service in PUBLIC_API:
        if any(word in path for word in MARKETPLACE_WORDS):
            assert route_for(path).upstream != STOREFRONT, path


@pytest.mark.parametrize(
    "path",
    [
        "/internal",
        "/internal/",
        "/internal/reservations",
        "/internal/reservations/1/commit",
        "/internal/jwks.json",
    ],
)
def test_internal_is_never_routed(path):
    assert route_for(path) is None


def test_no_route_under_internal_and_none_shadows_the_gateway():
    for route in ROUTES:
        assert "internal" not in route.prefix
        assert route.prefix not in ("/healthz", "/readyz", "/")


def test_unknown_and_near_miss_paths_are_unrouted():
    for path in (
        "/api/v1/nope",
        "/api/v1/shopsXYZ",
        "/api/v1/auth",
        "/api/v2/orders",
        "/api/v1/checkoutx",
        "/healthz",
        "/readyz",
    ):
        assert route_for(path) is None, path


def test_sandbox_switch_removes_the_sandbox_route():
    assert route_for("/sandbox/v2/x/pay", with_sandbox=False) is None
    assert all(r.upstream != SANDBOX for r in routes(with_sandbox=False))
    text = build_config(local_settings("/tmp/etalase-unit", with_sandbox=False))
    assert "sandbox" not in text


def test_login_is_rate_limited():
    assert route_for("/api/v1/auth/login").auth_rate_limited


def test_head_comes_with_get():
    assert route_for("/api/v1/feed").allowed_methods == ("GET", "HEAD")
    assert "HEAD" not in route_for("/api/v1/checkout").allowed_methods


def test_route_validation_rejects_bad_entries():
    with pytest.raises(ValueError):
        Route("/x", "payments", ("GET",), "unknown upstream")
    with pytest.raises(ValueError):
        Route("x", STOREFRONT, ("GET",), "relative prefix")
    with pytest.raises(ValueError):
        Route("/x", STOREFRONT, ("get",), "lower-case method")


def test_config_has_a_location_per_route_and_the_proxy_safety_settings():
    text = build_config(compose_settings())
    for route in ROUTES:
        if route.prefix.endswith("/"):
            assert f"location ^~ {route.prefix} {{" in text
        else:
            assert f"location = {route.prefix} {{" in text
            assert f"location ^~ {route.prefix}/ {{" in text
    for directive in (
        "keepalive 32;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_connect_timeout 2s;",
        "proxy_read_timeout 15s;",
        "proxy_send_timeout 15s;",
        "proxy_next_upstream off;",
        "server_tokens off;",
        "client_max_body_size 1m;",
        "add_header X-Request-ID $req_id always;",
        "escape=json",
    ):
        assert directive in text, directive


def test_storefront_upstream_only_serves_storefront_prefixes():
    """The compliance view: every location proxying to the storefront is a showcase path."""
    text = build_config(compose_settings())
    current = None
    checked = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("location "):
            current = stripped
        if "proxy_pass http://etalase_storefront" in stripped and current:
            assert not any(word in current for word in MARKETPLACE_WORDS), current
            checked += 1
    # Each storefront route has a location; if the upstream's name or the format changed,
    # the loop above would check nothing.
    assert checked >= len([r for r in ROUTES if r.upstream == STOREFRONT])
