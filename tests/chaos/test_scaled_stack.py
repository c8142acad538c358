"""`make run SCALE=2` (issue 13): two gunicorn instances of each service behind the
gateway's upstreams and two copies of each background worker, under the checkout-and-pay
load plus expiries, auto-completions, refunds and payouts, with nothing processed twice.

The two copies of each worker race for the same rows (claims are `FOR UPDATE SKIP LOCKED`,
the sandbox's an atomic UPDATE); `tools.chaos.processed_twice` looks for the traces a race
would leave (an order event, ledger entry or payout audited twice, an outbox row or a
notification delivered twice, a refund made twice), and `chaos.verify` (run by
`chaos.run`) holds the stock, paid-order, ledger and audit invariants.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devstack.stack import WEB_SERVICES, WORKERS
from tools import chaos, shopper
from tools.stacks import throwaway_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE_ENV = {
    **chaos.CHAOS_ENV,
    "transaction": {**chaos.CHAOS_ENV["transaction"], "PAYMENT_EXPIRY_SECONDS": "6",
                    "AUTO_COMPLETE_SECONDS": "1"},
}


def _orders(stack, ids) -> dict[str, tuple[str, str]]:
    rows = chaos._pg_rows(stack.dsn("transaction"), """
        SELECT o.id::text, o.status, p.status FROM orders o JOIN payments p ON p.order_id = o.id
         WHERE o.id = ANY(%s::uuid[])""", (list(ids),))
    return {order_id: (status, payment) for order_id, status, payment in rows}


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return value


def _concurrently(calls) -> list[requests.Response]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def _access_lines(stack, pattern: str):
    for path in sorted(stack.logs_dir.glob(pattern)):
        for line in path.read_text(errors="replace").splitlines():
            if '"message": "request"' in line or '"message":"request"' in line:
                yield path.stem, json.loads(line)


def test_two_of_everything_process_each_thing_once():
    # Two single-worker gunicorns per service: as many web processes as one stack has.
    with throwaway_stack("etalase-scale-test-", scale=2, web_concurrency=1, env_overrides=SCALE_ENV,
                         sandbox_retry_schedule=chaos.CHAOS_RETRY_SCHEDULE,
                         fast_unsafe_db=True) as stack:
        running = stack.running()
        for name in (*WEB_SERVICES, *WORKERS):
            assert running.get(name) and running.get(f"{name}-2"), running
        conf = (stack.run_dir / "gateway" / "nginx.conf").read_text()
        for service in WEB_SERVICES:
            for instance in (service, f"{service}-2"):
                assert f"server 127.0.0.1:{stack.ports[instance]};" in conf, service
        gw = stack.urls.gateway
        session = requests.Session()

        # Orders for the money edges: some left unpaid (both payment-expiry workers race
        # for them), some shipped (both auto-complete workers), some cancelled after
        # payment (refunds through both relays; each cancel sent twice at once).
        seller = shopper.login(gw, shopper.DEMO_SELLER)
        product = shopper.create_product(gw, seller, stock=100, price=210000)
        buyer = shopper.new_buyer(gw, "scale")
        placed = []
        for n in range(10):
            # The ones to cancel pay by e-wallet: the provider refunds those (a bank
            # transfer becomes a manual refund that waits for an admin).
            answer = shopper.checkout(session, gw, buyer, product["id"],
                                      method="ewallet" if n >= 7 else "bank_transfer")
            assert answer.status_code == 201, answer.text
            placed.append(answer.json()["order"]["id"])
        unpaid, to_ship, to_cancel = placed[:3], placed[3:7], placed[7:]
        for order_id in to_ship + to_cancel:
            assert shopper.pay(session, f"{gw}/sandbox", order_id).status_code == 200
        _wait(lambda: all(s == "AWAITING_SHIPMENT"
                          for s, _p in _orders(stack, to_ship + to_cancel).values()), 30,
              "payments not settled")
        for order_id in to_ship:
            answer = session.post(f"{gw}/api/v1/orders/{order_id}/ship",
                                  headers={"Authorization": f"Bearer {seller}"},
                                  json={"tracking_number": f"JNE-{uuid.uuid4().hex[:10]}"})
            assert answer.status_code == 200, answer.text
        for order_id in to_cancel:
            key = str(uuid.uuid4())
            answers = _concurrently([lambda oid=order_id, k=key: requests.post(
                f"{gw}/api/v1/orders/{oid}/cancel",
                headers={"Authorization": f"Bearer {buyer}", "Idempotency-Key": k},
                timeout=30)] * 2)
            assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]
            assert 200 in {a.status_code for a in answers}

        # The chaos load (no faults) on the scaled stack, then every chaos invariant.
        report = chaos.run(stack, duration=8, fault_names=(), concurrency=6, buyers=2,
                           catch_up_timeout=40, log=lambda _m: None)
        assert report.ok, chaos.render(report)
        assert report.facts["orders_by_status"].get("AWAITING_SHIPMENT", 0) >= 10, report.facts

        def edges_done():
            states = _orders(stack, placed)
            return (all(states[o][0] == "EXPIRED" for o in unpaid)
                    and all(states[o][0] == "COMPLETED" for o in to_ship)
                    and all(states[o] == ("CANCELLED", "refunded") for o in to_cancel))

        _wait(edges_done, 30, f"money edges did not finish: {_orders(stack, placed)}")

        # Payouts through both marketplace instances: one key sent four times at once
        # makes one payout; four keys for more than the balance never overdraw it.
        auth = {"Authorization": f"Bearer {seller}"}
        balance = session.get(f"{gw}/api/v1/sellers/me/balance", headers=auth).json()
        available = balance["available"]
        assert available > 0, balance
        key = str(uuid.uuid4())
        same_key = _concurrently([lambda: requests.post(
            f"{gw}/api/v1/sellers/me/payouts", headers={**auth, "Idempotency-Key": key},
            json={"amount": 1000}, timeout=30)] * 4)
        assert {a.status_code for a in same_key} <= {201, 409}, [a.text for a in same_key]
        assert len({a.json()["id"] for a in same_key if a.status_code == 201}) == 1
        half = (available - 1000) // 2 + 1
        distinct = _concurrently([lambda: requests.post(
            f"{gw}/api/v1/sellers/me/payouts",
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
            json={"amount": half}, timeout=30) for _ in range(4)])
        codes = Counter(a.status_code for a in distinct)
        assert codes[201] == 1 and codes[201] + sum(
            n for c, n in codes.items() if 400 <= c < 500) == 4, [a.text for a in distinct]
        payouts = chaos._pg_rows(stack.dsn("transaction"),
                                 "SELECT amount FROM payouts WHERE shop_id = %s",
                                 (product["shop_id"],))
        assert sorted(a for (a,) in payouts) == sorted([1000, half]), payouts

        # Nothing done twice, anywhere; and the showcase saw each first-try outbox
        # delivery once (two relays delivering one row would show up here).
        assert chaos.processed_twice(stack) == []
        violations, _facts = chaos.verify(stack, product["id"], 100, None)
        assert violations == []
        first_try = {(kind, order_id) for kind, order_id in chaos._pg_rows(
            stack.dsn("transaction"), "SELECT kind, order_id::text FROM outbox "
            "WHERE attempts = 1 AND outcome = 'done' AND kind = 'reservation_commit'")}
        calls = Counter()
        served: Counter = Counter()
        for instance, line in _access_lines(stack, "storefront*.log"):
            served[instance] += 1
            match = re.fullmatch(r"/internal/reservations/([0-9a-f-]+)/commit", line["path"])
            if match:
                calls[match.group(1)] += 1
        assert first_try and all(calls[o] == 1 for _k, o in first_try), calls.most_common(3)
        for _instance, _line in _access_lines(stack, "transaction*.log"):
            served[_instance] += 1
        # Both instances of each service took their share through the upstream.
        for instance in ("storefront", "storefront-2", "transaction", "transaction-2"):
            assert served[instance] > 20, served
