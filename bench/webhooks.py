# ruff: noqa: S603, S607 - runs fixed local tools (devstack)
"""Webhook figures for `make bench` (issue 19), also runnable alone:

    python -m bench.webhooks [--pipeline-duration 15] [--deliveries 2000] [--json PATH]

- the purchase pipeline (32 buyers through the gateway) without any webhook endpoint, then
  with one seller endpoint subscribed to every event (a receiver on loopback answering
  204): stack CPU ms per paid order of each, and the difference: what webhooks add
  (recording order.created and order.paid in the changing transactions, and the
  dispatcher signing and sending them). The CPU is taken from the first checkout until
  every purchase is paid, relayed and its webhooks delivered, divided by the orders paid;
- delivery throughput: a backlog of `--deliveries` events, recorded with the same
  `record_event` the marketplace uses while the dispatcher is stopped, then drained by one
  dispatcher process (WEBHOOK_DISPATCH_CONCURRENCY senders): deliveries per second and
  stack CPU ms per delivery.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402
import requests  # noqa: E402

from tools import procs  # noqa: E402
from tools.webhook_receiver import Receiver  # noqa: E402

# The dispatcher is a loop of the marketplace's worker process (servicekit.workers): its
# CPU is that process's (the other loops idle while a backlog drains), and stopping it
# stops them too.
DISPATCHER = "transaction-workers"


def _stack_ms_per_unit(cpu_s: dict, roots: dict, units: int) -> float | None:
    """CPU of the stack's own process trees (not the load generator, not the ceilings)."""
    if not units:
        return None
    return round(sum(v for k, v in cpu_s.items() if k in roots) * 1000 / units, 2)


def _register(gateway: str, seller: str, url: str) -> str:
    response = requests.post(f"{gateway}/api/v1/webhooks/endpoints",
                             headers={"Authorization": f"Bearer {seller}"},
                             json={"url": url, "events": ["*"], "description": "bench"},
                             timeout=30)
    response.raise_for_status()
    return response.json()["id"]


def _pending(dsn: str, endpoint_id: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = %s "
                       "AND status = 'pending'", (endpoint_id,))
        count = cursor.fetchone()[0]
    conn.close()
    return count


def _wait_drained(dsn: str, endpoint_id: str, timeout: float) -> float:
    started = time.monotonic()
    while _pending(dsn, endpoint_id) and time.monotonic() - started < timeout:
        time.sleep(0.05)
    return time.monotonic() - started


def _db_now(dsn: str):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
    conn.close()
    return now


def _paid_since(dsn: str, since) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders WHERE created_at >= %s "
                       "AND paid_at IS NOT NULL", (since,))
        count = cursor.fetchone()[0]
    conn.close()
    return count


def _outbox_drained(dsn: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM outbox WHERE processed_at IS NULL")
            left = cursor.fetchone()[0]
        conn.close()
        if not left:
            return
        time.sleep(0.1)


def _whole_cost(stack, run, endpoint_id: str | None) -> dict:
    """Stack CPU from the first checkout until every purchase of the run is paid, its
    outbox relayed and its webhooks delivered, per order paid: robust to a loaded machine
    (`run_pipeline` counts only purchases begun and finished inside its window)."""
    from bench.measure import CpuMeter

    dsn = stack.dsn("transaction")
    roots = procs.stack_roots(stack)
    since = _db_now(dsn)
    with CpuMeter(roots) as meter:
        scenario = run()
        _outbox_drained(dsn)
        if endpoint_id:
            _wait_drained(dsn, endpoint_id, 120)
    paid = _paid_since(dsn, since)
    stack_cpu = {k: v for k, v in meter.used.items() if k in roots}
    scenario.extra["whole_run"] = {
        "orders_paid": paid,
        "stack_cpu_s": stack_cpu,
        "stack_cpu_ms_per_paid_order": round(sum(stack_cpu.values()) * 1000 / paid, 2)
        if paid else None,
    }
    return scenario


def _backlog(dsn: str, shop_id: str, count: int) -> None:
    """`count` order.paid-sized events through the marketplace's own record_event."""
    from transaction_service.store.webhooks import record_event

    data = {"id": "00000000-0000-0000-0000-000000000000", "status": "AWAITING_SHIPMENT",
            "shop_id": shop_id, "items": [{"title": "Bench batik tulis", "quantity": 1}] * 3,
            "total": {"amount": 99000, "currency": "IDR"}, "note": "x" * 600}
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            for _ in range(count):
                record_event(cursor, "order.paid", data, shop_id=shop_id)
        conn.commit()
    finally:
        conn.close()


def run(stack, tokens: list[str], product_id: str, roots: dict, seller: str, *,
        duration: float, deliveries: int = 2000, log=print) -> dict:
    """The webhook scenarios on a running bench stack; returns {name: Scenario}."""
    from bench.measure import CpuMeter, Scenario
    from bench.pipeline import run_pipeline

    gateway, dsn = stack.urls.gateway, stack.dsn("transaction")
    stack_roots = procs.stack_roots(stack)
    me = requests.get(f"{gateway}/api/v1/auth/me", headers={"Authorization": f"Bearer {seller}"},
                      timeout=30).json()
    scenarios = {}
    without = _whole_cost(stack, lambda: run_pipeline(
        stack, "pipeline, no webhook endpoint", "gateway", tokens, product_id, duration, roots),
        None)
    receiver = Receiver().start()
    try:
        endpoint_id = _register(gateway, seller, receiver.url)
        with_hook = _whole_cost(stack, lambda: run_pipeline(
            stack, "pipeline, one webhook endpoint", "gateway", tokens, product_id, duration,
            roots), endpoint_id)
        before = without.extra["whole_run"]["stack_cpu_ms_per_paid_order"]
        after = with_hook.extra["whole_run"]["stack_cpu_ms_per_paid_order"]
        for scenario in (without, with_hook):  # inside run_pipeline's window only
            scenario.extra["window_stack_cpu_ms_per_paid_order"] = _stack_ms_per_unit(
                scenario.cpu_s, stack_roots, scenario.requests)
        with_hook.extra["webhook_cpu_ms_added_per_paid_order"] = (
            round(after - before, 2) if before is not None and after is not None else None)
        whole = with_hook.extra["whole_run"]
        with_hook.extra["dispatcher_cpu_ms_per_paid_order"] = (
            round(whole["stack_cpu_s"].get(DISPATCHER, 0) * 1000 / whole["orders_paid"], 2)
            if whole["orders_paid"] else None)
        scenarios[without.name], scenarios[with_hook.name] = without, with_hook
        log(f"webhooks: stack CPU per paid order {before} ms without, {after} ms with one "
            f"endpoint")

        # Delivery throughput: a backlog drained by one dispatcher.
        stack.stop_process(DISPATCHER)
        _backlog(dsn, me["shop_id"], deliveries)
        received_before = len(receiver.received)
        stack.start_process(DISPATCHER)
        roots_now = {**roots, **procs.stack_roots(stack)}
        throughput = Scenario("webhook deliveries (backlog drain)", "webhook", "-",
                              receiver.url)
        with CpuMeter(roots_now) as meter:
            took = _wait_drained(dsn, endpoint_id, 300)
        sent = len(receiver.received) - received_before
        throughput.requests = sent
        throughput.rps = round(sent / took, 1) if took else 0.0
        throughput.errors = _pending(dsn, endpoint_id)
        throughput.cpu_s = meter.used
        throughput.extra = {
            "unit": "deliveries/s (signed POST answered 204), one dispatcher",
            "backlog": deliveries, "drain_s": round(took, 2),
            "stack_cpu_ms_per_delivery": _stack_ms_per_unit(
                meter.used, procs.stack_roots(stack), sent),
        }
        scenarios[throughput.name] = throughput
        log(f"webhooks: {throughput.rps} deliveries/s ({sent} in {took:.1f} s)")
        # The scenarios after this one measure the stack without webhooks again.
        requests.delete(f"{gateway}/api/v1/webhooks/endpoints/{endpoint_id}",
                        headers={"Authorization": f"Bearer {seller}"}, timeout=30)
    finally:
        receiver.stop()
    return scenarios


def main(argv: list[str] | None = None) -> int:
    from dataclasses import asdict

    from bench.measure import NO_RATE_LIMITS
    from bench.pipeline import BUYERS
    from tools import shopper
    from tools.stacks import throwaway_stack

    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline-duration", type=int, default=15)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench" / "results"
                        / "webhooks.json")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with throwaway_stack("etalase-bench-webhooks-", sandbox_retry_schedule=None,
                         gateway_settings=NO_RATE_LIMITS) as stack:
        gateway = stack.urls.gateway
        seller = shopper.login(gateway, shopper.DEMO_SELLER)
        product = shopper.create_product(gateway, seller, stock=1_000_000, price=99000,
                                         title="Bench batik tulis")
        tokens = [shopper.new_buyer(gateway, "bench") for _ in range(BUYERS)]
        time.sleep(2)
        scenarios = run(stack, tokens, product["id"], procs.stack_roots(stack), seller,
                        duration=args.pipeline_duration, deliveries=args.deliveries)
    doc = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           # Other work on the machine skews every number: recorded, not hidden.
           "machine": {"cores": os.cpu_count(), "loadavg_1m_before": round(load_before, 2),
                       "loadavg_1m_after": round(os.getloadavg()[0], 2)},
           "scenarios": [asdict(s) for s in scenarios.values()]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
