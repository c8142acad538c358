"""The webhook part of `make chaos`: a healthy receiver subscribed to every event of the
load's shop, and after the run the check that every committed event was delivered to it
exactly once counted by `webhook-id` (at-least-once delivery: a dispatcher killed after
sending but before recording sends again with the same id, which receivers deduplicate),
with a signature that the `standardwebhooks` package verifies, and nothing left pending
or failed.
"""

from __future__ import annotations

from collections import Counter

import psycopg2
import requests

from tools.webhook_receiver import Receiver

# Retries a few seconds apart, so what a fault interrupted is delivered within the run.
CHAOS_WEBHOOK_ENV = {"WEBHOOK_RETRY_SCHEDULE": "1,1,2,2,3,5,8"}


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
        return _rows(self.stack, "SELECT count(*) FROM webhook_deliveries "
                                 "WHERE endpoint_id = %s AND status = 'pending'",
                     (self.endpoint_id,))[0][0]

    def verify(self) -> tuple[list[str], dict]:
        self.receiver.stop()
        committed = dict(_rows(self.stack, """
            SELECT d.event_id, d.status FROM webhook_deliveries d
             WHERE d.endpoint_id = %s""", (self.endpoint_id,)))
        received = Counter(self.receiver.ids())
        unverified = [r.webhook_id for r in self.receiver.received if not r.verified]
        missing = sorted(set(committed) - set(received))
        phantom = sorted(set(received) - set(committed))
        not_delivered = sorted(e for e, status in committed.items() if status != "delivered")
        violations = []
        if missing:
            violations.append(f"webhooks: {len(missing)} committed event(s) never delivered: "
                              f"{missing[:5]}")
        if phantom:
            violations.append(f"webhooks: {len(phantom)} delivered id(s) with no committed "
                              f"event: {phantom[:5]}")
        if not_delivered:
            violations.append(f"webhooks: {len(not_delivered)} deliveries not marked delivered:"
                              f" {not_delivered[:5]}")
        if unverified:
            violations.append(f"webhooks: {len(unverified)} signature(s) did not verify: "
                              f"{unverified[:5]}")
        if not committed:
            violations.append("webhooks: the load produced no event at all")
        facts = {
            "webhook_events_committed": len(committed),
            "webhook_ids_received": len(received),
            # Re-sent after a fault cut a delivery between sending and recording it.
            "webhook_redeliveries": sum(n - 1 for n in received.values()),
        }
        return violations, facts


def _rows(stack, query: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(stack.dsn("transaction"), connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()
    finally:
        conn.close()
