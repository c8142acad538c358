"""A two-shop cart from the feed to paid in a real browser (issue 16): the buyer adds a
product of the demo seller's shop from a feed content and one of another shop from its
product page, checks the whole cart out in one go, gets one payment instruction for the
total, pays it once in the sandbox, and sees the checkout paid and the order list grouped
by checkout; each seller sees only their own order."""

from __future__ import annotations

import re
import uuid

from browser_support import expect
from test_shopper_journey import _content_with_product_of

from tools.shopper import ADDRESS

BUYER = "buyer@etalase.test"
SELLER = "seller@etalase.test"


def test_two_shop_cart_one_payment_from_feed_to_paid(shop, api):
    page = shop.page
    buyer_token = api.login(BUYER)
    api.clear_cart(buyer_token)
    seller_token = api.login(SELLER)
    seller_shop = api.request("GET", "/api/v1/auth/me", token=seller_token,
                              expect=200).json()["shop_id"]
    content, first = _content_with_product_of(api, seller_shop)
    # A second shop with a product of its own.
    _email, other_token = api.register("seller", "Toko Kedua")
    api.request("POST", "/api/v1/shops", token=other_token, expect=201,
                json={"name": f"Toko Kedua {uuid.uuid4().hex[:6]}"})
    other_token = api.login(_email)
    second = api.request("POST", "/api/v1/products", token=other_token, expect=201, json={
        "title": f"Kain tenun {uuid.uuid4().hex[:6]}", "price": 85000, "stock": 4}).json()

    shop.open("#/feed")
    shop.login(BUYER, expect_route="/feed")
    # 1. from the feed: the demo seller's product
    page.locator(f'a.content-link[data-content-id="{content["id"]}"]').click()
    row = page.locator(f'.product-row[data-product-id="{first["id"]}"]')
    row.get_by_role("button", name=f"Add {first['title']} to cart").click()
    expect(row.locator(".inline-ok")).to_contain_text("Added to cart")
    # 2. the other shop's product from its page
    shop.go(f"#/product/{second['id']}")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator(".inline-ok").first).to_be_visible()

    # 3. the cart: two shops, one checkout of everything
    shop.go("#/cart")
    expect(page.locator(".shop-group")).to_have_count(2)
    page.locator('[data-action="checkout-all"]').click()
    page.wait_for_url("**#/checkout")
    expect(page.locator("#one-payment")).to_contain_text("2 orders")
    for name, label in (("name", "Recipient name"), ("phone", "Phone number"),
                        ("line1", "Street address"), ("city", "City"),
                        ("postal_code", "Postal code")):
        page.get_by_label(label).fill(ADDRESS[name])
    page.get_by_label("Bank transfer (virtual account)").check()
    shop.shoot("multi-01-checkout")
    page.get_by_role("button", name=re.compile(r"^Place order")).click()
    page.wait_for_url(re.compile(r"#/checkouts/[0-9a-f-]{36}$"))
    checkout_id = page.url.rsplit("/", 1)[-1]

    # 4. one payment instruction for the whole total, two orders
    expect(page.locator(".va-number")).to_have_count(1)
    expect(page.locator(".va-number")).to_have_text(re.compile(r"^\d{8,}$"))
    expect(page.locator(".checkout-payment .order-row")).to_have_count(2)
    placed = api.request("GET", f"/api/v1/checkouts/{checkout_id}", token=buyer_token,
                         expect=200).json()
    assert len(placed["orders"]) == 2 and "order" not in placed
    assert placed["checkout"]["total"]["amount"] == sum(
        o["total"]["amount"] for o in placed["orders"])
    assert {o["shop_id"] for o in placed["orders"]} == {seller_shop, second["shop_id"]}
    shop.shoot("multi-02-payment")

    # 5. pay once in the sandbox: the checkout and both orders turn paid
    page.get_by_role("button", name="Pay in sandbox").click()
    expect(page.locator("#checkout-status")).to_contain_text("Paid", timeout=20_000)
    expect(page.locator('.checkout-payment .order-row[data-status="AWAITING_SHIPMENT"]')
           ).to_have_count(2, timeout=20_000)
    shop.shoot("multi-03-paid")

    # 6. the order list groups them under their checkout
    shop.go("#/orders")
    group = page.locator(f'.checkout-group[data-checkout-id="{checkout_id}"]')
    expect(group.locator(".order-row")).to_have_count(2)
    expect(group).to_contain_text("one payment")

    # 7. each seller sees only their own order
    for token in (seller_token, other_token):
        mine = api.request("GET", "/api/v1/orders", token=token, expect=200,
                           params={"role": "seller", "limit": 50}).json()["data"]
        assert len([o for o in mine if o.get("checkout_id") == checkout_id]) == 1
    shop.assert_stayed_on_origin()
