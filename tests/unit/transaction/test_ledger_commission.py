"""Creators' affiliate commission in the ledger (DESIGN.md §8, §11): per-line commission
rounded down, the platform fee on what was finally sold, the rest to the shop."""

import pytest

from transaction_service.domain import ledger
from transaction_service.domain.ledger import LedgerError, Payee, SoldLine

SHOP = "shop-1"
ALICE = "c0ffee00-0000-4000-8000-00000000a11c"
BOB = "c0ffee00-0000-4000-8000-000000000b0b"


def _credits(entry):
    return {line.account: -line.amount for line in entry.lines if line.amount < 0}


def test_commission_is_rounded_down_to_the_rupiah():
    assert ledger.commission(185_000, 1000) == 18_500
    assert ledger.commission(99_999, 1) == 9  # 9.9999 -> 9
    assert ledger.commission(1, 8000) == 0
    assert ledger.commission(0, 5000) == 0


@pytest.mark.parametrize("rate", [-1, 8001, 10_000])
def test_commission_rate_out_of_range_is_refused(rate):
    with pytest.raises(LedgerError):
        ledger.commission(1000, rate)


def test_many_lines_and_two_creators_in_one_order():
    lines = [
        SoldLine(185_000, creator_id=ALICE, commission_rate_bps=1000),  # 18 500
        SoldLine(45_001, creator_id=ALICE, commission_rate_bps=333),  # 1 498.5 -> 1 498
        SoldLine(95_000, creator_id=BOB, commission_rate_bps=1500),  # 14 250
        SoldLine(25_000),  # not attributed
        SoldLine(38_000, creator_id=BOB, commission_rate_bps=0),  # rate 0: nothing
    ]
    entry = ledger.settle_order("order-1", SHOP, lines, fee_bps=250)
    gross = 185_000 + 45_001 + 95_000 + 25_000 + 38_000
    fee = gross * 250 // 10_000
    credits = _credits(entry)
    assert entry.amount_on(ledger.ESCROW) == gross
    assert credits[ledger.creator_payable(ALICE)] == 18_500 + 1_498
    assert credits[ledger.creator_payable(BOB)] == 14_250
    assert credits[ledger.PLATFORM_FEE_REVENUE] == fee
    assert credits[ledger.shop_payable(SHOP)] == gross - fee - 18_500 - 1_498 - 14_250
    assert sum(line.amount for line in entry.lines) == 0
    assert entry.kind == ledger.ORDER_COMPLETED


def test_rate_zero_posts_no_creator_line():
    entry = ledger.settle_order("o", SHOP, [SoldLine(10_000, creator_id=ALICE)], fee_bps=500)
    assert ledger.creator_payable(ALICE) not in _credits(entry)
    assert _credits(entry) == {ledger.shop_payable(SHOP): 9_500, ledger.PLATFORM_FEE_REVENUE: 500}


def test_rate_8000_leaves_the_shop_the_rest_after_fee():
    entry = ledger.settle_order(
        "o", SHOP, [SoldLine(100_001, creator_id=ALICE, commission_rate_bps=8000)], fee_bps=1000
    )
    credits = _credits(entry)
    assert credits[ledger.creator_payable(ALICE)] == 80_000  # 80 000.8 -> 80 000
    assert credits[ledger.PLATFORM_FEE_REVENUE] == 10_000  # 10 000.1 -> 10 000
    assert credits[ledger.shop_payable(SHOP)] == 100_001 - 80_000 - 10_000


def test_refund_of_one_line_earns_nothing_and_lowers_fee_base():
    lines = [
        SoldLine(100_000, refunded=100_000, creator_id=ALICE, commission_rate_bps=2000),
        SoldLine(50_000, creator_id=BOB, commission_rate_bps=1000),
    ]
    split = ledger.settlement(lines, fee_bps=500)
    assert split.escrow == 50_000
    assert split.fee == 2_500  # on what was finally sold, not on 150 000
    assert split.commissions == {BOB: 5_000}
    assert split.shop_net == 50_000 - 2_500 - 5_000


def test_partial_refund_reduces_the_commission_base():
    line = SoldLine(100_000, refunded=30_001, creator_id=ALICE, commission_rate_bps=1000)
    assert line.commission == 6_999  # 69 999 x 10 % = 6 999.9 -> 6 999


def test_everything_refunded_cannot_settle():
    with pytest.raises(LedgerError):
        ledger.settle_order("o", SHOP, [SoldLine(10, refunded=10)], fee_bps=0)


def test_refund_larger_than_line_is_refused():
    with pytest.raises(LedgerError):
        SoldLine(100, refunded=101)


def test_fee_and_commission_above_the_sale_are_refused():
    with pytest.raises(LedgerError, match="exceed"):
        ledger.settlement([SoldLine(100, creator_id=ALICE, commission_rate_bps=8000)],
                          fee_bps=3000)


def test_without_creators_settle_order_equals_order_completed():
    lines = [SoldLine(120_000), SoldLine(3_333)]
    assert ledger.settle_order("o", SHOP, lines, 250) == ledger.order_completed(
        "o", SHOP, 123_333, 250
    )


def test_creator_payout_debits_the_creator_payable():
    entry = ledger.payee_payout(Payee(ledger.CREATOR, ALICE), "payout-1", 7_000)
    assert entry.amount_on(ledger.creator_payable(ALICE)) == 7_000
    assert entry.amount_on(ledger.PAYOUTS) == -7_000
    assert ledger.payout(SHOP, "p", 5) == ledger.payee_payout(Payee(ledger.SHOP, SHOP), "p", 5)


@pytest.mark.parametrize("bad", ["", "a:b"])
def test_creator_ids_are_validated(bad):
    with pytest.raises(LedgerError):
        ledger.creator_payable(bad)
    with pytest.raises(LedgerError):
        Payee("nobody", "x")


def test_spread_refund_is_proportional_and_exact():
    assert ledger.spread_refund([60_000, 40_000], 50_000) == [30_000, 20_000]
    # rounded down per line, the remainder handed out from the first line on
    assert ledger.spread_refund([1, 1, 1], 2) == [1, 1, 0]
    assert sum(ledger.spread_refund([33_333, 33_333, 33_334], 10_001)) == 10_001


def test_spread_refund_never_exceeds_a_line_or_the_lines():
    assert ledger.spread_refund([10_000, 5_000], 20_000) == [10_000, 5_000]
    assert ledger.spread_refund([10_000], 0) == [0]
    assert ledger.spread_refund([], 500) == []
    with pytest.raises(ledger.LedgerError):
        ledger.spread_refund([10_000], -1)


def test_a_partial_refund_reduces_the_commission_base():
    totals = [100_000, 100_000]
    refunds = ledger.spread_refund(totals, 50_000)
    lines = [ledger.SoldLine(total, refunded=r, creator_id=ALICE if i == 0 else None,
                             commission_rate_bps=1000)
             for i, (total, r) in enumerate(zip(totals, refunds, strict=True))]
    split = ledger.settlement(lines, 500)
    assert split.escrow == 150_000
    assert split.commissions == {ALICE: 7_500}  # 10% of the 75,000 left of line one
    assert split.fee == 7_500
    assert split.shop_net == 150_000 - 7_500 - 7_500


def test_creator_credits_reads_each_creators_commission_off_the_entry():
    lines = [SoldLine(100_000, creator_id=ALICE, commission_rate_bps=1000),
             SoldLine(50_000, creator_id=BOB, commission_rate_bps=2000),
             SoldLine(10_000)]
    entry = ledger.settle_order("o", SHOP, lines, 500)
    assert ledger.creator_credits(entry) == {ALICE: 10_000, BOB: 10_000}
    assert ledger.creator_credits(ledger.order_completed("o", SHOP, 10_000, 500)) == {}
    assert ledger.creator_of_account(ledger.shop_payable(SHOP)) is None
