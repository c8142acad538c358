"""Whole journeys through the gateway with the real storefront, sandbox and workers."""

from __future__ import annotations

import uuid

import requests


def test_checkout_pay_ship_confirm(market):
    product = market.product(stock=5, price=125000)
    response = market.checkout([{"product_id": product, "quantity": 2}])
    assert response.status_code == 201, response.text
    body = response.json()
    order, payment = body["order"], body["payment"]
    assert order["status"] == "UNPAID"
    assert order["total"] == {"amount": 250000, "currency": "IDR"}
    assert order["items"] == [{
        "product_id": product, "title": order["items"][0]["title"], "quantity": 2,
        "unit_price": {"amount": 125000, "currency": "IDR"},
        "line_total": {"amount": 250000, "currency": "IDR"},
        "attribution": None,  # bought from no creator's content
    }]
    assert payment["method"] == "bank_transfer" and payment["bank"] == "bca"
    assert payment["va_number"] and payment["expires_at"]
    assert market.stock(product) == 3  # reserved

    assert market.pay(order["id"]).status_code == 200
    paid = market.wait_status(order["id"], "AWAITING_SHIPMENT")
    assert paid["paid_at"] and paid["payment"]["status"] == "settled"
    assert market.ledger(order["id"]) == [{"kind": "payment_settled", "reference": order["id"]}]
    commit = market.wait_outbox_done(order["id"], "reservation_commit")
    assert commit["outcome"] == "done"

    # the seller sees it in the shop's list; another seller does not
    listed = market.get("/api/v1/orders?role=seller", token=market.seller).json()["data"]
    assert order["id"] in [o["id"] for o in listed]
    assert market.get(f"/api/v1/orders/{order['id']}", token=market.other_seller
                      ).status_code == 404

    # confirming before shipping is an illegal transition
    early = market.post(f"/api/v1/orders/{order['id']}/confirm-receipt", token=market.buyer)
    assert early.status_code == 409
    assert early.json()["type"].endswith("/illegal-transition")

    shipped = market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                          json={"tracking_number": "JNE-1234567890"})
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "IN_TRANSIT"
    assert shipped.json()["tracking_number"] == "JNE-1234567890"
    again = market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                        json={"tracking_number": "JNE-1234567890"})
    assert again.status_code == 409

    cancel = market.post(f"/api/v1/orders/{order['id']}/cancel", token=market.buyer,
                         key=str(uuid.uuid4()))
    assert cancel.status_code == 409  # too late once shipped

    done = market.post(f"/api/v1/orders/{order['id']}/confirm-receipt", token=market.buyer)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "COMPLETED" and done.json()["completed_at"]
    assert {e["kind"] for e in market.ledger(order["id"])} == {
        "payment_settled", "order_completed"}
    verify = market.get("/api/v1/admin/audit/verify", token=market.admin)
    assert verify.status_code == 200 and verify.json().get("ok") is True, verify.text


def test_ewallet_checkout_gives_a_deeplink(market):
    response = market.checkout(market.product(), method="ewallet")
    assert response.status_code == 201, response.text
    payment = response.json()["payment"]
    assert payment["method"] == "ewallet" and payment["deeplink"]
    assert payment["va_number"] is None


def test_cancel_unpaid_releases_the_stock_and_the_virtual_account(market):
    product = market.product(stock=4)
    order = market.placed(product)
    assert market.stock(product) == 3
    key = str(uuid.uuid4())
    response = market.post(f"/api/v1/orders/{order['id']}/cancel", token=market.buyer, key=key)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CANCELLED" and response.json()["cancelled_at"]
    replay = market.post(f"/api/v1/orders/{order['id']}/cancel", token=market.buyer, key=key)
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == response.json()
    market.wait_outbox_done(order["id"], "reservation_release")
    market.wait_outbox_done(order["id"], "provider_cancel")
    assert market.stock(product) == 4
    # paying a cancelled transaction is refused by the provider
    assert market.pay(order["id"]).status_code == 409
    assert market.ledger(order["id"]) == []


def test_cancel_paid_refunds_through_the_provider(market):
    """An e-wallet (GoPay) payment: the provider refunds it."""
    product = market.product(stock=3, price=99000)
    order = market.paid(product, method="ewallet")
    response = market.post(f"/api/v1/orders/{order['id']}/cancel", token=market.buyer,
                           key=str(uuid.uuid4()))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CANCELLED"
    assert response.json()["payment"]["status"] in ("refund_pending", "refunded")
    refund = market.wait_outbox_done(order["id"], "provider_refund")
    assert refund["outcome"] in ("done", "superseded")
    refunded = market.wait_for(
        lambda: market.order(order["id"])["payment"]["status"] == "refunded")
    assert refunded
    assert {e["kind"] for e in market.ledger(order["id"])} == {
        "payment_settled", "refund_issued"}
    status = requests.get(f"{market.sandbox}/v2/{order['id']}/status",
                          auth=(market.server_key, ""), timeout=10).json()
    assert status["transaction_status"] == "refund"
    # The refund notification and the relay's refund both landed: still one refund.
    rows = market.rows("SELECT count(*) AS n, sum(l.amount) AS escrow FROM journal_entries e "
                       "JOIN journal_lines l ON l.entry_id = e.id AND l.account = 'escrow' "
                       "WHERE kind = 'refund_issued' AND reference LIKE %s",
                       (f"{order['id']}:%",))
    assert (rows[0]["n"], rows[0]["escrow"]) == (1, 99000)
    [refund] = market.order(order["id"])["refunds"]
    assert (refund["method"], refund["status"], refund["amount"]["amount"]) == (
        "provider", "succeeded", 99000)


def test_cancel_paid_after_the_commit_puts_the_stock_back_on_the_showcase(market):
    product = market.product(stock=6, price=87000)
    before = market.stock(product)
    response = market.checkout([{"product_id": product, "quantity": 2}], method="ewallet")
    assert response.status_code == 201, response.text
    order_id = response.json()["order"]["id"]
    assert market.pay(order_id).status_code == 200
    market.wait_status(order_id, "AWAITING_SHIPMENT")
    # the relay delivered the commit: the sale is final on the showcase
    assert market.wait_outbox_done(order_id, "reservation_commit")["outcome"] == "done"
    assert market.wait_for(
        lambda: (market.reservation(order_id) or {}).get("status") == "committed")
    assert market.stock(product) == before - 2

    cancel = market.post(f"/api/v1/orders/{order_id}/cancel", token=market.buyer,
                         key=str(uuid.uuid4()))
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "CANCELLED"

    # release is refused (committed), so the relay restocks
    returned = market.wait_outbox_done(order_id, "reservation_return")
    assert (returned["outcome"], returned["last_error"]) == ("done", "restocked")
    reservation = market.reservation(order_id)
    assert reservation["status"] == "restocked" and reservation["restocked_at"]
    assert market.stock(product) == before
    assert market.wait_for(
        lambda: market.order(order_id)["payment"]["status"] == "refunded")
    assert market.order(order_id)["status"] == "CANCELLED"
    assert {e["kind"] for e in market.ledger(order_id)} == {"payment_settled", "refund_issued"}
    # nothing left for the relay, nothing refused
    assert market.wait_for(lambda: all(r["processed_at"] for r in market.outbox(order_id)))
    assert all(r["outcome"] in ("done", "superseded") for r in market.outbox(order_id)), \
        market.outbox(order_id)
    assert market.stock(product) == before  # exactly once


def test_order_lists_are_per_role_and_paginated(market):
    other = market.new_buyer()
    product = market.product(stock=10)
    mine = [market.placed(product)["id"] for _ in range(3)]
    theirs = market.placed(product, token=other)["id"]

    seen, cursor = [], None
    while True:
        query = "/api/v1/orders?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = market.get(query, token=other)
        assert page.status_code == 200, page.text
        seen += [o["id"] for o in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [theirs]

    listed = market.get("/api/v1/orders?limit=100&status=UNPAID", token=market.buyer).json()
    ids = [o["id"] for o in listed["data"]]
    assert set(mine) <= set(ids) and theirs not in ids
    assert all(o["status"] == "UNPAID" for o in listed["data"])

    assert market.get(f"/api/v1/orders/{theirs}", token=market.buyer).status_code == 404
    assert market.get(f"/api/v1/orders/{theirs}", token=market.admin).status_code == 200
    assert market.get("/api/v1/orders?role=seller", token=market.buyer).status_code == 403
    assert market.get("/api/v1/orders?cursor=nonsense", token=market.buyer).status_code == 422
    assert market.get("/api/v1/orders?status=LOST", token=market.buyer).status_code == 422
    assert market.get("/api/v1/orders", token=None).status_code == 401


def test_roles_on_order_actions(market):
    order = market.paid()
    other_buyer = market.new_buyer()
    path = f"/api/v1/orders/{order['id']}"
    # not visible -> 404, visible but wrong role -> 403
    assert market.post(f"{path}/cancel", token=other_buyer,
                       key=str(uuid.uuid4())).status_code == 404
    assert market.post(f"{path}/ship", token=market.other_seller,
                       json={"tracking_number": "ABC123"}).status_code == 404
    assert market.post(f"{path}/ship", token=market.buyer,
                       json={"tracking_number": "ABC123"}).status_code == 403
    assert market.post(f"{path}/confirm-receipt", token=market.seller).status_code == 403
    assert market.get(f"/api/v1/orders/{uuid.uuid4()}", token=market.buyer).status_code == 404
    assert market.get("/api/v1/orders/not-a-uuid", token=market.buyer).status_code == 404
