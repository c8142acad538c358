"""The gateway's microcache of anonymous catalogue reads, on a real stack.

The showcase decides what is shareable (Cache-Control: public on anonymous catalogue GETs,
PUBLIC_CACHE_SECONDS); the gateway stores only that, never answers to a request carrying
an Authorization header, and never anything of the marketplace.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tools.shopper import DEMO_SELLER, create_product, login

CACHE_SECONDS = 1


@pytest.fixture(scope="module")
def cached_stack(new_stack):
    with new_stack(
        with_workers=False,
        env_overrides={"storefront": {"PUBLIC_CACHE_SECONDS": str(CACHE_SECONDS)}},
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def gateway(cached_stack) -> str:
    return cached_stack.urls.gateway


@pytest.fixture(scope="module")
def seller_token(gateway) -> str:
    return login(gateway, DEMO_SELLER)


@pytest.fixture
def product(gateway, seller_token) -> dict:
    return create_product(gateway, seller_token, stock=5, price=100000)


def get(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=10)


def test_anonymous_product_read_is_served_from_the_cache(gateway, product):
    url = f"{gateway}/api/v1/products/{product['id']}"
    first, second = get(url), get(url)
    assert first.status_code == second.status_code == 200
    assert first.headers["X-Cache-Status"] == "MISS"
    assert second.headers["X-Cache-Status"] == "HIT"
    assert second.json() == first.json()
    assert first.headers["Cache-Control"] == f"public, max-age={CACHE_SECONDS}"
    # Each response still carries its own request id, not the cached one's.
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_feed_and_product_list_are_cached_too(gateway):
    for path in ("/api/v1/feed?limit=3", "/api/v1/products?limit=3"):
        get(gateway + path)
        assert get(gateway + path).headers["X-Cache-Status"] == "HIT", path


def test_signed_in_callers_read_fresh_and_are_never_stored(gateway, product, seller_token):
    url = f"{gateway}/api/v1/products/{product['id']}"
    assert get(url).headers["X-Cache-Status"] == "MISS"  # an anonymous copy is now stored
    patched = requests.patch(url, json={"price": 125000}, timeout=10,
                             headers={"Authorization": f"Bearer {seller_token}"})
    assert patched.status_code == 200, patched.text

    mine = get(url, seller_token)
    assert mine.headers["X-Cache-Status"] == "BYPASS"
    assert mine.json()["price"]["amount"] == 125000
    assert "public" not in mine.headers.get("Cache-Control", "")

    # Anonymous readers may see the old price for at most the cache lifetime.
    deadline = time.monotonic() + CACHE_SECONDS + 5
    while get(url).json()["price"]["amount"] != 125000:
        assert time.monotonic() < deadline, "the cached copy outlived its max-age"
        time.sleep(0.2)


def test_an_answer_to_a_signed_in_request_is_not_given_to_anyone_else(gateway, seller_token):
    product = create_product(gateway, seller_token, stock=1)
    url = f"{gateway}/api/v1/products/{product['id']}"
    assert get(url, seller_token).headers["X-Cache-Status"] == "BYPASS"
    assert get(url).headers["X-Cache-Status"] == "MISS"


def test_errors_carts_and_marketplace_reads_are_not_cached(gateway, seller_token):
    missing = f"{gateway}/api/v1/products/{uuid.uuid4()}"
    assert get(missing).status_code == 404
    assert get(missing).headers["X-Cache-Status"] == "MISS"

    cart = get(f"{gateway}/api/v1/cart", seller_token)
    assert "public" not in cart.headers.get("Cache-Control", "")
    assert "X-Cache-Status" not in cart.headers  # the route has no cache at all

    orders = get(f"{gateway}/api/v1/orders", seller_token)
    assert "X-Cache-Status" not in orders.headers


def test_without_the_showcase_consent_nothing_is_stored(stack):
    """The shared test stack runs with PUBLIC_CACHE_SECONDS=0: the showcase sends no
    Cache-Control, so the gateway stores nothing even on catalogue routes."""
    url = f"{stack.urls.gateway}/api/v1/feed?limit=2"
    first, second = get(url), get(url)
    assert "Cache-Control" not in first.headers
    assert (first.headers["X-Cache-Status"], second.headers["X-Cache-Status"]) == ("MISS", "MISS")
