"""The shopper's journey in a real browser, on one origin from the feed to the payment:
log in as the demo buyer, open content from the feed, add a tagged product to the cart,
check out, pay in the sandbox, watch the order turn paid without a reload; then the demo
seller ships it. Every request stays on the gateway's origin and the page never leaves its
URL (only the hash changes).

Screenshots of the key steps (phone 390x844 and desktop 1280x800) go to
tests/e2e/screenshots/ (git-ignored). With ETALASE_README_SCREENSHOTS=1 the journey also
refreshes docs/img/feed.png and docs/img/order-paid.png.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from browser_support import DESKTOP, expect

from tools.shopper import ADDRESS

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_IMG = REPO_ROOT / "docs" / "img"
BUYER = "buyer@etalase.test"
SELLER = "seller@etalase.test"
RUPIAH = re.compile(r"^Rp \d{1,3}(\.\d{3})*$")  # "Rp 150.000"


def _content_with_product_of(api, shop_id: str) -> tuple[dict, dict]:
    """A feed item tagging an in-stock product of `shop_id` (the demo seller's shop)."""
    cursor = None
    for _ in range(10):
        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = api.request("GET", "/api/v1/feed", params=params, expect=200).json()
        for content in page["data"]:
            for product in content["products"]:
                if product["shop_id"] == shop_id and product["stock"] >= 1:
                    return content, product
        cursor = page["next_cursor"]
        if not cursor:
            break
    raise AssertionError(f"no content in the feed tags an in-stock product of shop {shop_id}")


def _readme_screenshot(page, name: str) -> None:
    """docs/img/<name> for the README (desktop size), only with ETALASE_README_SCREENSHOTS=1.
    Reduced to a 256-colour palette when Pillow is around, to keep the repository small."""
    if os.environ.get("ETALASE_README_SCREENSHOTS") != "1":
        return
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.evaluate("document.getElementById('toast').replaceChildren()")  # no passing toast
    path = DOCS_IMG / name
    page.screenshot(path=str(path), type="png")
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def test_buyer_pays_in_the_sandbox_and_seller_ships(shop, api):
    page = shop.page
    buyer_token = api.login(BUYER)
    api.clear_cart(buyer_token)  # what earlier tests left must not join this checkout
    seller_token = api.login(SELLER)
    me = api.request("GET", "/api/v1/auth/me", token=seller_token, expect=200).json()
    seller_shop = me["shop_id"]
    content, product = _content_with_product_of(api, seller_shop)

    # 1. The feed, anonymous.
    shop.open("#/feed")
    expect(page.locator(".content-card").first).to_be_visible()
    expect(page.locator(".feed-grid .price").first).to_have_text(RUPIAH)
    shop.shoot("01-feed")
    _readme_screenshot(page, "feed.png")

    # 2. Sign in as the demo buyer (from the header), back on the feed.
    shop.login(BUYER, expect_route="/feed")
    expect(page.get_by_role("link", name="Cart")).to_be_visible()

    # 3. Open the content from the feed and add its tagged product to the cart.
    page.locator(f'a.content-link[data-content-id="{content["id"]}"]').click()
    page.wait_for_url(f"**#/content/{content['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(content["title"])
    row = page.locator(f'.product-row[data-product-id="{product["id"]}"]')
    expect(row).to_contain_text(product["title"])
    row.get_by_role("button", name=f"Add {product['title']} to cart").click()
    expect(row.locator(".inline-ok")).to_contain_text("Added to cart")
    shop.shoot("02-content")

    # 4. The cart, grouped by shop; check out the demo seller's shop.
    page.get_by_role("link", name=re.compile(r"^Cart")).click()
    page.wait_for_url("**#/cart")
    group = page.locator(f'.shop-group[data-shop-id="{seller_shop}"]')
    expect(group.locator(f'.cart-line[data-product-id="{product["id"]}"]')).to_be_visible()
    shop.shoot("03-cart")
    group.get_by_role("link", name=re.compile(r"^Check out")).click()
    page.wait_for_url(f"**#/checkout/{seller_shop}")

    # 5. Shipping address and payment method, then place the order.
    for name, label in (("name", "Recipient name"), ("phone", "Phone number"),
                        ("line1", "Street address"), ("city", "City"),
                        ("postal_code", "Postal code")):
        page.get_by_label(label).fill(ADDRESS[name])
    page.get_by_label("Bank transfer (virtual account)").check()
    shop.shoot("04-checkout")
    page.get_by_role("button", name=re.compile(r"^Place order")).click()
    page.wait_for_url(re.compile(r"#/orders/[0-9a-f-]{36}$"))
    order_id = page.url.rsplit("/", 1)[-1]

    # 6. Payment instructions: virtual account, bank, deadline; the order is unpaid.
    status = page.locator("#order-status")
    expect(status).to_contain_text("Waiting for payment")
    expect(page.locator(".va-number")).to_have_text(re.compile(r"^\d{8,}$"))
    expect(page.locator(".bank")).not_to_have_text("—")
    expect(page.locator(".deadline")).to_contain_text("Pay before")
    expect(page.locator(".order-total")).to_have_text(RUPIAH)
    shop.shoot("05-payment")

    # 7. Pay in the sandbox (same origin); the status turns paid without a reload.
    page.get_by_role("button", name="Pay in sandbox").click()
    expect(status).to_contain_text("Paid — awaiting shipment", timeout=20_000)
    expect(status.locator('[data-status="AWAITING_SHIPMENT"]').first).to_be_visible()
    expect(page.get_by_role("button", name="Pay in sandbox")).to_have_count(0)
    shop.shoot("06-paid")
    _readme_screenshot(page, "order-paid.png")
    order = api.request("GET", f"/api/v1/orders/{order_id}", token=buyer_token, expect=200).json()
    assert order["status"] == "AWAITING_SHIPMENT"
    assert [i["product_id"] for i in order["items"]] == [product["id"]]

    # 8. The buyer's order list shows it paid.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    listed = page.locator(f'.order-row[data-order-id="{order_id}"]')
    expect(listed).to_contain_text("Paid — awaiting shipment")
    shop.shoot("07-orders", phone=False)

    # 9. The demo seller ships it with a tracking number.
    shop.logout()
    shop.login(SELLER, expect_route="/seller")
    card = page.locator(f'.to-ship[data-order-id="{order_id}"]')
    expect(card).to_be_visible()
    shop.shoot("08-seller-to-ship")
    tracking = f"JNE{order_id[:8].upper()}"
    card.get_by_label("Tracking number").fill(tracking)
    card.get_by_role("button", name="Mark as shipped").click()
    expect(card).to_contain_text(f"tracking number {tracking}")
    order = api.request("GET", f"/api/v1/orders/{order_id}", token=buyer_token, expect=200).json()
    assert order["status"] == "IN_TRANSIT" and order["tracking_number"] == tracking

    # Same-document (hash) navigations are recorded too, so the check below has teeth.
    assert any(f"#/orders/{order_id}" in url for url in shop.guard.navigations)
    shop.assert_stayed_on_origin()
