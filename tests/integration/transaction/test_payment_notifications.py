"""Provider notifications: signatures, dedup, ordering, amounts (DESIGN.md §7)."""

from __future__ import annotations

import random
import uuid


def _snapshot(market, order_id):
    """Everything a notification could change."""
    return {
        "order": market.one("SELECT status, updated_at, paid_at FROM orders WHERE id = %s",
                            (order_id,)),
        "payment": market.one("SELECT status, updated_at FROM payments WHERE order_id = %s",
                              (order_id,)),
        "notifications": market.rows(
            "SELECT id FROM payment_notifications WHERE order_id = %s", (order_id,)),
        "outbox": market.rows("SELECT id FROM outbox WHERE order_id = %s", (order_id,)),
        "ledger": market.ledger(order_id),
    }


def _placed_quietly(market) -> dict:
    """A placed order whose own "pending" notification from the sandbox (queued by the
    charge) has already landed, so the real notifier cannot race what a test sends by
    hand between its before and after snapshots."""
    order = market.placed()
    market.wait_for(lambda: market.rows(
        "SELECT id FROM payment_notifications WHERE order_id = %s", (order["id"],)),
        interval=0.05)
    return order


def _settle_count(market, order_id):
    return market.one(
        "SELECT count(*) AS n FROM audit_log WHERE entity = 'order' AND entity_id = %s "
        "AND action = 'order.awaiting_shipment'", (order_id,))["n"]


def test_each_notification_10_times_concurrently_and_shuffled_changes_state_once(market):
    order = market.placed()
    bodies = [market.notification(order, "settlement") for _ in range(10)]
    bodies += [market.notification(order, "pending") for _ in range(10)]
    random.shuffle(bodies)
    responses = market.concurrently([lambda b=b: market.notify(b) for b in bodies], workers=20)
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes.count("paid") == 1
    final = market.order(order["id"])
    assert final["status"] == "AWAITING_SHIPMENT"
    assert _settle_count(market, order["id"]) == 1
    assert market.ledger(order["id"]) == [{"kind": "payment_settled", "reference": order["id"]}]
    commits = [r for r in market.outbox(order["id"]) if r["kind"] == "reservation_commit"]
    assert len(commits) == 1
    stored = market.rows("SELECT transaction_status FROM payment_notifications "
                         "WHERE order_id = %s", (order["id"],))
    assert sorted(r["transaction_status"] for r in stored) == ["pending", "settlement"]


def test_sandbox_delivering_the_settlement_10_times(market):
    order = market.placed()
    assert market.pay(order["id"], deliver_times=10).status_code == 200
    market.wait_status(order["id"], "AWAITING_SHIPMENT")
    market.wait_for(lambda: (lambda ds: len(ds) >= 11 and all(
        d["state"] == "delivered" for d in ds))(_deliveries(market, order["id"])), timeout=30)
    assert _settle_count(market, order["id"]) == 1
    assert len(market.ledger(order["id"])) == 1


def _deliveries(market, order_id):
    body = market.session.get(f"{market.sandbox}/v2/{order_id}/notifications", timeout=10).json()
    return body["data"]


def test_bad_or_missing_signatures_are_401_and_change_nothing(market):
    order = _placed_quietly(market)
    before = _snapshot(market, order["id"])
    good = market.notification(order, "settlement")
    cases = [
        {**good, "signature_key": "0" * 128},
        {k: v for k, v in good.items() if k != "signature_key"},
        {**good, "signature_key": ""},
        {**good, "signature_key": market.sign(good, key="not-the-server-key")},
        {**good, "transaction_status": "settlement", "status_code": "201"},  # tampered code
    ]
    for body in cases:
        response = market.notify(body)
        assert response.status_code == 401, (body, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json")
    assert _snapshot(market, order["id"]) == before


def test_amount_mismatch_is_rejected_and_changes_nothing(market):
    order = _placed_quietly(market)
    before = _snapshot(market, order["id"])
    wrong = market.notification(order, "settlement",
                                gross=f"{order['total']['amount'] - 1}.00")
    response = market.notify(wrong)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/amount-mismatch")
    fractional = market.notification(order, "settlement",
                                     gross=f"{order['total']['amount']}.50")
    assert market.notify(fractional).status_code == 422
    assert _snapshot(market, order["id"]) == before


def test_out_of_order_and_unknown(market):
    order = _placed_quietly(market)
    assert market.notify(market.notification(order, "settlement")).json()["outcome"] == "paid"
    snapshot = _snapshot(market, order["id"])
    # The sandbox's own "pending" already landed before the settlement: a late copy of it
    # is a duplicate; the other statuses were never seen and are ignored after payment.
    late = market.notify(market.notification(order, "pending"))
    assert late.status_code == 200 and late.json()["outcome"] == "duplicate"
    for status in ("expire", "cancel", "deny"):
        late = market.notify(market.notification(order, status))
        assert late.status_code == 200 and late.json()["outcome"].startswith("ignored")
    after = _snapshot(market, order["id"])
    assert after["order"] == snapshot["order"] and after["ledger"] == snapshot["ledger"]
    # unknown provider / order / malformed
    body = market.notification(order, "settlement")
    assert market.notify(body, provider="paypal").status_code == 404
    ghost = market.notification({"id": str(uuid.uuid4()), "total": order["total"]},
                                "settlement")
    assert market.notify(ghost).status_code == 404
    not_uuid = market.notification({"id": "ORDER-1", "total": order["total"]}, "settlement")
    assert market.notify(not_uuid).status_code == 404
    missing = {k: v for k, v in body.items() if k != "transaction_id"}
    bad = market.notify(missing)
    assert bad.status_code == 422 and "transaction_id" in bad.json()["errors"]
    nul = market.notify({**body, "transaction_id": "abc\x00def"})
    assert nul.status_code == 422
    text = market.post("/api/v1/payments/notifications/sandbox", data="not json",
                       headers={"Content-Type": "application/json"})
    assert text.status_code in (400, 422)


def test_expire_notification_then_late_settlement_is_refunded(market):
    """An e-wallet payment made after the order expired: the provider refunds it, and its
    refund notification confirms that refund (once)."""
    product = market.product(stock=2)
    order = market.placed(product, method="ewallet")
    expired = market.notify(market.notification(order, "expire"))
    assert expired.status_code == 200 and expired.json()["outcome"] == "expired"
    assert market.order(order["id"])["status"] == "EXPIRED"
    market.wait_outbox_done(order["id"], "reservation_release")
    assert market.stock(product) == 2
    # The customer paid anyway (the provider's expiry raced ours): keep it, refund it.
    assert market.pay(order["id"]).status_code == 200
    outcome = market.wait_for(lambda: market.one(
        "SELECT outcome FROM payment_notifications WHERE order_id = %s "
        "AND transaction_status = 'settlement'", (order["id"],)))
    assert outcome["outcome"] == "late-payment-refund"
    refund = [r for r in market.outbox(order["id"]) if r["kind"] == "provider_refund"]
    assert len(refund) == 1 and refund[0]["payload"]["refund_key"] == f"refund-{order['id']}"
    final = market.wait_for(
        lambda: (o := market.order(order["id"]))["payment"]["status"] == "refunded" and o)
    assert final["status"] == "EXPIRED"
    # the provider's own refund notification lands too, reconciled against our refund
    notice = market.wait_for(lambda: market.one(
        "SELECT outcome FROM payment_notifications WHERE order_id = %s "
        "AND transaction_status = 'refund'", (order["id"],)))
    assert notice["outcome"] in ("refunded", "already-refunded")
    again = market.notify(market.notification(order, "refund", transaction_id="other-tx"))
    assert again.json()["outcome"] == "already-refunded"
    assert {e["kind"] for e in market.ledger(order["id"])} == {
        "payment_settled", "refund_issued"}
    [row] = market.order(order["id"])["refunds"]
    assert (row["method"], row["status"], row["amount"]["amount"]) == (
        "provider", "succeeded", int(order["total"]["amount"]))


def test_a_refund_we_never_asked_for_needs_attention(market):
    order = market.paid(market.product(stock=2), method="ewallet")
    body = market.notification(order, "partial_refund", refund_amount="1000.00",
                               refunds=[{"refund_key": "dashboard-1",
                                         "refund_amount": "1000.00"}])
    answer = market.notify(body)
    assert answer.status_code == 200 and answer.json()["outcome"] == "needs-attention"
    assert market.order(order["id"])["refunds"] == []
    assert {e["kind"] for e in market.ledger(order["id"])} == {"payment_settled"}
