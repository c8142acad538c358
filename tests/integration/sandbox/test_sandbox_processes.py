"""Process-level behaviour: restarts, concurrency between workers and notifiers, SIGTERM."""

import itertools
import json
import threading
import time
import uuid
from collections import Counter

import pytest
import requests

from payment_sandbox.domain.signature import verify_signature

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_concurrent_charges_of_one_order_create_one_transaction(sandbox, order_id):
    results: list[requests.Response] = []
    lock = threading.Lock()

    def charge():
        response = sandbox.charge(order_id, 42000, payment_type="gopay")
        with lock:
            results.append(response)

    threads = [threading.Thread(target=charge) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = Counter(r.status_code for r in results)
    assert codes == {201: 1, 406: 11}, codes  # Midtrans: duplicate order ID
    [created] = [r.json() for r in results if r.status_code == 201]
    assert sandbox.get(f"/v2/{order_id}/status").json()["transaction_id"] == \
        created["transaction_id"]
    assert [d["transaction_status"] for d in sandbox.deliveries(order_id)] == ["pending"]


def test_two_notifiers_never_send_the_same_delivery(sandbox, receiver):
    orders = [f"it-many-{uuid.uuid4().hex[:12]}" for _ in range(10)]
    for order in orders:
        sandbox.charge(order, 1000, payment_type="gopay")
        sandbox.pay(order, deliver_times=5)
    for order in orders:
        receiver.wait_for(order, lambda rs: len(rs) >= 6, timeout=20)
    time.sleep(0.5)
    request_ids = Counter()
    notifiers = set()
    for order in orders:
        records = receiver.for_order(order, delivered_only=False)
        assert len(records) == 6  # 1 pending + 5 settlements, each exactly once
        request_ids.update(r["headers"]["X-Request-ID"] for r in records)
        for delivery in sandbox.deliveries(order):
            assert delivery["state"] == "delivered"
            assert delivery["attempts"] == 1
            notifiers.update(a["notifier"] for a in delivery["attempt_log"])
    assert set(request_ids.values()) == {1}
    assert len(notifiers) == 2, "both notifier processes should have taken work"


def test_one_notifier_sends_concurrently_but_one_order_at_a_time(receiver, make_sandbox):
    """A slow merchant must not hold back other orders' notifications, and one order's
    notifications never overtake each other in flight."""
    stack = make_sandbox("concurrent", extra_env={"SANDBOX_NOTIFIER_CONCURRENCY": "4"})
    orders = [f"it-conc-{uuid.uuid4().hex[:12]}" for _ in range(6)]
    receiver.slow(orders, 0.4)
    for order in orders:
        stack.charge(order, 1000, payment_type="gopay")
        stack.pay(order, deliver_times=2)  # pending + 2 settlements queued per order
    started = time.monotonic()
    stack.start_notifier()
    for order in orders:
        receiver.wait_for(order, lambda rs: len(rs) >= 3, timeout=30)
    elapsed = time.monotonic() - started
    stack.stop_notifiers()

    spans = []
    for order in orders:
        records = sorted(receiver.for_order(order), key=lambda r: r["received"])
        assert [r["body"]["transaction_status"] for r in records] == [
            "pending", "settlement", "settlement"]
        for earlier, later in itertools.pairwise(records):
            assert later["received"] >= earlier["at"], f"{order}: two sends overlapped"
        spans += [(r["received"], r["at"]) for r in records]
    most_at_once = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert 2 <= most_at_once <= 4
    # 18 answers of 0.4 s one after another would take 7.2 s.
    assert elapsed < 18 * 0.4


def test_state_and_queue_survive_restarts(receiver, make_sandbox):
    stack = make_sandbox("restart", workers=1)
    order_id = f"it-restart-{uuid.uuid4().hex[:12]}"
    assert stack.charge(order_id, 123000).status_code == 201
    assert stack.pay(order_id).status_code == 200
    # no notifier yet: the notifications wait in the queue
    queued = stack.deliveries(order_id)
    assert [(d["transaction_status"], d["state"]) for d in queued] == [
        ("pending", "queued"), ("settlement", "queued")]

    stack.stop_web()
    stack.start_web()
    status = stack.get(f"/v2/{order_id}/status").json()
    assert status["transaction_status"] == "settlement"
    assert status["gross_amount"] == "123000.00"

    once = stack.start_notifier("--once")
    assert once.wait(20) == 0
    delivered = receiver.for_order(order_id)
    assert [r["body"]["transaction_status"] for r in delivered] == ["pending", "settlement"]
    assert all(verify_signature(r["body"], stack.server_key) for r in delivered)
    assert all(d["state"] == "delivered" for d in stack.deliveries(order_id))


def test_notifier_exits_cleanly_on_sigterm_and_logs_json(receiver, make_sandbox):
    stack = make_sandbox("sigterm", workers=1)
    notifier = stack.start_notifier()
    order_id = f"it-term-{uuid.uuid4().hex[:12]}"
    stack.charge(order_id, 5000, payment_type="shopeepay")
    receiver.wait_for(order_id, lambda rs: len(rs) >= 1)
    started = time.monotonic()
    assert stack.stop_notifiers() == [0]
    assert time.monotonic() - started < 5
    assert notifier.returncode == 0
    lines = [json.loads(line) for line in stack.logs("notifier.log").splitlines()
             if line.startswith("{")]
    messages = {line["message"] for line in lines}
    assert {"notifier started", "notification delivered", "notifier stopped"} <= messages
    delivered = next(x for x in lines if x["message"] == "notification delivered")
    assert delivered["request_id"]
    assert delivered["order_id"] == order_id


def test_unreachable_receiver_is_a_retried_failure(make_sandbox, dead_url, wait_until):
    stack = make_sandbox("dead", dead_url, workers=1, retry_schedule="0.1,0.1")
    stack.start_notifier()
    order_id = f"it-dead-{uuid.uuid4().hex[:12]}"
    stack.charge(order_id, 5000, payment_type="gopay")

    def failed():
        [delivery] = stack.deliveries(order_id)
        return delivery["state"] == "failed" and delivery

    delivery = wait_until(failed, timeout=15)
    assert delivery["attempts"] == 3
    assert all(a["response_status"] is None for a in delivery["attempt_log"])
    assert "ConnectionError" in delivery["last_error"]
