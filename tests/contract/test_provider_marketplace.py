"""Provider side: the real marketplace (transaction service under gunicorn, its Postgres)
accepts the notifications the payment sandbox sends, and a notification whose field the
marketplace needs is renamed fails."""

from __future__ import annotations

import json

import psycopg2
import pytest
from pact import Verifier
from pact_support import (
    CHECKOUT_ID,
    MARKETPLACE,
    NOTIFIED_ORDER_ID,
    REFUND_AMOUNT,
    REFUNDED_ORDER_ID,
    SANDBOX_MARKETPLACE_PACT,
)
from provider_states import MarketplaceStates


def marketplace_verifier(stack, pact_file, states: MarketplaceStates) -> Verifier:
    return (
        Verifier(MARKETPLACE, host="127.0.0.1")
        .add_transport(url=stack.urls.transaction)
        .add_source(str(pact_file))
        .state_handler(states, teardown=False)
        .set_request_timeout(10_000)
    )


def test_marketplace_accepts_the_sandbox_notifications(contract_stack):
    assert SANDBOX_MARKETPLACE_PACT.exists(), "run the consumer tests first"
    states = MarketplaceStates(contract_stack)
    try:
        marketplace_verifier(contract_stack, SANDBOX_MARKETPLACE_PACT, states).verify()
    finally:
        assert not states.errors, states.errors
    # The settlement really moved the order: the signature and amount were accepted.
    with psycopg2.connect(contract_stack.dsn("superuser", "etalase_transaction")) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM orders WHERE id = %s", (NOTIFIED_ORDER_ID,))
            assert cur.fetchone() == ("AWAITING_SHIPMENT",)
            # The partial_refund confirmed the refund we asked for (by its refund_key),
            # and the ledger released exactly its amount from escrow.
            cur.execute("SELECT status FROM refunds WHERE order_id = %s", (REFUNDED_ORDER_ID,))
            assert cur.fetchall() == [("succeeded",)]
            cur.execute("SELECT l.amount FROM journal_entries e JOIN journal_lines l"
                        " ON l.entry_id = e.id AND l.account = 'escrow'"
                        " WHERE e.kind = 'refund_issued' AND e.reference LIKE %s",
                        (f"{REFUNDED_ORDER_ID}:%",))
            assert cur.fetchall() == [(REFUND_AMOUNT,)]
            cur.execute("SELECT outcome FROM payment_notifications WHERE order_id = %s",
                        (REFUNDED_ORDER_ID,))
            assert cur.fetchall() == [("refunded",)]
            # The checkout's one settlement paid both its orders.
            cur.execute("SELECT status FROM orders WHERE checkout_id = %s", (CHECKOUT_ID,))
            assert cur.fetchall() == [("AWAITING_SHIPMENT",)] * 2
            cur.execute("SELECT status FROM checkouts WHERE id = %s", (CHECKOUT_ID,))
            assert cur.fetchone() == ("PAID",)
    conn.close()


def test_a_renamed_notification_field_breaks_the_marketplace_contract(contract_stack, tmp_path):
    """The sandbox suddenly sends `gross_amt`: the marketplace refuses (422), not 200."""
    pact = json.loads(SANDBOX_MARKETPLACE_PACT.read_text())
    settlement = next(
        i for i in pact["interactions"] if "settlement" in i["description"]
    )
    body = settlement["request"]["body"]["content"]
    body["gross_amt"] = body.pop("gross_amount")
    pact["interactions"] = [settlement]
    altered = tmp_path / SANDBOX_MARKETPLACE_PACT.name
    altered.write_text(json.dumps(pact))
    states = MarketplaceStates(contract_stack)
    verifier = marketplace_verifier(contract_stack, altered, states)
    with pytest.raises(RuntimeError):
        verifier.verify()
    assert not states.errors, states.errors
    assert "expected 200 but was 422" in verifier.output(strip_ansi=True).lower()
