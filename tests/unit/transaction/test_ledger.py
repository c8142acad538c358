"""Ledger rules (DESIGN.md §8): balanced, integer, immutable entries and the builders."""

import dataclasses

import pytest

from transaction_service.domain import ledger
from transaction_service.domain.ledger import JournalEntry, LedgerError, Line, OrderState


def _entry(*lines):
    return JournalEntry("test", "ref-1", tuple(lines))


# --- entry validation ---------------------------------------------------------------------


def test_balanced_entry_is_accepted():
    entry = _entry(Line("a", 100), Line("b", -60), Line("c", -40))
    assert entry.total == 100
    assert entry.amount_on("b") == -60


def test_unbalanced_entry_is_rejected():
    with pytest.raises(LedgerError, match="unbalanced"):
        _entry(Line("a", 100), Line("b", -99))


def test_single_line_is_rejected():
    with pytest.raises(LedgerError, match="at least two lines"):
        _entry(Line("a", 100))


def test_no_lines_is_rejected():
    with pytest.raises(LedgerError):
        JournalEntry("test", "ref", ())


@pytest.mark.parametrize("amount", [100.0, 0.5, "100", None, True, False])
def test_non_integer_amounts_are_rejected(amount):
    with pytest.raises(LedgerError, match="integer"):
        Line("a", amount)


def test_zero_amount_is_rejected():
    with pytest.raises(LedgerError, match="zero"):
        Line("a", 0)


@pytest.mark.parametrize("amount", [0, -5])
def test_debit_and_credit_need_positive_amounts(amount):
    with pytest.raises(LedgerError):
        Line.debit("a", amount)
    with pytest.raises(LedgerError):
        Line.credit("a", amount)


def test_debit_positive_credit_negative():
    assert Line.debit("a", 5).amount == 5
    assert Line.credit("a", 5).amount == -5
    assert Line.debit("a", 5).is_debit and not Line.credit("a", 5).is_debit


def test_lines_must_be_lines():
    with pytest.raises(LedgerError):
        _entry(Line("a", 100), ("b", -100))


def test_kind_reference_account_must_be_text():
    with pytest.raises(LedgerError):
        JournalEntry("", "r", (Line("a", 1), Line("b", -1)))
    with pytest.raises(LedgerError):
        JournalEntry("k", "", (Line("a", 1), Line("b", -1)))
    with pytest.raises(LedgerError):
        Line("", 1)


def test_entries_are_immutable():
    entry = ledger.payment_settled("o1", 1000)
    assert isinstance(entry.lines, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.kind = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.lines[0].amount = 1


def test_list_of_lines_is_frozen_into_tuple():
    entry = JournalEntry("k", "r", [Line("a", 1), Line("b", -1)])
    assert isinstance(entry.lines, tuple)


# --- accounts -----------------------------------------------------------------------------


def test_account_names():
    assert ledger.shop_payable("s1") == "shop:s1:payable"
    assert ledger.shop_of_account("shop:s1:payable") == "s1"
    assert ledger.shop_of_account(ledger.ESCROW) is None
    with pytest.raises(LedgerError):
        ledger.shop_payable("a:b")
    with pytest.raises(LedgerError):
        ledger.shop_payable("")


# --- fee rounding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "bps", "fee"),
    [
        (100_000, 500, 5_000),
        (19_999, 500, 999),  # 999.95 rounds down: the fraction stays with the seller
        (1, 500, 0),
        (150_001, 250, 3_750),  # 3750.025
        (10_000, 0, 0),
        (10_000, 10_000, 10_000),
        (7, 3_333, 2),  # 2.3331
    ],
)
def test_fee_rounds_down(gross, bps, fee):
    assert ledger.platform_fee(gross, bps) == fee


@pytest.mark.parametrize("bps", [-1, 10_001, 5.0, True])
def test_fee_rate_must_be_valid(bps):
    with pytest.raises(LedgerError):
        ledger.platform_fee(1000, bps)


# --- builders -----------------------------------------------------------------------------


def _balances(entry):
    result = {}
    for line in entry.lines:
        result[line.account] = result.get(line.account, 0) + line.amount
    return result


def test_payment_settled():
    entry = ledger.payment_settled("o1", 150_000)
    assert (entry.kind, entry.reference) == ("payment_settled", "o1")
    assert _balances(entry) == {"provider_receivable": 150_000, "escrow": -150_000}


def test_order_completed_splits_net_and_fee():
    entry = ledger.order_completed("o1", "s1", 19_999, 500)
    assert (entry.kind, entry.reference) == ("order_completed", "o1")
    assert _balances(entry) == {
        "escrow": 19_999,
        "shop:s1:payable": -19_000,
        "platform:fee_revenue": -999,
    }


def test_order_completed_without_fee_has_no_fee_line():
    entry = ledger.order_completed("o1", "s1", 1, 500)
    assert _balances(entry) == {"escrow": 1, "shop:s1:payable": -1}


def test_order_completed_full_fee_has_no_payable_line():
    entry = ledger.order_completed("o1", "s1", 100, 10_000)
    assert _balances(entry) == {"escrow": 100, "platform:fee_revenue": -100}


def test_refund_issued():
    entry = ledger.refund_issued("o1", 150_000)
    assert (entry.kind, entry.reference) == ("refund_issued", "o1")
    assert _balances(entry) == {"escrow": 150_000, "provider_receivable": -150_000}


def test_payout():
    entry = ledger.payout("s1", "p1", 50_000)
    assert (entry.kind, entry.reference) == ("payout", "p1")
    assert _balances(entry) == {"shop:s1:payable": 50_000, "payouts": -50_000}


@pytest.mark.parametrize(
    "build",
    [
        lambda amount: ledger.payment_settled("o", amount),
        lambda amount: ledger.order_completed("o", "s", amount, 500),
        lambda amount: ledger.refund_issued("o", amount),
        lambda amount: ledger.payout("s", "p", amount),
    ],
)
@pytest.mark.parametrize("amount", [0, -1, 1.5, 100.0, "100", True])
def test_builders_reject_bad_amounts(build, amount):
    with pytest.raises(LedgerError):
        build(amount)


@pytest.mark.parametrize("gross", [1, 2, 3, 99, 100, 101, 12_345, 999_999_999, 10**15])
@pytest.mark.parametrize("bps", [0, 1, 250, 500, 1_234, 9_999, 10_000])
def test_every_builder_balances(gross, bps):
    entries = [
        ledger.payment_settled("o", gross),
        ledger.order_completed("o", "s", gross, bps),
        ledger.refund_issued("o", gross),
        ledger.payout("s", "p", gross),
    ]
    for entry in entries:
        assert sum(line.amount for line in entry.lines) == 0
        assert all(isinstance(line.amount, int) and line.amount for line in entry.lines)
    completed = entries[1]
    assert -completed.amount_on(ledger.PLATFORM_FEE_REVENUE) == ledger.platform_fee(gross, bps)


def test_lifecycle_leaves_escrow_empty():
    entries = [
        ledger.payment_settled("o", 10_000),
        ledger.order_completed("o", "s", 10_000, 500),
        ledger.payout("s", "p", 9_500),
    ]
    totals = {}
    for entry in entries:
        for account, amount in _balances(entry).items():
            totals[account] = totals.get(account, 0) + amount
    assert totals[ledger.ESCROW] == 0
    assert totals[ledger.shop_payable("s")] == 0
    assert sum(totals.values()) == 0


def test_reversal_negates_and_references_original():
    original = ledger.order_completed("o1", "s1", 10_000, 500)
    reverse = ledger.reversal(original)
    assert reverse.kind == "reversal"
    assert reverse.reference == "order_completed:o1"
    assert ledger.reversed_target(reverse.reference) == ("order_completed", "o1")
    assert [line.amount for line in reverse.lines] == [-line.amount for line in original.lines]
    with pytest.raises(LedgerError):
        ledger.reversal(reverse)


# --- escrow invariant (pure part) ---------------------------------------------------------


def test_escrow_consistent_with_orders():
    escrow = {"o1": 100, "o2": 0, "o3": 300, "o4": 0}
    orders = {
        "o1": OrderState("AWAITING_SHIPMENT", 100),
        "o2": OrderState("COMPLETED", 200),
        "o3": OrderState("CANCELLED", 300),  # paid, refund not yet issued
        "o4": OrderState("CANCELLED", 400),  # refunded
        "o5": OrderState("UNPAID", 50),
        "o6": OrderState("EXPIRED", 60),
    }
    assert ledger.escrow_violations(escrow, 400, orders) == []


def test_escrow_violations_are_reported():
    escrow = {"o1": 90, "o2": 5, "o3": -10, "ghost": 7}
    orders = {
        "o1": OrderState("IN_TRANSIT", 100),
        "o2": OrderState("COMPLETED", 5),
        "o3": OrderState("CANCELLED", 10),
        "o4": OrderState("AWAITING_SHIPMENT", 20),
    }
    problems = ledger.escrow_violations(escrow, 1000, orders)
    text = "\n".join(problems)
    assert "escrow balance 1000" in text
    assert "o1 is IN_TRANSIT: escrow 90 != order total 100" in text
    assert "o2 is COMPLETED but escrow holds 5" in text
    assert "o3: escrow released 10 more than was settled" in text
    assert "ghost: escrow 7 for an unknown order" in text
    assert "o4 is AWAITING_SHIPMENT: escrow 0 != order total 20" in text


def test_escrow_without_orders_table_checks_ledger_only():
    assert ledger.escrow_violations({"o1": 5}, 5, None) == []
    assert ledger.escrow_violations({"o1": -5}, -5, None) != []
