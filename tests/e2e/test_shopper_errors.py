"""What the shopper is told when things go wrong, in a real browser:

- out of stock: the last unit sells (the seller sets stock 0) between opening the checkout
  and placing the order -> the 409 `insufficient-stock` problem becomes a friendly message
  naming the product, and the cart flags it;
- payment expired: on a stack whose marketplace gives only a few seconds to pay
  (PAYMENT_EXPIRY_SECONDS, devstack env override), the order page turns to "Payment
  expired" by itself (polling, no reload) with the explanation;
- services unavailable: with the marketplace stopped, the gateway's 502/503 becomes a clear
  "temporarily unavailable" message.

Every test uses its own fresh accounts (and its own shop and product where it changes
stock), so nothing collides with other tests on the shared stack.
"""

from __future__ import annotations

import re
import uuid

import pytest
from api_client import ApiClient
from browser_support import api_for, expect, make_shop

from tools.shopper import ADDRESS

PAYMENT_EXPIRY_SECONDS = 8


def _fill_address(page) -> None:
    for name, label in (("name", "Recipient name"), ("phone", "Phone number"),
                        ("line1", "Street address"), ("city", "City"),
                        ("postal_code", "Postal code")):
        page.get_by_label(label).fill(ADDRESS[name])


def test_out_of_stock_message(shop, api):
    page = shop.page
    tag = uuid.uuid4().hex[:8]
    _, seller = api.register("seller", f"Penjual E2E {tag}")
    seller_shop = api.request("POST", "/api/v1/shops", token=seller, expect=201,
                              json={"name": f"Toko Rotan E2E {tag}", "city": "Cirebon"}).json()
    title = f"Tas Anyaman Rotan {tag}"
    product = api.request("POST", "/api/v1/products", token=seller, expect=201, json={
        "title": title, "price": 150000, "stock": 1,
        "description": "Tas rotan anyaman tangan, satu-satunya.",
    }).json()
    buyer_email, _ = api.register("buyer", f"Pembeli E2E {tag}")

    shop.open("#/login")
    shop.login(buyer_email, expect_route="/feed")

    # The product page: price and the last unit.
    shop.go(f"#/product/{product['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".buy-price")).to_have_text("Rp 150.000")
    expect(page.locator(".buy-box .stock")).to_have_text("Only 1 left")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator(".buy-box .inline-ok")).to_contain_text("Added to cart")

    # Open the checkout of that shop...
    shop.go("#/cart")
    group = page.locator(f'.shop-group[data-shop-id="{seller_shop["id"]}"]')
    group.get_by_role("link", name=re.compile(r"^Check out")).click()
    page.wait_for_url(f"**#/checkout/{seller_shop['id']}")
    _fill_address(page)

    # ...meanwhile the last unit is gone.
    api.request("PATCH", f"/api/v1/products/{product['id']}", token=seller, expect=200,
                json={"stock": 0})
    page.get_by_role("button", name=re.compile(r"^Place order")).click()
    alert = page.locator(".form-errors [role=alert]")
    expect(alert).to_contain_text("Out of stock")
    expect(alert).to_contain_text(f"Sorry, “{title}” is out of stock.")
    expect(alert).to_have_attribute("data-slug", "insufficient-stock")
    assert "#/checkout/" in page.url  # no order page: nothing was placed
    shop.shoot("01-checkout")

    # The cart flags the line and offers nothing to check out for that shop.
    page.get_by_role("link", name="Review your cart").click()
    page.wait_for_url("**#/cart")
    line = page.locator(f'.cart-line[data-product-id="{product["id"]}"]')
    expect(line.locator('[data-flag="out_of_stock"]')).to_have_text("Out of stock")
    expect(group).to_contain_text("Nothing to check out")
    shop.shoot("02-cart")

    shop.assert_stayed_on_origin()


@pytest.fixture(scope="module")
def short_expiry_stack(new_stack):
    """A stack of its own whose marketplace gives PAYMENT_EXPIRY_SECONDS to pay (the
    payment-expiry worker runs every second), so an order expires during the test."""
    with new_stack(
        env_overrides={"transaction": {"PAYMENT_EXPIRY_SECONDS": str(PAYMENT_EXPIRY_SECONDS)}}
    ) as short:
        yield short


@pytest.fixture
def short_shop(browser, short_expiry_stack, request):
    prefix = request.node.name.removeprefix("test_") + "-"
    context, shop = make_shop(browser, short_expiry_stack.urls.gateway, prefix)
    yield shop
    context.close()


def _buyer_with_cart(api: ApiClient) -> tuple[str, dict]:
    email, token = api.register("buyer", "Pembeli Terlambat")
    products = api.request("GET", "/api/v1/products", params={"limit": 50}, expect=200).json()
    product = next(p for p in products["data"] if p["stock"] >= 1 and p["status"] == "active")
    api.request("PUT", f"/api/v1/cart/items/{product['id']}", token=token, expect=200,
                json={"quantity": 1})
    return email, product


def test_expired_payment_message(short_shop, short_expiry_stack):
    page = short_shop.page
    api = api_for(short_expiry_stack.urls.gateway)
    email, product = _buyer_with_cart(api)

    short_shop.open("#/login")
    short_shop.login(email, expect_route="/feed")
    short_shop.go("#/cart")
    page.get_by_role("link", name=re.compile(r"^Check out")).click()
    _fill_address(page)
    page.get_by_label("E-wallet").check()
    page.get_by_role("button", name=re.compile(r"^Place order")).click()
    page.wait_for_url(re.compile(r"#/orders/[0-9a-f-]{36}$"))

    status = page.locator("#order-status")
    expect(status).to_contain_text("Waiting for payment")
    expect(page.locator(".deeplink")).to_contain_text("/pay")
    expect(page.get_by_role("button", name="Pay in sandbox")).to_be_visible()

    # Nobody pays: the deadline passes and the page follows without a reload.
    expect(status).to_contain_text("Payment expired", timeout=(PAYMENT_EXPIRY_SECONDS + 15) * 1000)
    expect(status.locator('.status-message[data-status="EXPIRED"]')).to_contain_text(
        "The payment deadline passed")
    expect(status).to_contain_text("You have not been charged")
    expect(page.get_by_role("button", name="Pay in sandbox")).to_have_count(0)
    short_shop.shoot("01-order")

    short_shop.assert_stayed_on_origin()


def test_services_unavailable_message(short_shop, short_expiry_stack):
    page = short_shop.page
    api = api_for(short_expiry_stack.urls.gateway)
    email, _ = _buyer_with_cart(api)
    short_shop.open("#/login")
    short_shop.login(email, expect_route="/feed")

    short_expiry_stack.stop_process("transaction")
    try:
        short_shop.go("#/orders")
        alert = page.locator("[role=alert]")
        expect(alert).to_contain_text("Service temporarily unavailable")
        expect(alert).to_contain_text("Nothing was charged or ordered")
        short_shop.shoot("01-orders")
        # Browsing the showcase keeps working meanwhile.
        short_shop.go("#/feed")
        expect(page.locator(".content-card").first).to_be_visible()
    finally:
        short_expiry_stack.start_process("transaction")

    short_shop.assert_stayed_on_origin()
