"""The seller's webhook settings in a real browser: register an endpoint (a real receiver on
loopback), see its secret once, send a test event, watch the delivery arrive in the log,
and check the receiver verified it with that secret (standardwebhooks); then delete it."""

from __future__ import annotations

import re

from browser_support import expect

from tools.webhook_receiver import Receiver

SELLER = "seller@etalase.test"


def test_seller_registers_an_endpoint_and_sends_a_test(shop, api):
    page = shop.page
    receiver = Receiver().start()
    try:
        shop.open("#/feed")
        shop.login(SELLER, expect_route="/seller")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
        page.wait_for_url("**#/seller/webhooks")
        expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")

        # A bad URL is a clear problem, not a broken page.
        page.get_by_label("Endpoint URL").fill("ftp://example.com/hooks")
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.locator(".endpoint-form + div .notice-error")).to_be_visible()

        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_label("Description").fill("e2e receiver")
        page.get_by_role("button", name="Add endpoint").click()
        secret_box = page.locator(".secret-once code.secret")
        expect(secret_box).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$"))
        secret = secret_box.inner_text()
        receiver.secrets = [secret]
        card = page.locator(".endpoint", has_text=receiver.url).first
        expect(card).to_be_visible()
        endpoint_id = card.get_attribute("data-endpoint-id")
        shop.shoot("01-endpoint-added")

        # The list (a fresh load) shows it, never the secret again.
        shop.go("#/seller")
        page.wait_for_url("**#/seller")
        shop.go("#/seller/webhooks")
        card = page.locator(f'.endpoint[data-endpoint-id="{endpoint_id}"]')
        expect(card).to_contain_text("e2e receiver")
        expect(page.locator(".secret-once")).to_have_count(0)
        assert secret not in page.content()

        card.get_by_role("button", name="Send test event").click()
        expect(card.locator(".inline-ok")).to_contain_text("Test event queued")
        delivered = card.locator('.delivery-row[data-status="delivered"]')
        for _ in range(20):
            if delivered.count():
                break
            card.get_by_role("button", name="Refresh deliveries").click()
            page.wait_for_timeout(500)
        expect(delivered.first).to_contain_text("webhook.test")
        expect(delivered.first.locator(".delivery-outcome")).to_contain_text("HTTP 204")
        shop.shoot("02-test-delivered")

        tests = receiver.of_type("webhook.test")
        assert tests and all(r.verified for r in tests), [r.error for r in tests]
        assert tests[0].event["data"]["endpoint_id"] == endpoint_id

        card.get_by_role("button", name="Delete").click()
        expect(card).to_have_count(0)
        token = api.login(SELLER)
        api.request("GET", f"/api/v1/webhooks/endpoints/{endpoint_id}", token=token, expect=404)
        shop.assert_stayed_on_origin()
    finally:
        receiver.stop()
