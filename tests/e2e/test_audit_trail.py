"""The order page offers the order's audit trail (DESIGN.md §9): a buyer opens their paid
order, asks for the trail, and the page checks each entry's RFC 9162 inclusion proof in
the browser against the witnessed checkpoint; another buyer cannot see it."""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import expect

from tools.shopper import ADDRESS


def _paid_order(api, stack) -> tuple[str, str, dict]:
    email, buyer = api.register("buyer", "Audit Trail Buyer")
    seller = api.login("seller@etalase.test")
    product = api.request("POST", "/api/v1/products", token=seller, expect=201, json={
        "title": f"Audit batik {uuid.uuid4().hex[:6]}", "price": 120000, "stock": 2}).json()
    order = api.request("POST", "/api/v1/checkout", token=buyer, expect=201,
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                        json={"items": [{"product_id": product["id"], "quantity": 1}],
                              "shipping_address": ADDRESS,
                              "payment_method": "bank_transfer"}).json()["order"]
    api.request("POST", f"/sandbox/v2/{order['id']}/pay", expect=200, json={})
    deadline = time.monotonic() + 30
    while api.request("GET", f"/api/v1/orders/{order['id']}", token=buyer).json()[
            "status"] != "AWAITING_SHIPMENT":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return email, buyer, order


def test_buyer_checks_the_orders_audit_trail_in_the_page(shop, api, stack):
    email, buyer, order = _paid_order(api, stack)
    page = shop.page
    shop.open("#/feed")
    shop.login(email)
    shop.go(f"#/orders/{order['id']}")
    section = page.locator("section.audit")
    expect(section.get_by_role("heading", name="Audit trail")).to_be_visible()
    # The log checkpoints every few seconds: ask until both entries are in one.
    deadline = time.monotonic() + 45
    while True:
        section.get_by_role("button", name="Show audit trail").click()
        expect(section.locator(".audit-entry").first).to_be_visible()
        if section.locator(".audit-pending").count() == 0:
            break
        assert time.monotonic() < deadline, section.inner_text()
        page.wait_for_timeout(1000)
    entries = section.locator(".audit-entry")
    count = entries.count()
    assert count >= 2
    expect(section.locator('.audit-entry[data-action="order.placed"]')).to_contain_text(
        "Order placed")
    expect(section.locator('.audit-entry[data-action="order.awaiting_shipment"]')
           ).to_contain_text("Payment received")
    expect(section.locator('[data-verified="true"]')).to_have_count(count)
    expect(section.locator(".audit-checkpoint")).to_contain_text("etalase.test/showcase/witness")
    shop.shoot("audit-trail", phone=False)
    shop.assert_stayed_on_origin()

    # Another buyer gets the order page's not-found, and the trail's API answers 404.
    _, other = api.register("buyer", "Someone Else")
    api.request("GET", f"/api/v1/orders/{order['id']}/audit", token=other, expect=404)
