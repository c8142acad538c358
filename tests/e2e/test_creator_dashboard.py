"""Creators' commission in a real browser (DESIGN.md §11): the seller adds a product with a
commission rate in the product form, a creator's video tags it, a buyer buys it from the
video's page (the cart says "from <creator>'s video"), pays in the sandbox; the seller
ships, the buyer confirms receipt, and the creator's dashboard shows the commission as
available and per content."""

from __future__ import annotations

import re
import uuid

from browser_support import expect

from tools.shopper import ADDRESS

SELLER = "seller@etalase.test"
PRICE = 123_457
RATE_PERCENT = "12.5"
COMMISSION = PRICE * 1250 // 10_000  # 15 432.125 -> 15 432


def _rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


def test_buy_from_a_creators_video_pays_the_creator_commission(shop, api):
    page = shop.page
    creator_name = f"Kreator {uuid.uuid4().hex[:6]}"
    creator_email, creator_token = api.register("creator", creator_name)
    buyer_email, _buyer_token = api.register("buyer", "Pembeli E2E")
    title = f"Batik komisi {uuid.uuid4().hex[:6]}"

    # 1. The seller adds the product with a commission rate in the product form.
    shop.open("#/feed")
    shop.login(SELLER, expect_route="/seller")
    form = page.get_by_role("form", name="Add a product")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Price (rupiah)").fill(str(PRICE))
    form.get_by_label("Stock").fill("5")
    form.get_by_label("Commission for creators (%)").fill(RATE_PERCENT)
    form.get_by_role("button", name="Add product").click()
    added = form.locator(".inline-ok")
    expect(added).to_contain_text("12.5 % commission")
    product_id = added.get_attribute("data-product-id")
    product = api.request("GET", f"/api/v1/products/{product_id}", expect=200).json()
    assert product["commission_rate_bps"] == 1250
    shop.logout()

    # 2. The creator's video tags it (arranged through the API).
    content = api.request("POST", "/api/v1/contents", token=creator_token, expect=201, json={
        "kind": "video", "title": f"Review {title}", "product_ids": [product_id],
        "media_url": "https://media.etalase.test/videos/e2e.mp4"}).json()

    # 3. The buyer buys it from the video's page; the cart names the creator's video.
    shop.login(buyer_email)
    shop.go(f"#/content/{content['id']}")
    row = page.locator(f'.product-row[data-product-id="{product_id}"]')
    row.get_by_role("button", name=f"Add {title} to cart").click()
    expect(row.locator(".inline-ok")).to_contain_text("Added to cart")
    page.get_by_role("link", name=re.compile(r"^Cart")).click()
    line = page.locator(f'.cart-line[data-product-id="{product_id}"]')
    expect(line.locator(".attribution")).to_have_text(f"from {creator_name}’s video")
    shop.shoot("commission-01-cart")
    page.locator(f'.shop-group[data-shop-id="{product["shop_id"]}"]').get_by_role(
        "link", name=re.compile(r"^Check out")).click()
    for name, label in (("name", "Recipient name"), ("phone", "Phone number"),
                        ("line1", "Street address"), ("city", "City"),
                        ("postal_code", "Postal code")):
        page.get_by_label(label).fill(ADDRESS[name])
    page.get_by_label("Bank transfer (virtual account)").check()
    page.get_by_role("button", name=re.compile(r"^Place order")).click()
    page.wait_for_url(re.compile(r"#/orders/[0-9a-f-]{36}$"))
    order_id = page.url.rsplit("/", 1)[-1]
    # The buyer sees which content the line came from, never the commission.
    expect(page.locator(f'.attribution[data-content-id="{content["id"]}"]')).to_be_visible()
    expect(page.locator(".attribution")).not_to_contain_text("commission")
    page.get_by_role("button", name="Pay in sandbox").click()
    expect(page.locator("#order-status")).to_contain_text("Paid — awaiting shipment",
                                                          timeout=20_000)
    shop.logout()

    # 4. The seller ships it and sees the line's commission.
    shop.login(SELLER, expect_route="/seller")
    card = page.locator(f'.to-ship[data-order-id="{order_id}"]')
    card.get_by_label("Tracking number").fill(f"JNE{order_id[:8].upper()}")
    card.get_by_role("button", name="Mark as shipped").click()
    expect(card).to_contain_text("tracking number")
    shop.go(f"#/orders/{order_id}")
    expect(page.locator(".attribution")).to_contain_text(f"commission {_rupiah(COMMISSION)}")
    shop.logout()

    # 5. The buyer confirms receipt: the order completes and the escrow settles.
    shop.login(buyer_email)
    shop.go(f"#/orders/{order_id}")
    page.get_by_role("button", name="I received my order").click()
    expect(page.locator("#order-status")).to_contain_text("Completed", timeout=20_000)
    shop.logout()

    # 6. The creator's dashboard: the commission is available, per content too.
    shop.login(creator_email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Earnings").click()
    page.wait_for_url("**#/creator")
    expect(page.locator('[data-balance="available"] .stat-value')).to_have_text(
        _rupiah(COMMISSION))
    earnings = page.locator(f'tr[data-content-id="{content["id"]}"]')
    expect(earnings).to_contain_text(f"Review {title}")
    expect(earnings.locator('[data-field="commission"]')).to_have_text(_rupiah(COMMISSION))
    shop.shoot("commission-02-creator")
    balance = api.request("GET", "/api/v1/creators/me/balance", token=creator_token,
                          expect=200).json()
    assert balance["available"] == COMMISSION and balance["pending"] == 0

    # 7. The creator withdraws part of it.
    payout = page.get_by_role("form", name="Withdraw commission")
    payout.get_by_label("Amount (rupiah)").fill("10000")
    payout.get_by_role("button", name="Withdraw").click()
    expect(payout.locator(".inline-ok")).to_contain_text("Payout of Rp 10.000 requested")
    expect(page.locator('[data-balance="available"] .stat-value')).to_have_text(
        _rupiah(COMMISSION - 10_000))
    expect(page.locator(".payouts li").first).to_contain_text("Rp 10.000")
    shop.assert_stayed_on_origin()
