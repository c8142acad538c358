"""Transaction state rules of the sandbox (pure functions, no storage)."""

from datetime import timedelta

import pytest

from payment_sandbox.domain import transactions as tx


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("settlement", "200"),
        ("capture", "200"),
        ("refund", "200"),
        ("partial_refund", "200"),
        ("pending", "201"),
        ("deny", "202"),
        ("cancel", "202"),
        ("expire", "202"),
    ],
)
def test_status_codes_follow_midtrans(status, code):
    assert tx.status_code_for(status) == code


def test_unknown_status_has_no_code():
    with pytest.raises(ValueError):
        tx.status_code_for("paid")


# pay ---------------------------------------------------------------------------------------


def test_pending_settles_when_paid():
    assert tx.pay_outcome("pending") == tx.SETTLE


@pytest.mark.parametrize("status", ["settlement", "partial_refund", "refund"])
def test_paying_twice_changes_nothing(status):
    assert tx.pay_outcome(status) == tx.ALREADY_DONE


@pytest.mark.parametrize("status", ["expire", "cancel", "deny"])
def test_closed_transactions_cannot_be_paid(status):
    with pytest.raises(tx.TransitionError) as error:
        tx.pay_outcome(status)
    assert error.value.code == "not-payable"


# cancel ------------------------------------------------------------------------------------


def test_pending_can_be_cancelled_and_cancel_is_idempotent():
    assert tx.cancel_outcome("pending") == tx.CANCEL
    assert tx.cancel_outcome("cancel") == tx.ALREADY_DONE


@pytest.mark.parametrize("status", ["settlement", "refund", "partial_refund", "expire"])
def test_settled_or_expired_cannot_be_cancelled(status):
    with pytest.raises(tx.TransitionError) as error:
        tx.cancel_outcome(status)
    assert error.value.code == "cannot-cancel"


# refund ------------------------------------------------------------------------------------


def test_full_refund_by_default():
    decision = tx.refund_decision("settlement", 150000, 0, None)
    assert decision == tx.RefundDecision(150000, "refund", 150000)


def test_partial_then_rest():
    first = tx.refund_decision("settlement", 150000, 0, 50000)
    assert first == tx.RefundDecision(50000, "partial_refund", 50000)
    second = tx.refund_decision(first.new_status, 150000, first.refunded_total, None)
    assert second == tx.RefundDecision(100000, "refund", 150000)


def test_refund_never_exceeds_gross():
    with pytest.raises(tx.TransitionError) as error:
        tx.refund_decision("partial_refund", 150000, 100000, 50001)
    assert error.value.code == "refund-exceeds-remaining"


@pytest.mark.parametrize("status", ["pending", "cancel", "expire", "refund"])
def test_only_settled_transactions_are_refundable(status):
    with pytest.raises(tx.TransitionError) as error:
        tx.refund_decision(status, 150000, 150000 if status == "refund" else 0, 1000)
    assert error.value.code == "not-refundable"


@pytest.mark.parametrize("amount", [0, -5])
def test_refund_amount_must_be_positive(amount):
    with pytest.raises(tx.TransitionError):
        tx.refund_decision("settlement", 150000, 0, amount)


# expiry and time -----------------------------------------------------------------------


def test_only_pending_past_deadline_is_expired():
    assert tx.is_expired("pending", 100.0, 100.0)
    assert not tx.is_expired("pending", 100.0, 99.9)
    assert not tx.is_expired("settlement", 100.0, 1000.0)


def test_expiry_seconds_defaults_and_custom():
    defaults = {"va_default": 86400, "ewallet_default": 900}
    assert tx.expiry_seconds("bank_transfer", None, **defaults) == 86400
    assert tx.expiry_seconds("gopay", None, **defaults) == 900
    custom = {"expiry_duration": 2, "unit": "hour"}
    assert tx.expiry_seconds("qris", custom, **defaults) == 7200
    assert tx.expiry_seconds("bank_transfer", {"expiry_duration": 5, "unit": "second"},
                             **defaults) == 5


def test_times_are_midtrans_style_wib():
    assert tx.format_time(0) == "1970-01-01 07:00:00"
    parsed = tx.parse_time("1970-01-01 07:00:00")
    assert parsed.utcoffset() == timedelta(hours=7)
    assert parsed.timestamp() == 0
    assert tx.format_time(None) is None


# delivery ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "delivered"),
                         [(200, True), (204, True), (299, True), (301, False), (400, False),
                          (500, False), (None, False)])
def test_only_2xx_counts_as_delivered(status, delivered):
    assert tx.is_delivered(status) is delivered


def test_retry_schedule_then_exhausted():
    schedule = (1.0, 5.0, 30.0)
    assert tx.next_retry_delay(schedule, 1) == 1.0
    assert tx.next_retry_delay(schedule, 2) == 5.0
    assert tx.next_retry_delay(schedule, 3) == 30.0
    assert tx.next_retry_delay(schedule, 4) is None
    assert tx.next_retry_delay((), 1) is None
    with pytest.raises(ValueError):
        tx.next_retry_delay(schedule, 0)


# Midtrans' rules added for the strict sandbox ---------------------------------------------


@pytest.mark.parametrize("payment_type", ["bank_transfer", "echannel", "permata"])
def test_bank_transfers_are_never_refundable(payment_type):
    with pytest.raises(tx.TransitionError) as error:
        tx.refund_decision("settlement", 150000, 0, None, payment_type)
    assert error.value.code == "refund-not-supported"


@pytest.mark.parametrize("payment_type", sorted(tx.REFUNDABLE_PAYMENT_TYPES))
def test_wallets_cards_and_paylater_are_refundable(payment_type):
    decision = tx.refund_decision("settlement", 150000, 0, 1000, payment_type)
    assert (decision.amount, decision.new_status) == (1000, "partial_refund")


def test_only_pending_can_be_expired_by_the_merchant():
    assert tx.expire_outcome("pending") == "expire"
    for status in ("settlement", "expire", "cancel", "refund"):
        with pytest.raises(tx.TransitionError) as error:
            tx.expire_outcome(status)
        assert error.value.code == "cannot-expire"


@pytest.mark.parametrize(
    ("answer", "retries"),
    [(200, 0), (201, 0), (500, 1), (503, 4), (400, 2), (404, 2), (301, 0), (302, 0),
     (303, 0), (502, 5), (401, 5), (None, 5)],
)
def test_midtrans_retry_rules_per_answer(answer, retries):
    assert tx.retries_allowed(answer) == retries


def test_retries_stop_at_the_rule_or_the_schedule_whichever_is_first():
    schedule = (1, 2, 3, 4, 5, 6)
    assert tx.next_retry_delay(schedule, 1, 500) == 1.0
    assert tx.next_retry_delay(schedule, 2, 500) is None
    assert [tx.next_retry_delay(schedule, n, 503) for n in range(1, 6)] == [1, 2, 3, 4, None]
    assert tx.next_retry_delay(schedule, 1, 302) is None
    assert tx.next_retry_delay((1.0,), 2, None) is None
    assert tx.is_followed_redirect(307) and tx.is_followed_redirect(308)
    assert not tx.is_followed_redirect(302)
