"""Signed notifications delivered by the real notifier processes to a real receiver."""

import time

import pytest

from payment_sandbox.domain.signature import verify_signature

pytestmark = pytest.mark.integration

NOTIFICATION_FIELDS = {
    "order_id", "transaction_id", "transaction_status", "status_code", "gross_amount",
    "payment_type", "fraud_status", "transaction_time", "signature_key",
}



def by_status(records, status):
    return [r for r in records if r["body"]["transaction_status"] == status]


def test_charge_queues_a_signed_pending_notification(sandbox, receiver, order_id):
    created = sandbox.charge(order_id, 75000, payment_type="gopay").json()
    [record] = receiver.wait_for(order_id, lambda rs: len(rs) >= 1)
    body = record["body"]
    assert NOTIFICATION_FIELDS <= body.keys()
    assert body["transaction_status"] == "pending"
    assert body["status_code"] == "201"
    assert body["gross_amount"] == "75000.00"
    assert body["transaction_id"] == created["transaction_id"]
    assert verify_signature(body, sandbox.server_key)
    assert record["headers"]["Content-Type"] == "application/json"
    assert record["path"] == "/api/v1/payments/notifications/sandbox"


def test_pay_delivers_a_settlement_notification_with_a_valid_signature(
    sandbox, receiver, order_id, expected_signature
):
    sandbox.charge(order_id, 150000)
    paid = sandbox.pay(order_id)
    assert paid.status_code == 200, paid.text
    assert paid.json()["transaction_status"] == "settlement"
    assert paid.json()["status_code"] == "200"

    records = receiver.wait_for(order_id, lambda rs: by_status(rs, "settlement"))
    [settlement] = by_status(records, "settlement")
    body = settlement["body"]
    assert body["status_code"] == "200"
    assert body["gross_amount"] == "150000.00"
    assert body["payment_type"] == "bank_transfer"
    assert body["fraud_status"] == "accept"
    assert body["settlement_time"]
    assert body["signature_key"] == expected_signature(
        order_id, "200", "150000.00", sandbox.server_key
    )
    assert not verify_signature(body, "another-key")
    assert settlement["headers"]["X-Request-ID"]

    # paying again: 200, same state, no new notification
    again = sandbox.pay(order_id, deliver_times=3)
    assert again.status_code == 200
    assert again.json()["transaction_status"] == "settlement"
    assert [d["transaction_status"] for d in sandbox.deliveries(order_id)] == [
        "pending", "settlement"]


def test_non_2xx_answers_are_retried_on_the_schedule(sandbox, receiver, order_id):
    receiver.fail(order_id, "settlement", 2, answer=503)  # Midtrans retries a 503 4 times
    sandbox.charge(order_id)
    sandbox.pay(order_id)
    receiver.wait_for(order_id, lambda rs: by_status(rs, "settlement"), timeout=15)
    attempts = by_status(receiver.for_order(order_id, delivered_only=False), "settlement")
    assert [a["answered"] for a in attempts] == [503, 503, 200]
    # the same delivery (same request id) was retried, after growing delays
    assert len({a["headers"]["X-Request-ID"] for a in attempts}) == 1
    gaps = [b["at"] - a["at"] for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.2 * 0.9 and gaps[1] >= 0.5 * 0.9, gaps

    [delivery] = [
        d for d in sandbox.deliveries(order_id) if d["transaction_status"] == "settlement"
    ]
    assert delivery["state"] == "delivered"
    assert delivery["attempts"] == 3
    assert [a["response_status"] for a in delivery["attempt_log"]] == [503, 503, 200]
    assert delivery["last_response_status"] == 200


def test_exhausted_schedule_marks_failed_and_resend_delivers(
    sandbox, receiver, order_id, wait_until
):
    # 1 attempt + 3 retries (schedule 0.2, 0.5, 1: shorter than Midtrans' 5) all failing
    receiver.fail(order_id, "settlement", 4, answer=502)
    sandbox.charge(order_id)
    sandbox.pay(order_id)

    def settlement_failed():
        deliveries = [d for d in sandbox.deliveries(order_id)
                      if d["transaction_status"] == "settlement"]
        return deliveries and deliveries[0]["state"] == "failed" and deliveries[0]

    delivery = wait_until(settlement_failed, timeout=15)
    assert delivery["attempts"] == 4 == delivery["max_attempts"]
    assert delivery["last_response_status"] == 502
    assert not by_status(receiver.for_order(order_id), "settlement")

    resent = sandbox.resend(order_id)
    assert resent["queued"] == 2  # the pending and the settlement notifications
    records = receiver.wait_for(order_id, lambda rs: by_status(rs, "settlement"))
    assert verify_signature(by_status(records, "settlement")[0]["body"], sandbox.server_key)


@pytest.mark.parametrize(("answer", "attempts"), [(500, 2), (404, 3), (301, 1)])
def test_what_is_retried_depends_on_the_answer(
    sandbox, receiver, order_id, wait_until, answer, attempts
):
    """Midtrans: a 500 is retried once, 400/404 twice, a 301/302/303 never."""
    receiver.fail(order_id, "settlement", 10, answer=answer)
    sandbox.charge(order_id)
    sandbox.pay(order_id)

    def settlement_failed():
        deliveries = [d for d in sandbox.deliveries(order_id)
                      if d["transaction_status"] == "settlement"]
        return deliveries and deliveries[0]["state"] == "failed" and deliveries[0]

    delivery = wait_until(settlement_failed, timeout=15)
    assert delivery["attempts"] == attempts
    assert [a["response_status"] for a in delivery["attempt_log"]] == [answer] * attempts
    sent = by_status(receiver.for_order(order_id, delivered_only=False), "settlement")
    assert len(sent) == attempts


def test_307_is_followed_with_the_same_post(sandbox, receiver, order_id):
    receiver.fail(order_id, "settlement", 1, answer=307)
    sandbox.charge(order_id)
    sandbox.pay(order_id)
    records = receiver.wait_for(order_id, lambda rs: by_status(rs, "settlement"))
    [delivered] = by_status(records, "settlement")
    assert delivered["path"] == "/moved"
    sent = by_status(receiver.for_order(order_id, delivered_only=False), "settlement")
    assert [r["answered"] for r in sent] == [307, 200]
    assert sent[0]["body"] == sent[1]["body"]
    [delivery] = [d for d in sandbox.deliveries(order_id)
                  if d["transaction_status"] == "settlement"]
    assert delivery["attempts"] == 1 and delivery["state"] == "delivered"


def test_deliver_times_sends_duplicate_settlements(sandbox, receiver, order_id):
    sandbox.charge(order_id)
    assert sandbox.pay(order_id, deliver_times=3).status_code == 200
    records = receiver.wait_for(order_id, lambda rs: len(by_status(rs, "settlement")) >= 3)
    time.sleep(0.5)  # and no more than that
    settlements = by_status(receiver.for_order(order_id), "settlement")
    assert len(settlements) == 3
    bodies = [s["body"] for s in settlements]
    assert all(b == bodies[0] for b in bodies)  # true duplicates
    assert all(verify_signature(b, sandbox.server_key) for b in bodies)
    # each duplicate is its own delivery with its own request id; none was sent twice
    assert len({s["headers"]["X-Request-ID"] for s in settlements}) == 3
    assert all(d["attempts"] == 1 for d in sandbox.deliveries(order_id))
    assert len(records) >= 3


def test_stale_pending_arrives_after_the_settlement(sandbox, receiver, order_id):
    sandbox.charge(order_id)
    # let the charge's own pending notification go first
    receiver.wait_for(order_id, lambda rs: by_status(rs, "pending"))
    receiver.fail(order_id, "settlement", 1)  # even with a retry, the stale one waits
    sandbox.pay(order_id, stale_pending_after=True)
    records = receiver.wait_for(order_id, lambda rs: len(by_status(rs, "pending")) >= 2,
                                timeout=15)
    statuses = [r["body"]["transaction_status"] for r in records]
    assert statuses == ["pending", "settlement", "pending"]
    stale = records[-1]["body"]
    assert stale["status_code"] == "201"
    assert verify_signature(stale, sandbox.server_key)
    kinds = [d["kind"] for d in sandbox.deliveries(order_id)]
    assert kinds == ["event", "event", "stale"]


def test_resend_requeues_every_notification_in_shuffled_order(sandbox, receiver, order_id):
    sandbox.charge(order_id, 50000, payment_type="gopay")
    sandbox.pay(order_id)
    sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "r-1", "amount": 1000})
    receiver.wait_for(order_id, lambda rs: len(rs) >= 3)

    seen_orders = set()
    for _ in range(8):
        before = len(receiver.for_order(order_id))
        resent = sandbox.resend(order_id)
        assert resent["queued"] == 3
        records = receiver.wait_for(order_id, lambda rs, n=before: len(rs) >= n + 3)
        batch = [r["body"]["transaction_status"] for r in records[before:before + 3]]
        assert sorted(batch) == ["partial_refund", "pending", "settlement"]
        seen_orders.add(tuple(batch))
        if len(seen_orders) > 1:
            break
    assert len(seen_orders) > 1, "resend never changed the order in 8 tries"
    originals = [d for d in sandbox.deliveries(order_id) if d["resend_of"] is None]
    assert len(originals) == 3


def test_unpaid_transaction_expires_and_is_notified(sandbox, receiver, order_id):
    created = sandbox.charge(
        order_id, 20000, payment_type="qris",
        custom_expiry={"expiry_duration": 1, "unit": "second"},
    )
    assert created.status_code == 201
    # no request touches it: the notifier's sweep expires it
    records = receiver.wait_for(order_id, lambda rs: by_status(rs, "expire"), timeout=10)
    [expired] = by_status(records, "expire")
    assert expired["body"]["status_code"] == "202"
    assert verify_signature(expired["body"], sandbox.server_key)
    assert sandbox.get(f"/v2/{order_id}/status").json()["transaction_status"] == "expire"
    assert sandbox.pay(order_id).status_code == 409
    assert sandbox.post(f"/v2/{order_id}/cancel").status_code == 412


def test_expiry_is_also_applied_lazily_on_access(sandbox, receiver, order_id):
    sandbox.charge(order_id, 20000, payment_type="gopay",
                   custom_expiry={"expiry_duration": 1, "unit": "second"})
    time.sleep(1.05)
    response = sandbox.pay(order_id)  # may race the sweep; either way it is expired
    assert response.status_code == 409
    assert response.json()["detail"].startswith("The transaction is expire")
    records = receiver.wait_for(order_id, lambda rs: by_status(rs, "expire"))
    assert len(by_status(records, "expire")) == 1
