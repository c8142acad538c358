"""Refund rules and their ledger entries (no I/O)."""

import pytest

from transaction_service.domain import ledger
from transaction_service.domain import refunds as rules


def _refund(amount, status="succeeded", method="provider"):
    return {"amount": amount, "status": status, "method": method}


def test_amount_defaults_to_the_remainder_and_never_exceeds_it():
    assert rules.refund_amount(150000, [], None) == 150000
    assert rules.refund_amount(150000, [_refund(50000)], None) == 100000
    assert rules.refund_amount(150000, [_refund(50000, "failed")], None) == 150000
    assert rules.refund_amount(150000, [_refund(50000, "pending")], 100000) == 100000
    with pytest.raises(rules.RefundError) as error:
        rules.refund_amount(150000, [_refund(50000, "awaiting_account", "manual")], 100001)
    assert error.value.code == "refund-exceeds-remaining"
    with pytest.raises(rules.RefundError) as error:
        rules.refund_amount(150000, [_refund(150000)], None)
    assert error.value.code == "nothing-to-refund"
    for bad in (0, -1):
        with pytest.raises(rules.RefundError) as error:
            rules.refund_amount(150000, [], bad)
        assert error.value.code == "invalid-amount"


def test_payment_status_follows_its_refunds():
    assert rules.payment_status(150000, []) == "settled"
    assert rules.payment_status(150000, [_refund(50000)]) == "partially_refunded"
    assert rules.payment_status(150000, [_refund(50000), _refund(100000)]) == "refunded"
    assert rules.payment_status(150000, [_refund(50000), _refund(1, "pending")]) == \
        "refund_pending"
    assert rules.payment_status(150000, [_refund(150000, "failed")]) == "settled"


def test_posted_means_escrow_was_released():
    assert rules.posted(_refund(1, "succeeded"))
    assert not rules.posted(_refund(1, "pending"))
    assert rules.posted(_refund(1, "awaiting_account", "manual"))
    assert not rules.posted(_refund(1, "failed", "manual"))


@pytest.mark.parametrize(
    ("bank", "number", "name", "fields"),
    [
        ("bca", "1234567890", "Budi Santoso", set()),
        ("mandiri", "1234567890123", "Siti A. Rahma", set()),
        ("bca", "123456789", "Budi", {"account_number"}),
        ("bca", "12345678x0", "Budi", {"account_number"}),
        ("bca", "１２３４５６７８９０", "Budi", {"account_number"}),  # full-width digits
        ("bri", "1234567890", "Budi", {"account_number"}),
        ("jago", "1234567890", "Budi", {"bank"}),
        ("bca", "1234567890", "B", {"account_name"}),
        ("bca", "1234567890", "<script>", {"account_name"}),
    ],
)
def test_bank_accounts_are_validated(bank, number, name, fields):
    assert set(rules.account_errors(bank, number, name)) == fields


def test_account_numbers_are_masked_but_the_last_four():
    assert rules.mask_account_number("1234567890") == "******7890"
    assert rules.mask_account_number("1234") == "1234"
    assert rules.mask_account_number(None) is None


def test_refund_entries_post_exactly_the_amount_per_refund():
    issued = ledger.refund_issued("order-1", 50000, "refund-a")
    assert issued.reference == "order-1:refund-a"
    assert issued.amount_on(ledger.ESCROW) == 50000
    assert issued.amount_on(ledger.PROVIDER_RECEIVABLE) == -50000
    assert ledger.refund_issued("order-1", 50000).reference == "order-1"  # the legacy form
    owed = ledger.manual_refund_owed("order-1", "refund-b", 70000)
    assert owed.amount_on(ledger.ESCROW) == 70000
    assert owed.amount_on(ledger.MANUAL_REFUNDS_PAYABLE) == -70000
    paid = ledger.manual_refund_paid("refund-b", 70000)
    assert paid.amount_on(ledger.MANUAL_REFUNDS_PAYABLE) == 70000
    assert paid.amount_on(ledger.PROVIDER_RECEIVABLE) == -70000
    assert ledger.order_of_reference(owed.reference) == "order-1"
    with pytest.raises(ledger.LedgerError):
        ledger.manual_refund_owed("order-1", "refund-b", 0)


def test_escrow_is_checked_net_of_posted_refunds():
    orders = {
        "partly": ledger.OrderState("AWAITING_SHIPMENT", 150000, 50000),
        "cancelled": ledger.OrderState("CANCELLED", 150000, 150000),
        "waiting": ledger.OrderState("CANCELLED", 150000, 0),
    }
    held = {"partly": 100000, "cancelled": 0, "waiting": 150000}
    assert ledger.escrow_violations(held, 250000, orders) == []
    wrong = {**held, "partly": 150000}
    assert any("partly" in p for p in ledger.escrow_violations(wrong, 300000, orders))
