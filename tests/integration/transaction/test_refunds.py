"""Refunds end to end on the real stack and the strict (Midtrans-faithful) sandbox: a paid
bank transfer cancelled before shipping becomes a manual refund an admin transfers; an
e-wallet payment is refunded by the provider, in part or whole, each refund with its own
key, reconciled with the provider's partial_refund/refund notifications; the ledger moves
exactly the refunded amounts, Σ = 0 and escrow = paid-unsettled throughout."""

from __future__ import annotations

import uuid

import psycopg2
import psycopg2.extras
import pytest
import requests

PROBLEM = "application/problem+json"
ACCOUNT = {"bank": "bca", "account_number": "4455667788", "account_name": "Budi Santoso"}


def problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM), response.headers
    return response.json()


def money_state(market, order_id: str) -> dict:
    """Everything a refund could move, to prove a refused request moved nothing."""
    return {
        "refunds": market.rows("SELECT id, status, amount, destination_account_number, "
                               "transfer_reference FROM refunds WHERE order_id = %s "
                               "ORDER BY id", (order_id,)),
        "payment": market.one("SELECT status, refunded_amount FROM payments "
                              "WHERE order_id = %s", (order_id,)),
        "ledger": market.ledger(order_id),
        "outbox": len(market.outbox(order_id)),
    }


def ledger_check(market) -> list[str]:
    response = market.get("/api/v1/admin/ledger/check", token=market.admin)
    assert response.status_code == 200, response.text
    return response.json()["violations"]


def account_sum(market, account: str, like: str) -> int:
    row = market.one(
        "SELECT coalesce(sum(l.amount), 0) AS total FROM journal_lines l "
        "JOIN journal_entries e ON e.id = l.entry_id "
        "WHERE l.account = %s AND (e.reference = %s OR e.reference LIKE %s)",
        (account, like, f"{like}:%"),
    )
    return int(row["total"])


def audit_actions(market, order_id: str) -> list[str]:
    return [r["action"] for r in market.rows(
        "SELECT action FROM audit_log WHERE entity = 'order' AND entity_id = %s ORDER BY seq",
        (order_id,))]


def cancel(market, order_id: str, token: str | None = None):
    return market.post(f"/api/v1/orders/{order_id}/cancel", token=token or market.buyer,
                       key=str(uuid.uuid4()))


def admin_refund(market, order_id: str, key: str | None = None, **body):
    body.setdefault("reason", "partial refund")
    return market.post(f"/api/v1/admin/orders/{order_id}/refunds", token=market.admin,
                       key=key or str(uuid.uuid4()), json=body)


def provider_status(market, order_id: str) -> dict:
    return requests.get(f"{market.sandbox}/v2/{order_id}/status",
                        auth=(market.server_key, ""), timeout=10).json()


# --- manual refunds (bank transfer) -----------------------------------------------------


def test_paid_bank_transfer_cancelled_ends_with_the_buyers_manual_refund(market):
    order = market.paid(market.product(stock=3, price=120000))
    order_id = order["id"]
    response = cancel(market, order_id)
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["payment"]["status"] == "refund_pending"
    [refund] = cancelled["refunds"]
    assert (refund["method"], refund["status"], refund["amount"]["amount"]) == (
        "manual", "awaiting_account", 120000)
    assert refund["account"] is None
    # the provider was never asked (Midtrans cannot refund a VA) and the money left escrow
    assert not [r for r in market.outbox(order_id) if r["kind"] == "provider_refund"]
    assert provider_status(market, order_id)["transaction_status"] == "settlement"
    assert account_sum(market, "escrow", order_id) == 0
    assert account_sum(market, "manual_refunds_payable", order_id) == -120000
    assert ledger_check(market) == []

    # a malformed account is a 422 naming the field, nothing stored
    before = money_state(market, order_id)
    for bad, field in (({**ACCOUNT, "account_number": "12345"}, "account_number"),
                       ({**ACCOUNT, "account_number": "12345abcde"}, "account_number"),
                       ({**ACCOUNT, "bank": "nope"}, "bank"),
                       ({**ACCOUNT, "account_name": "x"}, "account_name")):
        body = problem(market.post(f"/api/v1/orders/{order_id}/refund-account",
                                   token=market.buyer, json=bad), 422)
        assert field in body["errors"], body
    assert money_state(market, order_id) == before

    given = market.post(f"/api/v1/orders/{order_id}/refund-account", token=market.buyer,
                        json=ACCOUNT)
    assert given.status_code == 200, given.text
    [refund] = given.json()["refunds"]
    assert refund["status"] == "awaiting_transfer"
    assert refund["account"] == {"bank": "bca", "account_number": "******7788",
                                 "account_name": "Budi Santoso"}
    assert "4455667788" not in given.text  # masked for the buyer
    seller_view = market.order(order_id, token=market.seller)
    assert "4455667788" not in str(seller_view)

    # the admin's queue shows it in full
    queue = market.get("/api/v1/admin/manual-refunds?status=awaiting_transfer&limit=100",
                       token=market.admin)
    assert queue.status_code == 200, queue.text
    [task] = [t for t in queue.json()["data"] if t["order_id"] == order_id]
    assert task["account"]["account_number"] == "4455667788"
    assert task["id"] == refund["id"]

    key = str(uuid.uuid4())
    done = market.post(f"/api/v1/admin/manual-refunds/{task['id']}/complete",
                       token=market.admin, key=key,
                       json={"transfer_reference": "BCA-TRF-0001"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "succeeded"
    replay = market.post(f"/api/v1/admin/manual-refunds/{task['id']}/complete",
                         token=market.admin, key=key,
                         json={"transfer_reference": "BCA-TRF-0001"})
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"

    final = market.order(order_id)
    assert final["payment"]["status"] == "refunded"
    assert final["refunds"][0]["status"] == "succeeded"
    assert final["refunded"] == {"amount": 120000, "currency": "IDR"}
    # owed at creation (order's entry), paid at completion (the refund's entry)
    assert account_sum(market, "manual_refunds_payable", order_id) == -120000
    assert account_sum(market, "manual_refunds_payable", task["id"]) == 120000
    assert account_sum(market, "provider_receivable", task["id"]) == -120000
    assert {e["kind"] for e in market.ledger(order_id)} == {
        "payment_settled", "manual_refund_owed"}
    paid_entry = market.rows("SELECT kind FROM journal_entries WHERE reference = %s",
                             (task["id"],))
    assert paid_entry == [{"kind": "manual_refund_paid"}]

    # a second completion (another key) is a 409 and moves nothing
    before = money_state(market, order_id)
    again = problem(market.post(f"/api/v1/admin/manual-refunds/{task['id']}/complete",
                                token=market.admin, key=str(uuid.uuid4()),
                                json={"transfer_reference": "BCA-TRF-0002"}), 409)
    assert again["type"].endswith("manual-refund-completed")
    assert money_state(market, order_id) == before
    # every step is audited
    actions = audit_actions(market, order_id)
    for action in ("refund.requested", "refund.account_given", "refund.completed"):
        assert action in actions, actions
    assert ledger_check(market) == []


def test_completing_a_refund_without_an_account_is_refused(market):
    order = market.paid(market.product(stock=2, price=50000))
    assert cancel(market, order["id"]).status_code == 200
    [refund] = market.order(order["id"])["refunds"]
    before = money_state(market, order["id"])
    body = problem(market.post(f"/api/v1/admin/manual-refunds/{refund['id']}/complete",
                               token=market.admin, key=str(uuid.uuid4()),
                               json={"transfer_reference": "BCA-TRF-9"}), 409)
    assert body["type"].endswith("refund-account-missing")
    assert money_state(market, order["id"]) == before
    problem(market.post(f"/api/v1/admin/manual-refunds/{uuid.uuid4()}/complete",
                        token=market.admin, key=str(uuid.uuid4()),
                        json={"transfer_reference": "BCA-TRF-9"}), 404)


def test_refund_account_without_a_manual_refund_is_409(market):
    order = market.paid(market.product(stock=2, price=50000))
    body = problem(market.post(f"/api/v1/orders/{order['id']}/refund-account",
                               token=market.buyer, json=ACCOUNT), 409)
    assert body["type"].endswith("no-manual-refund")


# --- provider refunds (e-wallet), partial and whole ----------------------------------------


def test_partial_refunds_through_the_provider_are_reconciled(market):
    order = market.paid(market.product(stock=3, price=99000), method="ewallet")
    order_id = order["id"]
    pending_before = market.get("/api/v1/sellers/me/balance",
                                token=market.seller).json()["pending"]

    first = admin_refund(market, order_id, amount=30000, reason="one item damaged")
    assert first.status_code == 201, first.text
    assert first.json()["method"] == "provider"
    market.wait_for(lambda: market.order(order_id)["payment"]["status"] == "partially_refunded")
    second = admin_refund(market, order_id, amount=20000)
    assert second.status_code == 201, second.text
    market.wait_for(lambda: all(r["status"] == "succeeded"
                                for r in market.order(order_id)["refunds"]))
    status = provider_status(market, order_id)
    assert status["transaction_status"] == "partial_refund"
    assert status["refund_amount"] == "50000.00"
    keys = {r["refund_key"] for r in status["refunds"]}
    ours = {r["refund_key"] for r in market.rows(
        "SELECT refund_key FROM refunds WHERE order_id = %s", (order_id,))}
    assert keys == ours and len(ours) == 2  # one refund_key per refund

    # both partial_refund notifications arrive (not deduplicated into one) and are ours
    def notices():
        rows = market.rows("SELECT transaction_status, refund_amount, outcome FROM "
                           "payment_notifications WHERE order_id = %s AND "
                           "transaction_status = 'partial_refund' ORDER BY refund_amount",
                           (order_id,))
        return len(rows) == 2 and rows
    rows = market.wait_for(notices)
    assert [r["refund_amount"] for r in rows] == [30000, 50000]
    assert all(r["outcome"] in ("refunded", "already-refunded") for r in rows), rows
    assert "payment.refund_unexpected" not in audit_actions(market, order_id)

    # the ledger released exactly 50000 of the 99000 held; the seller's pending follows
    assert account_sum(market, "escrow", order_id) == -49000
    pending_after = market.get("/api/v1/sellers/me/balance",
                               token=market.seller).json()["pending"]
    assert pending_before - pending_after == 50000
    assert ledger_check(market) == []
    assert market.order(order_id)["status"] == "AWAITING_SHIPMENT"

    # over the remainder: a 409, nothing moved, nothing asked of the provider
    before = money_state(market, order_id)
    body = problem(admin_refund(market, order_id, amount=49001), 409)
    assert body["type"].endswith("refund-exceeds-remaining")
    assert money_state(market, order_id) == before

    # the same Idempotency-Key is the same refund; the rest (no amount) closes it
    key = str(uuid.uuid4())
    rest = admin_refund(market, order_id, key=key)
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"]["amount"] == 49000
    assert admin_refund(market, order_id, key=key).json()["id"] == rest.json()["id"]
    market.wait_for(lambda: market.order(order_id)["payment"]["status"] == "refunded")
    assert provider_status(market, order_id)["transaction_status"] == "refund"
    assert account_sum(market, "escrow", order_id) == 0
    assert len(market.order(order_id)["refunds"]) == 3
    assert ledger_check(market) == []


def test_refund_of_an_unsettled_payment_is_refused(market):
    order = market.placed(market.product(stock=2, price=40000))
    before = money_state(market, order["id"])
    body = problem(admin_refund(market, order["id"], amount=1000), 409)
    assert body["type"].endswith("payment-not-settled")
    assert money_state(market, order["id"]) == before
    problem(admin_refund(market, order["id"], amount=0), 422)
    problem(admin_refund(market, order["id"], amount="5"), 422)


def test_partial_refund_of_a_bank_transfer_is_a_manual_refund(market):
    order = market.paid(market.product(stock=2, price=80000))
    response = admin_refund(market, order["id"], amount=15000, reason="late delivery")
    assert response.status_code == 201, response.text
    refund = response.json()
    assert (refund["method"], refund["status"]) == ("manual", "awaiting_account")
    assert account_sum(market, "escrow", order["id"]) == -65000
    # the buyer cancels later: the rest is a second manual refund of exactly the rest
    assert cancel(market, order["id"]).status_code == 200
    amounts = sorted(r["amount"]["amount"] for r in market.order(order["id"])["refunds"])
    assert amounts == [15000, 65000]
    given = market.post(f"/api/v1/orders/{order['id']}/refund-account", token=market.buyer,
                        json=ACCOUNT)
    assert {r["status"] for r in given.json()["refunds"]} == {"awaiting_transfer"}
    assert ledger_check(market) == []


def test_concurrent_refunds_never_exceed_the_payment(market):
    order = market.paid(market.product(stock=2, price=60000), method="ewallet")
    answers = market.concurrently(
        [lambda: admin_refund(market, order["id"], amount=25000) for _ in range(6)], workers=6)
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 2 and all(c in (201, 409) for c in codes), codes
    row = market.one("SELECT refunded_amount FROM payments WHERE order_id = %s", (order["id"],))
    assert row["refunded_amount"] == 50000


def test_the_database_refuses_refunds_over_what_was_paid(market):
    order = market.paid(market.product(stock=2, price=30000), method="ewallet")
    insert = ("INSERT INTO refunds (payment_id, order_id, refund_key, amount, method, status) "
              "VALUES (%s, %s, %s, %s, 'provider', 'pending')")
    with pytest.raises(psycopg2.errors.CheckViolation):
        market.execute(insert, (order["id"], order["id"], f"t-{uuid.uuid4().hex}", 30001))
    market.execute(insert, (order["id"], order["id"], f"t-{uuid.uuid4().hex}", 20000))
    with pytest.raises(psycopg2.errors.CheckViolation):
        market.execute(insert, (order["id"], order["id"], f"t-{uuid.uuid4().hex}", 10001))
    market.execute("UPDATE refunds SET status = 'failed' WHERE order_id = %s", (order["id"],))
    assert market.one("SELECT refunded_amount FROM payments WHERE order_id = %s",
                      (order["id"],))["refunded_amount"] == 0


# --- who may do what ----------------------------------------------------------------------


def test_access_rules_for_every_party(market):
    order = market.paid(market.product(stock=2, price=45000))
    assert cancel(market, order["id"]).status_code == 200
    [refund] = market.order(order["id"])["refunds"]
    creator = _register(market, "creator")
    other_buyer = market.new_buyer()
    before = money_state(market, order["id"])

    # refund account: only the order's buyer
    for token, status in ((None, 401), (other_buyer, 404), (market.other_seller, 403),
                          (creator, 403), (market.seller, 403), (market.admin, 403)):
        problem(market.post(f"/api/v1/orders/{order['id']}/refund-account", token=token,
                            json=ACCOUNT), status)
    # the manual refund queue and completing: admins only
    for token, status in ((None, 401), (market.buyer, 403), (market.seller, 403),
                          (creator, 403)):
        problem(market.get("/api/v1/admin/manual-refunds", token=token), status)
        problem(market.post(f"/api/v1/admin/manual-refunds/{refund['id']}/complete",
                            token=token, key=str(uuid.uuid4()),
                            json={"transfer_reference": "X-1"}), status)
        problem(market.post(f"/api/v1/admin/orders/{order['id']}/refunds", token=token,
                            key=str(uuid.uuid4()), json={"reason": "x"}), status)
    assert money_state(market, order["id"]) == before
    # the seller sees the refund's state on their order, never the account
    seller_refunds = market.order(order["id"], token=market.seller)["refunds"]
    assert seller_refunds[0]["status"] == "awaiting_account"
    # the buyer gives the account, the admin lists it
    assert market.post(f"/api/v1/orders/{order['id']}/refund-account", token=market.buyer,
                       json=ACCOUNT).status_code == 200
    assert market.get("/api/v1/admin/manual-refunds", token=market.admin).status_code == 200
    problem(market.get("/api/v1/admin/manual-refunds?status=bogus", token=market.admin), 422)


def _register(market, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:10]}@etalase.test"
    response = market.post("/api/v1/auth/register", json={
        "email": email, "password": "demo-password-123", "name": "Someone", "role": role})
    assert response.status_code == 201, response.text
    response = market.post("/api/v1/auth/login",
                           json={"email": email, "password": "demo-password-123"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_cancel_after_everything_was_refunded_refunds_nothing_more(market):
    order = market.paid(market.product(stock=2, price=35000), method="ewallet")
    assert admin_refund(market, order["id"]).status_code == 201  # the whole remainder
    response = cancel(market, order["id"])
    assert response.status_code == 200, response.text
    assert [r["amount"]["amount"] for r in response.json()["refunds"]] == [35000]
    market.wait_for(lambda: market.order(order["id"])["payment"]["status"] == "refunded")
    assert ledger_check(market) == []


def test_an_order_does_not_complete_while_a_provider_refund_is_pending(market):
    """Settling while a refund still waits for the provider would pay the shop money that
    is on its way back to the buyer (escrow would go negative when the refund lands)."""
    from transaction_service.store import orders as order_store

    order = market.paid(market.product(stock=3, price=99000), method="ewallet")
    order_id = order["id"]
    assert market.post(f"/api/v1/orders/{order_id}/ship", token=market.seller,
                       json={"tracking_number": "JNE-PENDING-1"}).status_code == 200
    # The outbox relay (with the other loops of its process) stops: the refund stays
    # pending at the provider.
    market.stack.stop_process("transaction-workers")
    try:
        assert admin_refund(market, order_id, amount=30000).status_code == 201
        body = problem(market.post(f"/api/v1/orders/{order_id}/confirm-receipt",
                                   token=market.buyer), 409)
        assert body["type"].endswith("refund-pending")
        with psycopg2.connect(market.stack.dsn("transaction")) as conn, \
                conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            claimed = order_store.claim_due_auto_complete(cursor, 0)
            assert claimed is None or str(claimed["id"]) != order_id
            conn.rollback()
        conn.close()
        assert market.order(order_id)["status"] == "IN_TRANSIT"
    finally:
        market.stack.start_process("transaction-workers")
    market.wait_for(lambda: all(r["status"] == "succeeded"
                                for r in market.order(order_id)["refunds"]))
    done = market.post(f"/api/v1/orders/{order_id}/confirm-receipt", token=market.buyer)
    assert done.status_code == 200, done.text
    assert account_sum(market, "escrow", order_id) == 0  # 99000 in, 30000 back, 69000 settled
    assert ledger_check(market) == []
