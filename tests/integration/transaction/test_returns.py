"""Delivery, returns, refunds and disputes (DESIGN.md §5 step 6, §12) on the real stack:
real Postgres, gateway, storefront, the strict sandbox and the running workers.

Each flow checks the money (one refund keyed on the return, exactly the snapshot amount
or the accepted offer, the ledger net of it, Σ = 0 and escrow = paid-unsettled), the stock
(returned units back on RECEIVED, once), the audit trail and the races of issue 18."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tools.shopper import DEMO_PASSWORD
from transaction_service.domain import ledger

PROBLEM = "application/problem+json"
ACCOUNT = {"bank": "bca", "account_number": "4455667788", "account_name": "Budi Santoso"}


def problem(response, status, slug: str | None = None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM), response.headers
    body = response.json()
    if slug is not None:
        assert body["type"].endswith(slug), body
    return body


def ledger_check(market) -> list[str]:
    response = market.get("/api/v1/admin/ledger/check", token=market.admin)
    assert response.status_code == 200, response.text
    return response.json()["violations"]


def delivered(market, *, quantity: int = 2, price: int = 40000, method: str = "ewallet",
              stock: int = 10, token: str | None = None) -> tuple[dict, str]:
    """A paid, shipped and delivered order of `quantity` units of a fresh product."""
    product = market.product(stock=stock, price=price)
    response = market.checkout([{"product_id": product, "quantity": quantity}],
                               method=method, token=token)
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert market.pay(order["id"]).status_code == 200
    market.wait_status(order["id"], "AWAITING_SHIPMENT")
    market.wait_outbox_done(order["id"], "reservation_commit")
    shipped = market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                          json={"tracking_number": "JNE-RET-0001"})
    assert shipped.status_code == 200, shipped.text
    done = market.post(f"/api/v1/orders/{order['id']}/deliver", token=market.seller)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "DELIVERED" and done.json()["delivered_at"]
    return done.json(), product


def open_return(market, order_id: str, product: str, *, quantity: int = 1,
                type_: str = "return_and_refund", reason: str = "damaged",
                token: str | None = None, key: str | None = None):
    return market.post(f"/api/v1/orders/{order_id}/returns", token=token or market.buyer,
                       key=key or str(uuid.uuid4()),
                       json={"type": type_, "reason": reason, "note": "box crushed",
                             "items": [{"product_id": product, "quantity": quantity}]})


def act(market, return_id: str, action: str, token: str, **body):
    return market.post(f"/api/v1/returns/{return_id}/{action}", token=token,
                       json=body if body else None)


def wait_return(market, return_id: str, status: str, timeout: float = 30.0) -> dict:
    def check():
        row = market.one("SELECT status FROM returns WHERE id = %s", (return_id,))
        return row and row["status"] == status
    market.wait_for(check, timeout)
    response = market.get(f"/api/v1/returns/{return_id}", token=market.buyer)
    assert response.status_code == 200, response.text
    return response.json()


def refunds_of(market, order_id: str) -> list[dict]:
    return market.rows("SELECT id::text, return_id::text, refund_key, amount, method, status "
                       "FROM refunds WHERE order_id = %s ORDER BY created_at", (order_id,))


def audit_actions(market, order_id: str) -> list[str]:
    return [r["action"] for r in market.rows(
        "SELECT action FROM audit_log WHERE entity = 'order' AND entity_id = %s ORDER BY seq",
        (order_id,))]


# --- delivery -------------------------------------------------------------------------------


def test_deliver_is_the_sellers_and_only_from_in_transit(market):
    product = market.product(stock=3)
    order = market.paid(product)
    path = f"/api/v1/orders/{order['id']}/deliver"
    problem(market.post(path, token=market.seller), 409, "illegal-transition")
    market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                json={"tracking_number": "JNE-DLV-0001"})
    problem(market.post(path, token=market.buyer), 403)
    problem(market.post(path, token=market.other_seller), 404)
    problem(market.post(path), 401)
    assert market.post(path, token=market.seller).status_code == 200
    problem(market.post(path, token=market.seller), 409, "illegal-transition")
    assert "order.delivered" in audit_actions(market, order["id"])


def test_buyer_confirming_before_delivery_completes_from_in_transit(market):
    order = market.paid(market.product(stock=3))
    market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                json={"tracking_number": "JNE-DLV-0002"})
    done = market.post(f"/api/v1/orders/{order['id']}/confirm-receipt", token=market.buyer)
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED", done.text
    problem(market.post(f"/api/v1/orders/{order['id']}/deliver", token=market.seller), 409)


# --- the happy flows ------------------------------------------------------------------------


def test_return_and_refund_from_request_to_refunded_with_stock_back(market):
    order, product = delivered(market, quantity=2, price=40000, stock=10)
    assert market.stock(product) == 8
    opened = open_return(market, order["id"], product, quantity=1)
    assert opened.status_code == 201, opened.text
    ret = opened.json()
    assert ret["status"] == "REQUESTED" and ret["open"] is True
    assert ret["value"] == {"amount": 40000, "currency": "IDR"}  # from the snapshot
    rid = ret["id"]

    approved = act(market, rid, "approve", market.seller)
    assert approved.status_code == 200 and approved.json()["status"] == \
        "AWAITING_BUYER_SHIPMENT", approved.text
    shipped = act(market, rid, "ship", market.buyer, tracking_number="JNE-BACK-0001")
    assert shipped.json()["status"] == "BUYER_SHIPPED", shipped.text
    # the order cannot complete while its return is open
    problem(market.post(f"/api/v1/orders/{order['id']}/confirm-receipt", token=market.buyer),
            409, "return-open")
    received = act(market, rid, "received", market.seller)
    assert received.status_code == 200, received.text
    assert received.json()["status"] in ("REFUND_PENDING", "REFUNDED")
    done = wait_return(market, rid, "REFUNDED")
    assert done["refund_amount"] == {"amount": 40000, "currency": "IDR"}
    assert done["open"] is False
    market.wait_outbox_done(order["id"], "return_restock")
    assert market.stock(product) == 9  # exactly the returned unit

    refunds = refunds_of(market, order["id"])
    assert [(r["return_id"], r["refund_key"], int(r["amount"]), r["status"])
            for r in refunds] == [(rid, f"ret-{rid}", 40000, "succeeded")]
    completed = market.post(f"/api/v1/orders/{order['id']}/confirm-receipt",
                            token=market.buyer)
    assert completed.status_code == 200 and completed.json()["status"] == "COMPLETED"
    settled = market.one(
        "SELECT -sum(l.amount) FILTER (WHERE l.account LIKE 'shop:%%') AS shop, "
        "sum(l.amount) FILTER (WHERE l.account = 'escrow') AS escrow "
        "FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id "
        "WHERE e.kind = 'order_completed' AND e.reference = %s", (order["id"],))
    # settled net of the refund: 80000 - 40000 (+ shipping) less the 5% fee
    assert int(settled["escrow"]) == int(order["total"]["amount"]) - 40000
    assert ledger_check(market) == []
    actions = audit_actions(market, order["id"])
    for step in ("return.requested", "return.approved", "return.awaiting_buyer_shipment",
                 "return.buyer_shipped", "return.received", "return.refund_requested",
                 "return.refunded", "order.completed"):
        assert step in actions, (step, actions)


def test_refund_only_bank_transfer_waits_in_refund_pending_for_the_manual_refund(market):
    order, product = delivered(market, quantity=1, price=30000, method="bank_transfer")
    rid = open_return(market, order["id"], product, type_="refund_only",
                      reason="not_as_described").json()["id"]
    approved = act(market, rid, "approve", market.seller)
    assert approved.status_code == 200 and approved.json()["status"] == "REFUND_PENDING"
    (refund,) = refunds_of(market, order["id"])
    assert refund["method"] == "manual" and int(refund["amount"]) == 30000
    given = market.post(f"/api/v1/orders/{order['id']}/refund-account", token=market.buyer,
                        json=ACCOUNT)
    assert given.status_code == 200, given.text
    assert wait_return(market, rid, "REFUND_PENDING")["status"] == "REFUND_PENDING"
    paid = market.post(f"/api/v1/admin/manual-refunds/{refund['id']}/complete",
                       token=market.admin, key=str(uuid.uuid4()),
                       json={"transfer_reference": "BCA-TRF-RET-0001"})
    assert paid.status_code == 200, paid.text
    assert wait_return(market, rid, "REFUNDED")["refund_id"] == refund["id"]
    assert market.stock(product) == 9  # refund only: nothing comes back
    assert ledger_check(market) == []


def test_offer_accepted_refunds_exactly_the_offer(market):
    order, product = delivered(market, quantity=2, price=50000)
    rid = open_return(market, order["id"], product, quantity=2).json()["id"]
    problem(act(market, rid, "offer", market.seller, amount=100000), 422)  # not below value
    problem(act(market, rid, "offer", market.seller, amount="100"), 422)
    problem(act(market, rid, "offer", market.buyer, amount=1000), 403)
    offered = act(market, rid, "offer", market.seller, amount=30000)
    assert offered.status_code == 200 and offered.json()["offer"]["amount"] == 30000
    problem(act(market, rid, "accept-offer", market.seller), 403)
    accepted = act(market, rid, "accept-offer", market.buyer)
    assert accepted.status_code == 200, accepted.text
    wait_return(market, rid, "REFUNDED")
    assert [int(r["amount"]) for r in refunds_of(market, order["id"])] == [30000]
    problem(act(market, rid, "accept-offer", market.buyer), 409, "illegal-transition")
    assert ledger_check(market) == []


def test_rejected_escalated_and_resolved_once_by_an_admin(market):
    order, product = delivered(market, quantity=1, price=60000)
    rid = open_return(market, order["id"], product).json()["id"]
    problem(act(market, rid, "reject", market.seller), 422)  # a reason is required
    rejected = act(market, rid, "reject", market.seller, reason="Seal intact")
    assert rejected.json()["status"] == "REJECTED" and rejected.json()["reject_reason"]
    problem(act(market, rid, "resolve", market.admin, decision="refund"), 409)
    disputed = act(market, rid, "escalate", market.buyer, note="It is broken")
    assert disputed.json()["status"] == "DISPUTED"
    listing = market.get("/api/v1/returns?role=admin&limit=100", token=market.admin).json()
    statuses = [r["status"] for r in listing["data"]]
    assert "DISPUTED" in statuses
    first_other = next((i for i, s in enumerate(statuses) if s != "DISPUTED"), len(statuses))
    assert all(s == "DISPUTED" for s in statuses[:first_other])  # disputes first
    assert "DISPUTED" not in statuses[first_other:]
    problem(act(market, rid, "resolve", market.seller, decision="refund"), 403)
    problem(act(market, rid, "resolve", market.admin, decision="refund", amount=60001), 422)
    problem(act(market, rid, "resolve", market.admin, decision="close", amount=5), 422)

    results = market.concurrently(
        [lambda: act(market, rid, "resolve", market.admin, decision="refund", amount=45000)
         for _ in range(4)], workers=4)
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    wait_return(market, rid, "REFUNDED")
    assert [int(r["amount"]) for r in refunds_of(market, order["id"])] == [45000]
    problem(act(market, rid, "resolve", market.admin, decision="close"), 409)
    assert ledger_check(market) == []


def test_dispute_closed_refunds_nothing_and_the_order_completes(market):
    order, product = delivered(market, quantity=1)
    rid = open_return(market, order["id"], product).json()["id"]
    act(market, rid, "reject", market.seller, reason="Used item")
    act(market, rid, "escalate", market.buyer)
    closed = act(market, rid, "resolve", market.admin, decision="close", note="No evidence")
    assert closed.status_code == 200 and closed.json()["status"] == "CLOSED"
    assert refunds_of(market, order["id"]) == []
    completed = market.post(f"/api/v1/orders/{order['id']}/confirm-receipt",
                            token=market.buyer)
    assert completed.json()["status"] == "COMPLETED"


# --- races and bad input --------------------------------------------------------------------


def test_two_concurrent_returns_on_one_order_one_wins(market):
    order, product = delivered(market, quantity=2)
    results = market.concurrently(
        [lambda: open_return(market, order["id"], product) for _ in range(6)], workers=6)
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409, 409, 409, 409], [r.text for r in results]
    for response in results:
        if response.status_code == 409:
            problem(response, 409, "return-already-open")
    assert market.one("SELECT count(*) AS n FROM returns WHERE order_id = %s",
                      (order["id"],))["n"] == 1


def test_approve_and_cancel_at_once_one_wins(market):
    for _ in range(3):
        order, product = delivered(market, quantity=1)
        rid = open_return(market, order["id"], product, type_="refund_only").json()["id"]
        barrier = threading.Barrier(2)

        def approve(rid=rid, barrier=barrier):
            barrier.wait()
            return act(market, rid, "approve", market.seller)

        def cancel(rid=rid, barrier=barrier):
            barrier.wait()
            return act(market, rid, "cancel", market.buyer)

        approved, cancelled = market.concurrently([approve, cancel], workers=2)
        assert sorted([approved.status_code, cancelled.status_code]) == [200, 409]
        refunds = refunds_of(market, order["id"])
        final = market.one("SELECT status FROM returns WHERE id = %s", (rid,))["status"]
        if approved.status_code == 200:
            assert final in ("REFUND_PENDING", "REFUNDED") and len(refunds) == 1
        else:
            assert final == "CANCELLED" and refunds == []
    assert ledger_check(market) == []


def test_refund_notification_before_the_approval_changes_nothing(market):
    order, product = delivered(market, quantity=1, price=35000)
    rid = open_return(market, order["id"], product, type_="refund_only").json()["id"]
    early = market.notification(
        order, "partial_refund", refund_amount="35000.00",
        refunds=[{"refund_key": f"ret-{rid}", "refund_amount": "35000.00"}])
    answered = market.notify(early)
    assert answered.status_code == 200, answered.text
    assert refunds_of(market, order["id"]) == []
    assert market.one("SELECT status FROM returns WHERE id = %s", (rid,))["status"] == \
        "REQUESTED"
    assert {e["kind"] for e in market.ledger(order["id"])} == {"payment_settled"}
    approved = act(market, rid, "approve", market.seller)
    assert approved.status_code == 200, approved.text
    wait_return(market, rid, "REFUNDED")
    # the early notice again, now for a refund we asked for: still exactly one refund
    assert market.notify(early).status_code == 200
    (refund,) = refunds_of(market, order["id"])
    assert int(refund["amount"]) == 35000 and refund["status"] == "succeeded"
    assert [e["kind"] for e in market.ledger(order["id"])].count("refund_issued") == 1
    assert ledger_check(market) == []


def test_quantities_above_what_is_left_are_422(market):
    order, product = delivered(market, quantity=2, price=20000)
    body = problem(open_return(market, order["id"], product, quantity=3), 422)
    assert "items.0" in body["errors"]
    problem(open_return(market, order["id"], str(uuid.uuid4())), 422)
    rid = open_return(market, order["id"], product, quantity=2,
                      type_="refund_only").json()["id"]
    act(market, rid, "approve", market.seller)
    wait_return(market, rid, "REFUNDED")
    body = problem(open_return(market, order["id"], product, quantity=1), 422)
    assert "already returned 2" in body["errors"]["items.0"][0]


@pytest.mark.parametrize("body", [
    {},
    {"type": "swap", "reason": "damaged", "items": [{"product_id": "x", "quantity": 1}]},
    {"type": "refund_only", "reason": "bored", "items": [{"product_id": "x", "quantity": 1}]},
    {"type": "refund_only", "reason": "damaged", "items": []},
    {"type": "refund_only", "reason": "damaged", "items": [{"product_id": "x",
                                                            "quantity": "1"}]},
    {"type": "refund_only", "reason": "damaged", "items": [{"product_id": "x", "quantity": 1}],
     "amount": 999999},
])
def test_bad_bodies_are_422_problems(market, body):
    order = market.paid(market.product(stock=2))
    response = market.post(f"/api/v1/orders/{order['id']}/returns", token=market.buyer,
                           key=str(uuid.uuid4()), json=body)
    problem(response, 422)


def test_returns_on_unpaid_cancelled_or_completed_orders_are_409(market):
    unpaid = market.placed(market.product(stock=2))
    problem(open_return(market, unpaid["id"], unpaid["items"][0]["product_id"]), 409,
            "order-not-returnable")
    cancelled = market.paid(market.product(stock=2))
    market.post(f"/api/v1/orders/{cancelled['id']}/cancel", token=market.buyer,
                key=str(uuid.uuid4()))
    problem(open_return(market, cancelled["id"], cancelled["items"][0]["product_id"]), 409,
            "order-not-returnable")
    order, product = delivered(market, quantity=1)
    market.post(f"/api/v1/orders/{order['id']}/confirm-receipt", token=market.buyer)
    problem(open_return(market, order["id"], product), 409, "order-not-returnable")
    # in transit: only refund_only, not_received
    transit = market.paid(market.product(stock=2))
    market.post(f"/api/v1/orders/{transit['id']}/ship", token=market.seller,
                json={"tracking_number": "JNE-LOST-0001"})
    pid = transit["items"][0]["product_id"]
    problem(open_return(market, transit["id"], pid), 409, "order-not-delivered")
    lost = open_return(market, transit["id"], pid, type_="refund_only", reason="not_received")
    assert lost.status_code == 201, lost.text


def test_return_window_closed_is_409(market):
    order, product = delivered(market, quantity=1)
    market.execute("UPDATE orders SET delivered_at = now() - interval '8 days' WHERE id = %s",
                   (order["id"],))
    problem(open_return(market, order["id"], product), 409, "return-window-closed")


def test_same_key_replays_the_same_return(market):
    order, product = delivered(market, quantity=1)
    key = str(uuid.uuid4())
    first = open_return(market, order["id"], product, key=key)
    again = open_return(market, order["id"], product, key=key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    problem(market.post(f"/api/v1/orders/{order['id']}/returns", token=market.buyer,
                        json={"type": "refund_only", "reason": "damaged",
                              "items": [{"product_id": product, "quantity": 1}]}), 400)


# --- who may do what ------------------------------------------------------------------------


def test_each_party_sees_and_moves_only_what_is_theirs(market):
    order, product = delivered(market, quantity=1)
    intruder = market.new_buyer()
    creator = market.token("creator@etalase.test")
    problem(open_return(market, order["id"], product, token=intruder), 404)
    problem(open_return(market, order["id"], product, token=market.seller), 403)
    problem(open_return(market, order["id"], product, token=creator), 403)
    rid = open_return(market, order["id"], product).json()["id"]

    for token, status in ((market.buyer, 200), (market.seller, 200), (market.admin, 200),
                          (intruder, 404), (market.other_seller, 404), (creator, 404)):
        response = market.get(f"/api/v1/returns/{rid}", token=token)
        assert response.status_code == status, (status, response.text)
    problem(market.get(f"/api/v1/returns/{rid}"), 401)
    problem(market.get("/api/v1/returns/not-a-uuid", token=market.buyer), 404)
    for token in (intruder, market.other_seller, creator):
        problem(act(market, rid, "approve", token), 404)
        problem(act(market, rid, "cancel", token), 404)
    problem(act(market, rid, "approve", market.buyer), 403)
    problem(act(market, rid, "cancel", market.seller), 403)
    problem(act(market, rid, "approve", market.admin), 403)
    problem(act(market, rid, "approve", None), 401)

    mine = market.get("/api/v1/returns?role=buyer&limit=100", token=market.buyer).json()
    assert rid in {r["id"] for r in mine["data"]}
    theirs = market.get("/api/v1/returns?role=buyer", token=intruder).json()
    assert theirs["data"] == []
    shop = market.get(f"/api/v1/returns?role=seller&order_id={order['id']}",
                      token=market.seller).json()
    assert [r["id"] for r in shop["data"]] == [rid]
    other_shop = market.get(f"/api/v1/returns?role=seller&order_id={order['id']}",
                            token=market.other_seller).json()
    assert other_shop["data"] == []
    problem(market.get("/api/v1/returns?role=admin", token=market.buyer), 403)
    problem(market.get("/api/v1/returns?role=seller", token=creator), 403)
    problem(market.get("/api/v1/returns?status=LOST", token=market.buyer), 422)
    problem(market.get("/api/v1/returns?cursor=bogus", token=market.buyer), 422)
    assert market.one("SELECT status FROM returns WHERE id = %s", (rid,))["status"] == \
        "REQUESTED"


# --- workers --------------------------------------------------------------------------------


def test_silent_seller_approves_by_default(market):
    order, product = delivered(market, quantity=1)
    rid = open_return(market, order["id"], product).json()["id"]
    market.execute("UPDATE returns SET created_at = now() - interval '49 hours' WHERE id = %s",
                   (rid,))
    ret = wait_return(market, rid, "AWAITING_BUYER_SHIPMENT")
    assert ret["responded_at"]
    assert "return.approved" in audit_actions(market, order["id"])


def test_auto_complete_waits_while_a_return_is_open(market):
    order, product = delivered(market, quantity=1)
    rid = open_return(market, order["id"], product).json()["id"]
    market.execute("UPDATE orders SET delivered_at = now() - interval '8 days' WHERE id = %s",
                   (order["id"],))
    market.run_worker("auto-complete")
    assert market.order(order["id"])["status"] == "DELIVERED"
    assert act(market, rid, "cancel", market.buyer).status_code == 200
    market.wait_status(order["id"], "COMPLETED")


def test_in_transit_orders_are_delivered_after_the_wait(market):
    order = market.paid(market.product(stock=2))
    market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                json={"tracking_number": "JNE-AUTO-0001"})
    market.execute("UPDATE orders SET shipped_at = now() - interval '4 days' WHERE id = %s",
                   (order["id"],))
    delivered_order = market.wait_status(order["id"], "DELIVERED")
    assert delivered_order["delivered_at"]
    assert "order.delivered" in audit_actions(market, order["id"])


# --- settlement: a return refunds exactly its lines ------------------------------------------


def _attributed_order(market) -> tuple[dict, str, str, str]:
    """A delivered e-wallet order of two lines of 100,000: `a` sold from a creator's video
    (10 % commission), `b` unattributed. Returns (order, a, b, creator account id)."""
    email = f"creator-{uuid.uuid4().hex[:10]}@etalase.test"
    for _ in range(100):
        made = market.post("/api/v1/auth/register", json={
            "email": email, "password": DEMO_PASSWORD, "name": "Kreator Retur",
            "role": "creator"})
        if made.status_code != 429:
            break
        time.sleep(0.2)  # the gateway rate-limits /auth/ per client address
    assert made.status_code == 201, made.text
    creator = market.token(email)
    a, b = (market.post("/api/v1/products", token=market.seller, json={
        "title": f"Batik retur {uuid.uuid4().hex[:6]}", "price": 100000, "stock": 5,
        "commission_rate_bps": rate}).json()["id"] for rate in (1000, 0))
    content = market.post("/api/v1/contents", token=creator, json={
        "kind": "video", "title": "Review", "product_ids": [a],
        "media_url": "https://media.etalase.test/videos/r.mp4"}).json()["id"]
    response = market.checkout([{"product_id": a, "quantity": 1, "content_id": content},
                                {"product_id": b, "quantity": 1}], method="ewallet")
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert market.pay(order["id"]).status_code == 200
    market.wait_status(order["id"], "AWAITING_SHIPMENT")
    market.wait_outbox_done(order["id"], "reservation_commit")
    market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                json={"tracking_number": "JNE-COMM-0001"})
    market.post(f"/api/v1/orders/{order['id']}/deliver", token=market.seller)
    return order, a, b, made.json()["id"]


@pytest.mark.parametrize(("returned", "commission"), [("a", 0), ("b", 10000)])
def test_a_returned_line_earns_no_commission_and_no_fee(market, returned, commission):
    order, a, b, creator_id = _attributed_order(market)
    product = {"a": a, "b": b}[returned]
    rid = open_return(market, order["id"], product, type_="refund_only").json()["id"]
    assert act(market, rid, "approve", market.seller).status_code == 200
    wait_return(market, rid, "REFUNDED")
    done = market.post(f"/api/v1/orders/{order['id']}/confirm-receipt", token=market.buyer)
    assert done.status_code == 200, done.text
    lines = {r["account"]: -int(r["amount"]) for r in market.rows(
        "SELECT l.account, l.amount FROM journal_lines l JOIN journal_entries e "
        "ON e.id = l.entry_id WHERE e.kind = 'order_completed' AND e.reference = %s",
        (order["id"],))}
    # The returned line's refund lowers exactly that line: the creator's commission is on
    # their line as sold (0 when it was returned, all of it when the other one was).
    assert lines.get(ledger.creator_payable(creator_id), 0) == commission
    sold = int(order["total"]["amount"]) - 100000
    assert lines[ledger.PLATFORM_FEE_REVENUE] == sold * 500 // 10000  # on what was sold
    assert ledger_check(market) == []
