"""Consumer side: the payment sandbox notifying the marketplace (DESIGN.md §7).

The sandbox is the consumer of `POST /api/v1/payments/notifications/sandbox`. The test runs
the sandbox's own code end to end - a charge, the customer paying, the notifier delivering
the queued notifications - against a pact mock server, so the pact holds exactly the
bodies the sandbox sends (signed with the contracts' server key). The pact is written to
`pacts/etalase-payment-sandbox-etalase-marketplace.json` and replayed against the real
marketplace by `test_provider_marketplace.py`.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from pact import Pact, match
from pact_support import (
    CHECKOUT_ID,
    CHECKOUT_ORDER_IDS,
    CHECKOUT_ORDER_TOTALS,
    CHECKOUT_TOTAL,
    CONTRACT_SERVER_KEY,
    MARKETPLACE,
    NOTIFIED_ORDER_ID,
    NOTIFIED_TOTAL,
    OTHER_SHOP_ID,
    REFUND_AMOUNT,
    REFUND_KEY,
    REFUNDED_ORDER_ID,
    REFUNDED_TOTAL,
    SANDBOX,
    SANDBOX_MARKETPLACE_PACT,
    SHOP_ID,
)

from payment_sandbox.config import Config
from payment_sandbox.domain.signature import format_amount, signature_key
from payment_sandbox.provider import Provider
from payment_sandbox.store import Store
from payment_sandbox.workers.notifier import Notifier

MIDTRANS_TIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
STATE = "an UNPAID order awaiting payment"
STATE_PARAMETERS = {"order_id": NOTIFIED_ORDER_ID, "total": NOTIFIED_TOTAL, "shop_id": SHOP_ID}
CHECKOUT_STATE = "an UNPAID checkout of two shops' orders"
CHECKOUT_STATE_PARAMETERS = {"checkout_id": CHECKOUT_ID, "total": CHECKOUT_TOTAL,
                             "order_ids": list(CHECKOUT_ORDER_IDS),
                             "totals": list(CHECKOUT_ORDER_TOTALS),
                             "shop_ids": [SHOP_ID, OTHER_SHOP_ID]}
REFUND_STATE = "a paid e-wallet order with a provider refund requested"
REFUND_STATE_PARAMETERS = {"order_id": REFUNDED_ORDER_ID, "total": REFUNDED_TOTAL,
                           "shop_id": SHOP_ID, "refund_key": REFUND_KEY,
                           "refund_amount": REFUND_AMOUNT}


def notification(status: str, status_code: str, *, settled: bool,
                 order_id: str = NOTIFIED_ORDER_ID, total: int = NOTIFIED_TOTAL,
                 transaction_id: str = "2d4909aa-7fe1-49bb-988b-bc87513ea8bf") -> dict:
    """The body the sandbox sends, with matchers where a value differs per run."""
    gross = format_amount(total)
    body = {
        "transaction_time": match.regex("2026-01-02 10:00:00", regex=MIDTRANS_TIME),
        "transaction_status": status,
        # Replayed as is: distinct per payment (the marketplace deduplicates on it).
        "transaction_id": match.uuid(transaction_id),
        "status_message": match.str("midtrans payment notification"),
        "status_code": status_code,
        # Deterministic: what the marketplace checks, pinned exactly.
        "signature_key": signature_key(order_id, status_code, gross, CONTRACT_SERVER_KEY),
        "payment_type": "bank_transfer",
        "order_id": order_id,
        "merchant_id": match.str("SANDBOX"),
        "gross_amount": gross,
        "fraud_status": "accept",
        "currency": "IDR",
        "expiry_time": match.regex("2026-01-03 10:00:00", regex=MIDTRANS_TIME),
        "va_numbers": [{"bank": "bca", "va_number": match.regex("12345062835",
                                                                 regex=r"^[0-9]{6,20}$")}],
    }
    if settled:
        body["settlement_time"] = match.regex("2026-01-02 10:05:00", regex=MIDTRANS_TIME)
    return body


def partial_refund_notification() -> dict:
    """A GoPay payment's partial refund as the sandbox (and Midtrans) reports it: the total
    refunded so far and every refund with its refund_key."""
    gross = format_amount(REFUNDED_TOTAL)
    refunded = format_amount(REFUND_AMOUNT)
    return {
        "transaction_time": match.regex("2026-01-02 10:00:00", regex=MIDTRANS_TIME),
        "transaction_status": "partial_refund",
        "transaction_id": match.uuid("3e5a10bb-8a0f-4c1d-9f2e-cd98624fb9c0"),
        "status_message": match.str("midtrans payment notification"),
        "status_code": "200",
        "signature_key": signature_key(REFUNDED_ORDER_ID, "200", gross, CONTRACT_SERVER_KEY),
        "payment_type": "gopay",
        "order_id": REFUNDED_ORDER_ID,
        "merchant_id": match.str("SANDBOX"),
        "gross_amount": gross,
        "fraud_status": "accept",
        "currency": "IDR",
        "expiry_time": match.regex("2026-01-02 10:15:00", regex=MIDTRANS_TIME),
        "refund_amount": refunded,
        "refund_key": REFUND_KEY,
        "refund_chargeback_id": match.int(1),
        "refunds": [{
            "refund_chargeback_id": match.int(1),
            "refund_key": REFUND_KEY,
            "refund_amount": refunded,
            "reason": match.str("one item out of stock"),
            "refund_time": match.regex("2026-01-02 10:10:00", regex=MIDTRANS_TIME),
        }],
    }


@pytest.fixture
def pact(tmp_path):
    pact = Pact(SANDBOX, MARKETPLACE).with_specification("V4")
    yield pact
    pact.write_file(tmp_path)
    SANDBOX_MARKETPLACE_PACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(tmp_path / SANDBOX_MARKETPLACE_PACT.name, SANDBOX_MARKETPLACE_PACT)


def test_the_sandbox_notifies_pending_settlement_and_partial_refund(pact, tmp_path):
    path = "/api/v1/payments/notifications/sandbox"
    for description, status, code, settled in (
        ("a pending notification for a bank transfer", "pending", "201", False),
        ("a settlement notification for a bank transfer", "settlement", "200", True),
    ):
        (
            pact.upon_receiving(description)
            .given(STATE, STATE_PARAMETERS)
            .with_request("POST", path)
            .with_header("Content-Type", "application/json")
            .with_body(notification(status, code, settled=settled),
                       content_type="application/json")
            .will_respond_with(200)
        )
    (
        pact.upon_receiving("a partial_refund notification for a GoPay payment")
        .given(REFUND_STATE, REFUND_STATE_PARAMETERS)
        .with_request("POST", path)
        .with_header("Content-Type", "application/json")
        .with_body(partial_refund_notification(), content_type="application/json")
        .will_respond_with(200)
    )
    (
        # One payment for a checkout of two shops: its order_id is the checkout's id and
        # its gross_amount the checkout's total.
        pact.upon_receiving("a checkout's one payment, settled, for two shops' orders")
        .given(CHECKOUT_STATE, CHECKOUT_STATE_PARAMETERS)
        .with_request("POST", path)
        .with_header("Content-Type", "application/json")
        .with_body(notification("settlement", "200", settled=True, order_id=CHECKOUT_ID,
                                total=CHECKOUT_TOTAL,
                                transaction_id="5c6b21cc-9b1f-4d2e-8f3a-de09735fa0d1"),
                   content_type="application/json")
        .will_respond_with(200)
    )
    with pact.serve() as server:
        config = replace(
            Config(),
            server_key=CONTRACT_SERVER_KEY,
            db_path=str(tmp_path / "sandbox.sqlite3"),
            notification_url=f"{server.url}{path}",
            retry_schedule=(),
            log_level="WARNING",
        )
        store = Store(config.db_path)
        store.initialize()
        provider = Provider(store, config)
        provider.charge(
            {
                "payment_type": "bank_transfer",
                "transaction_details": {"order_id": NOTIFIED_ORDER_ID,
                                        "gross_amount": NOTIFIED_TOTAL},
                "bank_transfer": {"bank": "bca"},
            }
        )
        provider.pay(NOTIFIED_ORDER_ID)
        provider.charge({"payment_type": "gopay",
                         "transaction_details": {"order_id": REFUNDED_ORDER_ID,
                                                 "gross_amount": REFUNDED_TOTAL}})
        provider.pay(REFUNDED_ORDER_ID)
        # The GoPay order's own pending/settlement are the same shapes as above: only its
        # partial_refund notification is part of this contract.
        with store.write() as conn:
            conn.execute("UPDATE deliveries SET state = 'delivered' WHERE order_id = ?",
                         (REFUNDED_ORDER_ID,))
        provider.refund(REFUNDED_ORDER_ID, refund_key=REFUND_KEY, amount=REFUND_AMOUNT,
                        reason="one item out of stock")
        provider.charge({"payment_type": "bank_transfer", "bank_transfer": {"bank": "bca"},
                         "transaction_details": {"order_id": CHECKOUT_ID,
                                                 "gross_amount": CHECKOUT_TOTAL}})
        with store.write() as conn:  # its pending notice is the shape pinned above
            conn.execute("UPDATE deliveries SET state = 'delivered' WHERE order_id = ?",
                         (CHECKOUT_ID,))
        provider.pay(CHECKOUT_ID)
        assert Notifier(config, store).run_once() == 4
    # The sandbox took every 200 as delivered (no retry queued).
    with store.write() as conn:
        states = [row[0] for row in conn.execute("SELECT state FROM deliveries ORDER BY id")]
    assert set(states) == {"delivered"}, states
