"""The webhook part of `make chaos`: a healthy receiver subscribed to every event of the
load's shop, and after the run the check that every committed event was delivered to it
exactly once counted by `webhook-id` (at-least-once delivery: a dispatcher killed after
sending but before recording sends again with the same id, which receivers deduplicate),
with a signature that the `standardwebhooks` package verifies, and nothing left pending
or failed.

The catch-up (tools.chaos.wait_caught_up) saw no delivery pending at one moment, but the
workers keep making events after it: an auto-complete or a payment expiry due a second
later (test_scaled_stack runs with AUTO_COMPLETE_SECONDS=1) commits an order event whose
delivery is pending when `verify` reads. So `verify` judges a reading of the deliveries in
which none is pending (waiting for one, bounded), and what the receiver got after it.
"""

from __future__ import annotations

import time
from collections import Counter

import psycopg2
import requests

from tools.webhook_receiver import Receiver

# Retries a few seconds apart, so what a fault interrupted is delivered within the run.
CHAOS_WEBHOOK_ENV = {"WEBHOOK_RETRY_SCHEDULE": "1,1,2,2,3,5,8"}
# How long verify waits for deliveries of events made after the catch-up; longer than the
# schedule above (22 s), so a delivery still being retried is given up on or delivered.
SETTLE_SECONDS = 30.0


class WebhookCheck:
    def __init__(self, stack, seller_token: str):
        self.stack = stack
        self.receiver = Receiver().start()
        response = requests.post(
            f"{stack.urls.gateway}/api/v1/webhooks/endpoints",
            headers={"Authorization": f"Bearer {seller_token}"},
            json={"url": self.receiver.url, "events": ["*"], "description": "chaos receiver"},
            timeout=30,
        )
        response.raise_for_status()
        self.endpoint_id = response.json()["id"]
        self.receiver.secrets = [response.json()["secret"]]

    def pending(self) -> int:
        """Deliveries neither delivered nor given up on, a retry scheduled for later
        included (status stays 'pending' until the last attempt of the schedule)."""
        return _rows(self.stack, "SELECT count(*) FROM webhook_deliveries "
                                 "WHERE endpoint_id = %s AND status = 'pending'",
                     (self.endpoint_id,))[0][0]

    def _deliveries(self) -> dict[str, str]:
        return dict(_rows(self.stack, """
            SELECT d.event_id, d.status FROM webhook_deliveries d
             WHERE d.endpoint_id = %s""", (self.endpoint_id,)))

    def verify(self, settle_seconds: float = SETTLE_SECONDS) -> tuple[list[str], dict]:
        # A reading with nothing pending: each delivery in it is delivered (the receiver
        # recorded it before answering 2xx, so before that reading) or given up on.
        deadline = time.monotonic() + settle_seconds
        while "pending" in (settled := self._deliveries()).values() \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        received = self.receiver.ids()
        # Whatever the receiver got was committed before it was sent: read after it.
        committed_after = set(self._deliveries())
        self.receiver.stop()
        unverified = [r.webhook_id for r in self.receiver.received if not r.verified]
        violations = judge(settled, received, committed_after, unverified, settle_seconds)
        counted = Counter(received)
        facts = {
            "webhook_events_committed": len(settled),
            "webhook_ids_received": len(counted),
            # Re-sent after a fault cut a delivery between sending and recording it.
            "webhook_redeliveries": sum(n - 1 for n in counted.values()),
        }
        return violations, facts


def judge(settled: dict[str, str], received: list[str], committed_after: set[str],
          unverified: list[str], settle_seconds: float = SETTLE_SECONDS) -> list[str]:
    """The webhook violations. `settled`: event id -> delivery status, read when none was
    pending (or when the wait for that ran out); `received`: the webhook-ids the receiver
    got, read after `settled`; `committed_after`: the event ids with a delivery, read after
    `received` (an event made after `settled` may have been received: not a phantom)."""
    missing = sorted(set(settled) - set(received))
    phantom = sorted(set(received) - committed_after - set(settled))
    not_delivered = sorted(f"{e} ({status})" for e, status in settled.items()
                           if status != "delivered")
    violations = []
    if missing:
        violations.append(f"webhooks: {len(missing)} committed event(s) never delivered: "
                          f"{missing[:5]}")
    if phantom:
        violations.append(f"webhooks: {len(phantom)} delivered id(s) with no committed "
                          f"event: {phantom[:5]}")
    if not_delivered:
        still = sum(1 for status in settled.values() if status == "pending")
        violations.append(f"webhooks: {len(not_delivered)} deliveries not marked delivered"
                          + (f" ({still} still pending after {settle_seconds:g}s)"
                             if still else "") + f": {not_delivered[:5]}")
    if unverified:
        violations.append(f"webhooks: {len(unverified)} signature(s) did not verify: "
                          f"{unverified[:5]}")
    if not settled:
        violations.append("webhooks: the load produced no event at all")
    return violations


def _rows(stack, query: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(stack.dsn("transaction"), connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()
    finally:
        conn.close()
