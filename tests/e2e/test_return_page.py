"""A return_and_refund from request to refunded, in a real browser (DESIGN.md §12): the buyer
opens a return from a delivered order, the seller approves it from their orders view, the
buyer enters the return tracking number, the seller marks the item received, and the page
follows the refund to REFUNDED by itself; the returned unit is back in stock. Then the admin's
disputes view decides a disputed return.

Arranged through the API with fresh accounts and a shop of their own; the page never reloads
or leaves its origin.
"""

from __future__ import annotations

import re
import time
import uuid

from browser_support import expect

from tools.shopper import ADDRESS


def _delivered_order(api, quantity: int = 2) -> dict:
    tag = uuid.uuid4().hex[:8]
    seller_email, seller = api.register("seller", f"Penjual Retur {tag}")
    api.request("POST", "/api/v1/shops", token=seller, expect=201,
                json={"name": f"Toko Retur {tag}", "city": "Yogyakarta"})
    seller = api.login(seller_email)  # now with the shop in the token
    product = api.request("POST", "/api/v1/products", token=seller, expect=201, json={
        "title": f"Tas Anyaman {tag}", "price": 90000, "stock": 5,
        "description": "Tas anyaman pandan.",
    }).json()
    buyer_email, buyer = api.register("buyer", f"Pembeli Retur {tag}")
    order = api.request("POST", "/api/v1/checkout", token=buyer, expect=201,
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                        json={"items": [{"product_id": product["id"], "quantity": quantity}],
                              "shipping_address": ADDRESS, "payment_method": "ewallet"},
                        ).json()["order"]
    api.request("POST", f"/sandbox/v2/{order['id']}/pay", expect=200, json={})
    deadline = time.monotonic() + 30
    while api.request("GET", f"/api/v1/orders/{order['id']}", token=buyer,
                      expect=200).json()["status"] != "AWAITING_SHIPMENT":
        assert time.monotonic() < deadline, "the payment never reached the order"
        time.sleep(0.3)
    time.sleep(1.5)  # the relay commits the reservation (the sale is final) meanwhile
    api.request("POST", f"/api/v1/orders/{order['id']}/ship", token=seller, expect=200,
                json={"tracking_number": "JNE-E2E-RET-1"})
    api.request("POST", f"/api/v1/orders/{order['id']}/deliver", token=seller, expect=200)
    return {"order": order, "product": product, "buyer_email": buyer_email,
            "buyer": buyer, "seller_email": seller_email, "seller": seller}


def _switch(shop, email: str) -> None:
    shop.logout()
    shop.login(email)


def test_return_and_refund_from_request_to_refunded(shop, api):
    page = shop.page
    arranged = _delivered_order(api)
    order, product = arranged["order"], arranged["product"]
    assert api.request("GET", f"/api/v1/products/{product['id']}").json()["stock"] == 3

    shop.open("#/login")
    shop.login(arranged["buyer_email"], expect_route="/feed")
    shop.go(f"#/orders/{order['id']}")
    expect(page.locator(".status-message")).to_have_attribute("data-status", "DELIVERED")
    form = page.locator(".open-return-form")
    form.get_by_label("What you want").select_option("return_and_refund")
    form.get_by_label("Reason").select_option("damaged")
    form.get_by_label(f"Units of {product['title']} to return").fill("1")
    form.get_by_label("What happened? (optional)").fill("The handle came off.")
    shop.shoot("01-return-form")
    page.get_by_role("button", name="Request the return").click()
    row = page.locator("#returns .return-row")
    expect(row).to_have_attribute("data-status", "REQUESTED")
    expect(row.locator(".return-value")).to_have_text("Rp 90.000")
    expect(page.locator(".open-return-form")).to_have_count(0)  # one open return at a time

    # the seller answers from their orders view
    _switch(shop, arranged["seller_email"])
    shop.go("#/seller")
    answer = page.locator(".return-row[data-return-id]").first
    expect(answer).to_have_attribute("data-status", "REQUESTED")
    answer.get_by_role("button", name="Approve the return").click()
    expect(page.locator(".return-row").first).to_have_attribute(
        "data-status", "AWAITING_BUYER_SHIPMENT")
    shop.shoot("02-seller-approved")

    # the buyer sends it back
    _switch(shop, arranged["buyer_email"])
    shop.go(f"#/orders/{order['id']}")
    row = page.locator("#returns .return-row")
    expect(row).to_have_attribute("data-status", "AWAITING_BUYER_SHIPMENT")
    row.get_by_label("Return tracking number").fill("JNE-BACK-E2E-1")
    row.get_by_role("button", name="I sent it back").click()
    expect(row).to_have_attribute("data-status", "BUYER_SHIPPED")

    # the seller receives it: the refund is asked for and the unit goes back in stock
    _switch(shop, arranged["seller_email"])
    shop.go("#/seller")
    received = page.locator(".return-row").first
    expect(received).to_have_attribute("data-status", "BUYER_SHIPPED")
    received.get_by_role("button", name="I received the item back").click()
    expect(page.locator(".return-row").first).to_have_attribute(
        "data-status", re.compile("^(REFUND_PENDING|REFUNDED)$"))

    # the buyer follows the refund without reloading
    _switch(shop, arranged["buyer_email"])
    shop.go(f"#/orders/{order['id']}")
    row = page.locator("#returns .return-row")
    expect(row).to_have_attribute("data-status", "REFUNDED", timeout=30_000)
    expect(row.locator(".return-refund")).to_have_text("Rp 90.000")
    refund = page.locator("#refunds .refund-row")
    expect(refund).to_have_attribute("data-refund-status", "succeeded", timeout=20_000)
    shop.shoot("03-return-refunded")

    deadline = time.monotonic() + 20
    while api.request("GET", f"/api/v1/products/{product['id']}").json()["stock"] != 4:
        assert time.monotonic() < deadline, "the returned unit never came back in stock"
        time.sleep(0.3)
    # and the buyer can now complete the order
    page.get_by_role("button", name="I received my order").click()
    expect(page.locator(".status-message")).to_have_attribute("data-status", "COMPLETED")
    shop.assert_stayed_on_origin()


def test_admin_decides_a_dispute_from_the_disputes_view(shop, api):
    page = shop.page
    arranged = _delivered_order(api, quantity=1)
    order, product = arranged["order"], arranged["product"]
    opened = api.request("POST", f"/api/v1/orders/{order['id']}/returns", token=arranged["buyer"],
                         expect=201, headers={"Idempotency-Key": str(uuid.uuid4())},
                         json={"type": "refund_only", "reason": "not_as_described",
                            "items": [{"product_id": product["id"], "quantity": 1}]}).json()
    api.request("POST", f"/api/v1/returns/{opened['id']}/reject", token=arranged["seller"],
                expect=200, json={"reason": "Matches the photos"})
    api.request("POST", f"/api/v1/returns/{opened['id']}/escalate", token=arranged["buyer"],
                expect=200, json={})

    shop.open("#/login")
    shop.login("admin@etalase.test")
    shop.go("#/admin/disputes")
    row = page.locator(f'.return-row[data-return-id="{opened["id"]}"]')
    expect(row).to_have_attribute("data-status", "DISPUTED")
    # disputes come first
    expect(page.locator(".return-row").first).to_have_attribute("data-status", "DISPUTED")
    row.get_by_label("Refund amount (up to Rp 90.000)").fill("60000")
    row.get_by_role("button", name="Refund the buyer").click()
    decided = page.locator(f'.return-row[data-return-id="{opened["id"]}"]')
    expect(decided).to_have_attribute("data-status", "REFUND_PENDING")
    shop.shoot("04-admin-dispute-refunded")
    deadline = time.monotonic() + 20
    while api.request("GET", f"/api/v1/returns/{opened['id']}", token=arranged["buyer"],
                      expect=200).json()["status"] != "REFUNDED":
        assert time.monotonic() < deadline, "the decided refund never arrived"
        time.sleep(0.3)
    shop.assert_stayed_on_origin()
