"""A refund on the order page, in a real browser: the buyer cancels a paid bank-transfer
order (the payment provider cannot refund a virtual account), the page shows the refund
waiting for a bank account, refuses a malformed account number next to its field, takes a
valid account (shown masked), and turns to "Transferred" by itself once an admin records the
transfer. A paid e-wallet order cancelled the same way is refunded by the provider.

Arranged through the API with fresh accounts and a shop of their own (no collision with
other tests on the shared stack); the page never reloads or leaves its origin.
"""

from __future__ import annotations

import time
import uuid

from browser_support import expect

from tools.shopper import ADDRESS


def _paid_order(api, method: str) -> tuple[str, dict, str]:
    """A fresh buyer (email) and their paid order of a fresh shop's product."""
    tag = uuid.uuid4().hex[:8]
    _, seller = api.register("seller", f"Penjual Refund {tag}")
    api.request("POST", "/api/v1/shops", token=seller, expect=201,
                json={"name": f"Toko Refund {tag}", "city": "Bandung"})
    product = api.request("POST", "/api/v1/products", token=seller, expect=201, json={
        "title": f"Kain Batik {tag}", "price": 175000, "stock": 3,
        "description": "Kain batik tulis.",
    }).json()
    email, buyer = api.register("buyer", f"Pembeli Refund {tag}")
    order = api.request("POST", "/api/v1/checkout", token=buyer, expect=201,
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                        json={"items": [{"product_id": product["id"], "quantity": 1}],
                              "shipping_address": ADDRESS, "payment_method": method},
                        ).json()["order"]
    api.request("POST", f"/sandbox/v2/{order['id']}/pay", expect=200, json={})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = api.request("GET", f"/api/v1/orders/{order['id']}", token=buyer, expect=200).json()
        if now["status"] == "AWAITING_SHIPMENT":
            return email, now, buyer
        time.sleep(0.3)
    raise AssertionError("the payment never reached the order")


def _cancel_in_page(page) -> None:
    page.get_by_role("button", name="Cancel order").click()
    page.get_by_role("button", name="Yes, cancel the order").click()
    expect(page.locator(".status-message")).to_have_attribute("data-status", "CANCELLED")


def test_buyer_gives_a_refund_account_and_sees_the_transfer(shop, api):
    page = shop.page
    email, order, _ = _paid_order(api, "bank_transfer")
    shop.open("#/login")
    shop.login(email, expect_route="/feed")
    shop.go(f"#/orders/{order['id']}")
    expect(page.locator(".status-message")).to_have_attribute("data-status",
                                                               "AWAITING_SHIPMENT")
    _cancel_in_page(page)

    refunds = page.locator("#refunds")
    expect(refunds.locator(".refund-row")).to_have_attribute("data-refund-status",
                                                             "awaiting_account")
    expect(refunds.locator(".refund-state")).to_contain_text("Waiting for your bank account")
    expect(refunds.locator(".refund-amount")).to_have_text("Rp 175.000")
    shop.shoot("01-refund-awaiting-account")

    # a malformed account number: the field says why, nothing is saved
    page.get_by_label("Bank").select_option("bca")
    page.get_by_label("Account number").fill("12345")
    page.get_by_label("Account holder name").fill("Sri Wahyuni")
    page.get_by_role("button", name="Send my refund here").click()
    expect(page.get_by_label("Account number")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".refund-account-form .field-error",
                        has_text="10 digits")).to_be_visible()
    expect(refunds.locator(".refund-row")).to_have_attribute("data-refund-status",
                                                             "awaiting_account")

    page.get_by_label("Account number").fill("8800112233")
    page.get_by_role("button", name="Send my refund here").click()
    row = refunds.locator(".refund-row")
    expect(row).to_have_attribute("data-refund-status", "awaiting_transfer")
    expect(row).to_contain_text("BCA ******2233 (Sri Wahyuni)")
    assert "8800112233" not in page.content()
    shop.shoot("02-refund-awaiting-transfer")

    # the admin sends the money; the page follows without a reload
    admin = api.login("admin@etalase.test")
    queue = api.request("GET", "/api/v1/admin/manual-refunds?status=awaiting_transfer&limit=100",
                        token=admin, expect=200).json()["data"]
    [task] = [t for t in queue if t["order_id"] == order["id"]]
    api.request("POST", f"/api/v1/admin/manual-refunds/{task['id']}/complete", token=admin,
                expect=200, headers={"Idempotency-Key": str(uuid.uuid4())},
                json={"transfer_reference": "BCA-E2E-0001"})
    expect(row).to_have_attribute("data-refund-status", "succeeded", timeout=20_000)
    expect(row).to_contain_text("reference BCA-E2E-0001")
    expect(page.locator(".status-message")).to_contain_text("was refunded")
    shop.shoot("03-refund-transferred")
    shop.assert_stayed_on_origin()


def test_ewallet_refund_needs_no_account(shop, api):
    page = shop.page
    email, order, _ = _paid_order(api, "ewallet")
    shop.open("#/login")
    shop.login(email, expect_route="/feed")
    shop.go(f"#/orders/{order['id']}")
    _cancel_in_page(page)
    row = page.locator("#refunds .refund-row")
    expect(row).to_have_attribute("data-refund-method", "provider")
    expect(row).to_have_attribute("data-refund-status", "succeeded", timeout=20_000)
    expect(row).to_contain_text("Refunded to your payment method")
    expect(page.locator(".refund-account-form")).to_have_count(0)
    shop.assert_stayed_on_origin()
