"""Webhooks end to end (DESIGN.md §13) on the real stack: the marketplace's state changes
become signed deliveries to a real receiver on loopback, verified with the independent
`standardwebhooks` package; a receiver that is down, slow past the timeout or answering
500 is retried; a SIGKILLed dispatcher loses nothing; an endpoint failing for 5 days is
disabled with its reason shown."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from tools.webhook_receiver import Receiver

# The stacks of the tests set WEBHOOK_ALLOW_PRIVATE_TARGETS=1 (devstack does): the receiver
# lives on 127.0.0.1.


@pytest.fixture()
def receiver():
    hook = Receiver().start()
    yield hook
    hook.stop()


def _endpoint(market, token, url, events=("*",), **extra) -> dict:
    response = market.post("/api/v1/webhooks/endpoints", token=token,
                           json={"url": url, "events": list(events), **extra})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert response.headers.get("Cache-Control") == "no-store"
    return body


def _delete(market, token, endpoint_id):
    market.request("DELETE", f"/api/v1/webhooks/endpoints/{endpoint_id}", token=token)


def _for_order(receiver, order_id, event_type=None):
    return [r for r in list(receiver.received)
            if _order_id(r.event) == order_id
            and (event_type is None or r.event["type"] == event_type)]


def _order_id(event) -> str | None:
    data = event.get("data") or {}
    return data.get("order_id") or data.get("id")


def _deliveries(market, token, endpoint_id) -> list[dict]:
    response = market.get(f"/api/v1/webhooks/endpoints/{endpoint_id}/deliveries?limit=100",
                          token=token)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_order_lifecycle_events_are_signed_and_show_the_seller_view(market, receiver):
    endpoint = _endpoint(market, market.seller, receiver.url)
    receiver.secrets = [endpoint["secret"]]
    try:
        product = market.product(stock=5, price=120000)
        order = market.placed(product)
        oid = order["id"]
        market.wait_for(lambda: _for_order(receiver, oid, "order.created"), 15)
        assert market.pay(oid).status_code == 200
        market.wait_status(oid, "AWAITING_SHIPMENT")
        paid = market.wait_for(lambda: _for_order(receiver, oid, "order.paid"), 15)[0]
        # `data` is the order as the seller's GET shows it (nothing changed since).
        assert paid.event["data"] == market.order(oid, token=market.seller)
        shipped = market.post(f"/api/v1/orders/{oid}/ship", token=market.seller,
                              json={"tracking_number": "JNE-WH-1"})
        assert shipped.status_code == 200, shipped.text
        done = market.post(f"/api/v1/orders/{oid}/confirm-receipt", token=market.buyer)
        assert done.status_code == 200, done.text
        market.wait_for(lambda: _for_order(receiver, oid, "order.completed"), 15)
        got = _for_order(receiver, oid)
        assert [r.event["type"] for r in got] == [
            "order.created", "order.paid", "order.shipped", "order.completed"]
        assert all(r.verified for r in got), [r.error for r in got]
        assert len({r.webhook_id for r in got}) == 4
        assert got[2].event["data"]["tracking_number"] == "JNE-WH-1"

        # An unpaid order cancelled by the buyer.
        other = market.placed(product)
        assert market.post(f"/api/v1/orders/{other['id']}/cancel", token=market.buyer,
                           key=str(uuid.uuid4())).status_code == 200
        market.wait_for(lambda: _for_order(receiver, other["id"], "order.cancelled"), 15)

        # Another shop's orders never reach this shop's endpoint.
        foreign = market.placed(market.product(token=market.other_seller))
        time.sleep(2)
        assert _for_order(receiver, foreign["id"]) == []

        # The delivery log shows each attempt.
        log = _deliveries(market, market.seller, endpoint["id"])
        mine = [d for d in log if d["event_id"] in {r.webhook_id for r in got}]
        assert len(mine) == 4 and all(d["status"] == "delivered" for d in mine)
        attempt = mine[0]["attempt_log"][0]
        assert attempt["status_code"] == 204 and attempt["duration_ms"] >= 0
    finally:
        _delete(market, market.seller, endpoint["id"])


def test_refund_and_payout_events(market, receiver):
    endpoint = _endpoint(market, market.seller, receiver.url,
                         events=["refund.succeeded", "payout.created", "order.cancelled"])
    receiver.secrets = [endpoint["secret"]]
    try:
        order = market.placed(market.product(stock=3, price=99000), method="ewallet")
        assert market.pay(order["id"]).status_code == 200
        market.wait_status(order["id"], "AWAITING_SHIPMENT")
        assert market.post(f"/api/v1/orders/{order['id']}/cancel", token=market.buyer,
                           key=str(uuid.uuid4())).status_code == 200
        refund = market.wait_for(
            lambda: _for_order(receiver, order["id"], "refund.succeeded"), 30)[0]
        assert refund.verified
        assert refund.event["data"]["amount"] == {"amount": 99000, "currency": "IDR"}
        assert refund.event["data"]["order"]["payment"]["status"] == "refunded"
        assert _for_order(receiver, order["id"], "order.cancelled")
        # Only subscribed types arrive.
        assert not _for_order(receiver, order["id"], "order.paid")

        balance = market.get("/api/v1/sellers/me/balance", token=market.seller).json()
        if balance["available"] < 1:  # make some money available first
            paid = market.paid(market.product(price=10000))
            market.post(f"/api/v1/orders/{paid['id']}/ship", token=market.seller,
                        json={"tracking_number": "JNE-WH-2"})
            market.post(f"/api/v1/orders/{paid['id']}/confirm-receipt", token=market.buyer)
        payout = market.post("/api/v1/sellers/me/payouts", token=market.seller,
                             key=str(uuid.uuid4()), json={"amount": 1})
        assert payout.status_code == 201, payout.text
        arrived = market.wait_for(lambda: [
            r for r in receiver.of_type("payout.created")
            if r.event["data"]["id"] == payout.json()["id"]], 15)[0]
        assert arrived.verified
        assert arrived.event["data"] == payout.json()
    finally:
        _delete(market, market.seller, endpoint["id"])


def test_down_slow_and_500_receivers_are_retried_until_delivered(market, receiver):
    """The default schedule retries 5 s after a failure; each failure mode is recorded in
    the delivery log, then the retry is delivered."""
    endpoint = _endpoint(market, market.seller, receiver.url, events=["order.created"])
    receiver.secrets = [endpoint["secret"]]
    try:
        # 500, then 200.
        receiver.plan.extend(["500"])
        first = market.placed(market.product())
        got = market.wait_for(lambda: len(_for_order(receiver, first["id"])) >= 2, 30)
        assert got
        arrivals = _for_order(receiver, first["id"])
        assert arrivals[0].webhook_id == arrivals[1].webhook_id  # same id on a retry
        assert all(a.verified for a in arrivals)
        delivery = _wait_delivery(market, endpoint["id"], arrivals[0].webhook_id, "delivered")
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 204]
        assert len(delivery["attempt_log"][0]["response_body"].encode()) <= 1024

        # Slow past the 10 s timeout, then fine.
        receiver.plan.extend(["slow"])
        second = market.placed(market.product())
        market.wait_for(lambda: len(_for_order(receiver, second["id"])) >= 2, 45)
        delivery = _wait_delivery(market, endpoint["id"],
                                  _for_order(receiver, second["id"])[0].webhook_id, "delivered")
        slow = delivery["attempt_log"][0]
        assert slow["status_code"] is None and "timed out" in slow["error"]
        assert 9000 <= slow["duration_ms"] < 12000

        # Down (nothing listening), then up again on the same port.
        port = receiver.port
        receiver.stop()
        third = market.placed(market.product())
        down = market.wait_for(lambda: [
            d for d in _deliveries(market, market.seller, endpoint["id"])
            if d["attempt_log"] and d["attempt_log"][0]["error"]
            and d["created_at"] >= third["created_at"]], 15)[0]
        assert down["status"] == "pending" and down["next_attempt_at"]
        back = Receiver(port=port, secrets=[endpoint["secret"]]).start()
        try:
            market.wait_for(lambda: _for_order(back, third["id"]), 20)
            assert _for_order(back, third["id"])[0].verified
            _wait_delivery(market, endpoint["id"], down["event_id"], "delivered")
        finally:
            back.stop()
    finally:
        _delete(market, market.seller, endpoint["id"])


def _wait_delivery(market, endpoint_id, event_id, status) -> dict:
    def check():
        rows = [d for d in _deliveries(market, market.seller, endpoint_id)
                if d["event_id"] == event_id]
        return rows and rows[0]["status"] == status and rows[0]
    return market.wait_for(check, 30)


def test_redirects_are_not_followed(market, receiver):
    endpoint = _endpoint(market, market.seller, receiver.url, events=["order.created"])
    try:
        receiver.plan.extend(["redirect"])
        order = market.placed(market.product())
        market.wait_for(lambda: _for_order(receiver, order["id"]), 15)
        time.sleep(1)
        arrivals = _for_order(receiver, order["id"])
        assert len(arrivals) == 1 and arrivals[0].path == "/hooks"  # not the redirect target
        delivery = _wait_delivery_with_attempt(market, endpoint["id"], arrivals[0].webhook_id)
        assert delivery["attempt_log"][0]["status_code"] == 302
        assert delivery["status"] == "pending"
    finally:
        _delete(market, market.seller, endpoint["id"])


def _wait_delivery_with_attempt(market, endpoint_id, event_id) -> dict:
    def check():
        rows = [d for d in _deliveries(market, market.seller, endpoint_id)
                if d["event_id"] == event_id and d["attempt_log"]]
        return rows and rows[0]
    return market.wait_for(check, 15)


def test_test_send_rotation_and_manual_retry(market, receiver):
    endpoint = _endpoint(market, market.seller, receiver.url, events=["order.paid"])
    old_secret = endpoint["secret"]
    try:
        sent = market.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/test",
                           token=market.seller)
        assert sent.status_code == 202, sent.text
        test_id = sent.json()["event_id"]
        arrived = market.wait_for(lambda: [r for r in receiver.received
                                           if r.webhook_id == test_id], 15)[0]
        assert arrived.event["type"] == "webhook.test"
        receiver.secrets = [old_secret]
        assert receiver.secrets and _verify(arrived, old_secret)

        rotated = market.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret",
                              token=market.seller)
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret != old_secret and rotated.json()["previous_secret_expires_at"]
        sent = market.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/test",
                           token=market.seller)
        test_id = sent.json()["event_id"]
        arrived = market.wait_for(lambda: [r for r in receiver.received
                                           if r.webhook_id == test_id], 15)[0]
        # Two v1 signatures for 24 h: both the old and the new secret verify.
        assert arrived.signature.count("v1,") == 2
        assert _verify(arrived, old_secret) and _verify(arrived, new_secret)

        # A manual retry sends the delivered-before-failed one again with the same id.
        receiver.plan.extend(["500"] * 2)
        sent = market.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/test",
                           token=market.seller)
        delivery_id, test_id = sent.json()["id"], sent.json()["event_id"]
        market.wait_for(lambda: [r for r in receiver.received if r.webhook_id == test_id], 15)
        market.execute("UPDATE webhook_deliveries SET status = 'failed' WHERE id = %s",
                       (delivery_id,))
        retried = market.post(f"/api/v1/webhooks/deliveries/{delivery_id}/retry",
                              token=market.seller)
        assert retried.status_code == 202 and retried.json()["status"] == "pending"
        market.wait_for(lambda: len([r for r in receiver.received
                                     if r.webhook_id == test_id]) >= 2, 15)
        delivered = _wait_delivery(market, endpoint["id"], test_id, "delivered")
        again = market.post(f"/api/v1/webhooks/deliveries/{delivered['id']}/retry",
                            token=market.seller)
        assert again.status_code == 409
    finally:
        _delete(market, market.seller, endpoint["id"])


def _verify(received, secret) -> bool:
    from standardwebhooks import Webhook

    Webhook(secret).verify(received.body, {
        "webhook-id": received.webhook_id, "webhook-timestamp": received.timestamp,
        "webhook-signature": received.signature})
    return True


def test_an_endpoint_failing_for_five_days_is_disabled_with_its_reason(market, receiver):
    endpoint = _endpoint(market, market.seller, receiver.url, events=["order.created"])
    try:
        market.execute("UPDATE webhook_endpoints SET failing_since = now() - interval '5 days 1 "
                       "minute' WHERE id = %s", (endpoint["id"],))
        receiver.plan.extend(["500"])
        order = market.placed(market.product())
        market.wait_for(lambda: _for_order(receiver, order["id"]), 15)

        def disabled():
            body = market.get(f"/api/v1/webhooks/endpoints/{endpoint['id']}",
                              token=market.seller).json()
            return body["disabled"] and body
        body = market.wait_for(disabled, 15)
        assert "every delivery attempt failed" in body["disabled_reason"]
        # Disabled: the pending retry is not sent; enabling again resumes it.
        time.sleep(6)
        assert len(_for_order(receiver, order["id"])) == 1
        enabled = market.request("PATCH", f"/api/v1/webhooks/endpoints/{endpoint['id']}",
                                 token=market.seller, json={"disabled": False})
        assert enabled.status_code == 200 and enabled.json()["disabled_reason"] is None
        market.wait_for(lambda: len(_for_order(receiver, order["id"])) == 2, 15)
    finally:
        _delete(market, market.seller, endpoint["id"])


def test_nothing_is_lost_when_the_dispatcher_is_sigkilled(market, receiver):
    endpoint = _endpoint(market, market.seller, receiver.url, events=["order.created"])
    receiver.secrets = [endpoint["secret"]]
    stack = market.stack
    try:
        # The first request hangs past the timeout: the dispatcher is killed mid-request,
        # with the delivery's row locked and its attempt unrecorded.
        receiver.plan.extend(["slow"])
        orders = [market.placed(market.product()) for _ in range(3)]
        market.wait_for(lambda: receiver.received, 15)
        # The dispatcher loop runs in the marketplace's worker process: SIGKILL it whole.
        pid = stack.processes["transaction-workers"].pid
        os.killpg(pid, signal.SIGKILL)
        market.wait_for(lambda: not stack.processes["transaction-workers"].running(), 10)
        stack.start_process("transaction-workers")
        for order in orders:
            market.wait_for(lambda o=order: _for_order(receiver, o["id"]), 30)
        ids = {_for_order(receiver, o["id"])[0].webhook_id for o in orders}
        for event_id in ids:
            _wait_delivery(market, endpoint["id"], event_id, "delivered")
        assert all(r.verified for r in receiver.received if r.webhook_id in ids)
    finally:
        _delete(market, market.seller, endpoint["id"])


def test_a_creator_endpoint_gets_commission_earned_with_only_their_lines(market, receiver):
    from test_creator_commission import (
        RATE,
        _content,
        _creator,
        _product,
    )

    creator_token, creator_id = _creator(market)
    attributed, plain = _product(market), _product(market, rate=0, price=40_000)
    content = _content(market, creator_token, [attributed])
    endpoint = _endpoint(market, creator_token, receiver.url + "/creator",
                         events=["commission.earned"])
    shop_endpoint = _endpoint(market, market.seller, receiver.url + "/shop", events=["*"])
    receiver.secrets = [endpoint["secret"], shop_endpoint["secret"]]
    try:
        response = market.checkout(
            [{"product_id": attributed, "quantity": 2, "content_id": content},
             {"product_id": plain, "quantity": 1}], token=market.buyer)
        assert response.status_code == 201, response.text
        order_id = response.json()["order"]["id"]
        assert market.pay(order_id).status_code == 200
        market.wait_status(order_id, "AWAITING_SHIPMENT")
        assert market.post(f"/api/v1/orders/{order_id}/ship", token=market.seller,
                           json={"tracking_number": "JNE-COMM-1"}).status_code == 200
        assert market.post(f"/api/v1/orders/{order_id}/confirm-receipt",
                           token=market.buyer).status_code == 200

        earned = market.wait_for(lambda: [
            r for r in receiver.of_type("commission.earned")
            if r.event["data"]["order_id"] == order_id
            and r.path == "/hooks/creator"], 30)
        assert len(earned) == 1 and earned[0].verified
        data = earned[0].event["data"]
        commission = 2 * 185_001 * RATE // 10_000
        assert data["commission"] == {"amount": commission, "currency": "IDR"}
        assert [line["product_id"] for line in data["items"]] == [attributed]
        assert "shipping_address" not in data and "buyer_id" not in data
        # The creator's endpoint got nothing but its commission event; the shop's endpoint
        # never gets the creator's commission event.
        assert {r.event["type"] for r in receiver.received
                if r.path == "/hooks/creator"} == {"commission.earned"}
        assert not [r for r in receiver.of_type("commission.earned")
                    if r.path == "/hooks/shop"]
    finally:
        _delete(market, creator_token, endpoint["id"])
        _delete(market, market.seller, shop_endpoint["id"])
