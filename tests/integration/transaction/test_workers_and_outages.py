"""Workers driven with `--once`, and the other service or the provider being down.

Runs on `quiet_market`: its own stack with no background workers (so each step is
observable) and PAYMENT_EXPIRY_SECONDS=8, AUTO_DELIVER_SECONDS=1, AUTO_COMPLETE_SECONDS=1.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests


@pytest.fixture
def qm(quiet_market):
    yield quiet_market
    # whatever a test stopped comes back for the next one
    for name in ("storefront", "sandbox"):
        if not quiet_market.stack.running().get(name):
            quiet_market.stack.start_process(name)


def _relay(qm):
    return qm.run_worker("outbox-relay")


def _settle(qm, order):
    response = qm.notify(qm.notification(order, "settlement"))
    assert response.status_code == 200 and response.json()["outcome"] == "paid", response.text


def test_unpaid_order_expires_via_the_worker(qm):
    product = qm.product(stock=3)
    order = qm.placed(product)
    assert qm.stock(product) == 2
    qm.run_worker("payment-expiry")
    assert qm.order(order["id"])["status"] == "UNPAID"  # not due yet
    deadline = qm.one("SELECT payment_deadline - now() AS left FROM orders WHERE id = %s",
                      (order["id"],))["left"]
    time.sleep(max(0.0, deadline.total_seconds()) + 0.5)
    qm.run_worker("payment-expiry")
    expired = qm.order(order["id"])
    assert expired["status"] == "EXPIRED" and expired["expired_at"]
    assert expired["payment"]["status"] == "expired"
    kinds = sorted(r["kind"] for r in qm.outbox(order["id"]) if not r["processed_at"])
    assert kinds == ["provider_cancel", "reservation_release"]
    _relay(qm)
    assert all(r["processed_at"] for r in qm.outbox(order["id"]))
    assert qm.stock(product) == 3
    assert qm.ledger(order["id"]) == []


def test_payment_after_our_expiry_is_recorded_and_refunded(qm):
    order = qm.placed(method="ewallet")  # GoPay: the provider can refund it
    # Our clock says the deadline passed while the provider still takes the payment.
    qm.execute("UPDATE orders SET payment_deadline = now() - interval '1 second' "
               "WHERE id = %s", (order["id"],))
    qm.run_worker("payment-expiry")
    assert qm.order(order["id"])["status"] == "EXPIRED"
    assert qm.pay(order["id"]).status_code == 200  # the sandbox settles and queues a notice
    qm.run_worker("notifier", package="payment_sandbox", env_of="sandbox-workers")
    qm.wait_for(lambda: qm.order(order["id"])["payment"]["status"] == "refund_pending")
    _relay(qm)
    final = qm.order(order["id"])
    assert final["status"] == "EXPIRED" and final["payment"]["status"] == "refunded"
    assert {e["kind"] for e in qm.ledger(order["id"])} == {"payment_settled", "refund_issued"}
    status = requests.get(f"{qm.sandbox}/v2/{order['id']}/status",
                          auth=(qm.server_key, ""), timeout=10).json()
    assert status["transaction_status"] == "refund"


def test_late_bank_transfer_becomes_a_manual_refund(qm):
    """A VA paid after our expiry: Midtrans cannot refund it, so nothing is asked of the
    provider; the refund waits for the buyer's account and the admin's transfer."""
    order = qm.placed()
    qm.execute("UPDATE orders SET payment_deadline = now() - interval '1 second' "
               "WHERE id = %s", (order["id"],))
    qm.run_worker("payment-expiry")
    assert qm.pay(order["id"]).status_code == 200
    qm.run_worker("notifier", package="payment_sandbox", env_of="sandbox-workers")
    final = qm.wait_for(
        lambda: (o := qm.order(order["id"]))["payment"]["status"] == "refund_pending" and o)
    [refund] = final["refunds"]
    assert (refund["method"], refund["status"]) == ("manual", "awaiting_account")
    _relay(qm)
    assert not [r for r in qm.outbox(order["id"]) if r["kind"] == "provider_refund"]
    assert {e["kind"] for e in qm.ledger(order["id"])} == {
        "payment_settled", "manual_refund_owed"}


def test_a_payment_whose_notification_never_came_is_found_by_asking(qm):
    """Midtrans gives up on a notification after a few retries (a 500 once): the
    payment-expiry worker asks `GET /v2/{order_id}/status` and applies the signed answer."""
    order = qm.placed()
    assert qm.pay(order["id"]).status_code == 200  # settled at the sandbox; nobody is told
    qm.run_worker("payment-expiry", {"PAYMENT_RECONCILE_SECONDS": "0"})
    paid = qm.order(order["id"])
    assert paid["status"] == "AWAITING_SHIPMENT" and paid["payment"]["status"] == "settled"
    assert {e["kind"] for e in qm.ledger(order["id"])} == {"payment_settled"}
    # the notification arriving after all is a duplicate: nothing twice
    qm.run_worker("notifier", package="payment_sandbox", env_of="sandbox-workers")
    assert {e["kind"] for e in qm.ledger(order["id"])} == {"payment_settled"}
    outcomes = [r["outcome"] for r in qm.rows(
        "SELECT outcome FROM payment_notifications WHERE order_id = %s "
        "AND transaction_status = 'settlement'", (order["id"],))]
    assert outcomes == ["paid"]


def test_in_transit_order_is_delivered_then_auto_completes(qm):
    order = qm.placed()
    _settle(qm, order)
    shipped = qm.post(f"/api/v1/orders/{order['id']}/ship", token=qm.seller,
                      json={"tracking_number": "SICEPAT-000123"})
    assert shipped.status_code == 200, shipped.text
    time.sleep(1.5)
    qm.run_worker("auto-complete")
    delivered = qm.order(order["id"])
    # delivered now; the auto-complete counts from delivery
    assert delivered["status"] == "DELIVERED" and delivered["delivered_at"]
    time.sleep(1.5)
    qm.run_worker("auto-complete")
    done = qm.order(order["id"])
    assert done["status"] == "COMPLETED" and done["completed_at"]
    assert {e["kind"] for e in qm.ledger(order["id"])} == {"payment_settled", "order_completed"}


def test_storefront_down_checkout_503_nothing_half_done_and_lookups_work(qm):
    product = qm.product(stock=5)
    earlier = qm.placed(product)
    before = {o["id"] for o in qm.get("/api/v1/orders?limit=100", token=qm.buyer).json()["data"]}
    key = str(uuid.uuid4())
    qm.stack.stop_process("storefront")
    try:
        response = qm.checkout(product, key=key)
        assert response.status_code == 503, response.text
        assert response.headers.get("Retry-After")
        assert response.headers["Content-Type"].startswith("application/problem+json")
        # order lookups read only the marketplace database
        assert qm.order(earlier["id"])["id"] == earlier["id"]
        listed = qm.get("/api/v1/orders?limit=100", token=qm.buyer)
        assert listed.status_code == 200
        assert {o["id"] for o in listed.json()["data"]} == before
        # the attempt left an invisible cancelled order and a release to deliver later
        attempt = qm.one("SELECT id::text, status, placed_at, checkout_failure FROM orders "
                         "WHERE buyer_id = (SELECT buyer_id FROM orders WHERE id = %s) "
                         "ORDER BY created_at DESC LIMIT 1", (earlier["id"],))
        assert attempt["status"] == "CANCELLED" and attempt["placed_at"] is None
        assert attempt["checkout_failure"] == "storefront-unavailable"
        assert qm.get(f"/api/v1/orders/{attempt['id']}", token=qm.buyer).status_code == 404
        _relay(qm)  # storefront still down: retried later, not lost
        row = qm.outbox(attempt["id"])[0]
        assert row["kind"] == "reservation_release" and row["processed_at"] is None
        assert row["attempts"] == 1 and row["last_error"]
    finally:
        qm.stack.start_process("storefront")
    qm.execute("UPDATE outbox SET next_attempt_at = now() WHERE order_id = %s",
               (attempt["id"],))
    _relay(qm)
    assert qm.outbox(attempt["id"])[0]["processed_at"] is not None
    assert qm.stock(product) == 4  # only `earlier` holds stock
    # the key was not consumed by the 503: the retry goes through
    retry = qm.checkout(product, key=key)
    assert retry.status_code == 201, retry.text


def test_provider_down_checkout_503_and_reservation_released(qm):
    product = qm.product(stock=2)
    qm.stack.stop_process("sandbox")
    try:
        response = qm.checkout(product)
        assert response.status_code == 503, response.text
        assert response.json()["type"].endswith("/payment-provider-unavailable")
        assert response.headers.get("Retry-After")
        attempt = qm.one("SELECT o.id::text, o.status, o.placed_at FROM orders o JOIN "
                         "order_items i ON i.order_id = o.id WHERE i.product_id = %s",
                         (product,))
        assert attempt["status"] == "CANCELLED" and attempt["placed_at"] is None
        _relay(qm)  # the release goes through; the provider cancel waits for the provider
        assert qm.stock(product) == 2
        pending = [r for r in qm.outbox(attempt["id"]) if not r["processed_at"]]
        assert [r["kind"] for r in pending] == ["provider_cancel"]
    finally:
        qm.stack.start_process("sandbox")
    qm.execute("UPDATE outbox SET next_attempt_at = now() WHERE order_id = %s",
               (attempt["id"],))
    _relay(qm)
    assert all(r["processed_at"] for r in qm.outbox(attempt["id"]))


def test_commit_after_release_is_a_recorded_conflict(qm):
    order = qm.placed()
    internal = requests.post(
        f"{qm.stack.urls.storefront}/internal/reservations/{order['id']}/release",
        headers={"X-Internal-Token": qm.stack.secrets["internal_token"]}, timeout=10)
    assert internal.status_code == 200, internal.text
    _settle(qm, order)
    _relay(qm)
    commit = next(r for r in qm.outbox(order["id"]) if r["kind"] == "reservation_commit")
    assert commit["outcome"] == "conflict" and commit["processed_at"]
    assert "409" in commit["last_error"]
    audit = qm.rows("SELECT action FROM audit_log WHERE entity_id = %s AND "
                    "action = 'outbox.conflict'", (order["id"],))
    assert len(audit) == 1
    _relay(qm)  # not retried
    assert qm.one("SELECT attempts FROM outbox WHERE id = %s", (commit["id"],))["attempts"] == 1


def test_abandoned_checkout_is_cleaned_up(qm):
    me = qm.get("/api/v1/auth/me", token=qm.buyer).json()
    row = qm.one(
        "INSERT INTO orders (buyer_id, payment_method, shipping_address, created_at) "
        "VALUES (%s, 'bank_transfer', '{}', now() - interval '1 hour') RETURNING id::text",
        (me["id"],))
    qm.run_worker("payment-expiry")
    order = qm.one("SELECT status, checkout_failure FROM orders WHERE id = %s", (row["id"],))
    assert order == {"status": "CANCELLED", "checkout_failure": "abandoned"}
    assert sorted(r["kind"] for r in qm.outbox(row["id"])) == [
        "provider_cancel", "reservation_release"]
    _relay(qm)
    assert all(r["processed_at"] for r in qm.outbox(row["id"]))
