"""Every (from, to) pair of order states: the legal ones move, all others are refused."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from transaction_service.domain.orders import (
    PAID,
    TERMINAL,
    IllegalTransition,
    OrderStatus,
    can_transition,
    payment_deadline,
    transition,
)

S = OrderStatus
LEGAL = {
    (S.UNPAID, S.AWAITING_SHIPMENT),
    (S.UNPAID, S.EXPIRED),
    (S.UNPAID, S.CANCELLED),
    (S.AWAITING_SHIPMENT, S.IN_TRANSIT),
    (S.AWAITING_SHIPMENT, S.CANCELLED),
    (S.IN_TRANSIT, S.COMPLETED),  # the buyer confirms before delivery is marked
    (S.IN_TRANSIT, S.DELIVERED),
    (S.DELIVERED, S.COMPLETED),
}
ALL_PAIRS = list(itertools.product(S, S))


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_transitions_move(current, target):
    assert can_transition(current, target)
    assert transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"), [pair for pair in ALL_PAIRS if pair not in LEGAL]
)
def test_every_other_transition_is_illegal(current, target):
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition) as raised:
        transition(current, target)
    assert raised.value.current is current and raised.value.target is target
    assert str(current) in str(raised.value) and str(target) in str(raised.value)


def test_there_are_exactly_49_pairs_and_8_legal():
    assert len(ALL_PAIRS) == 49
    assert sum(can_transition(a, b) for a, b in ALL_PAIRS) == 8


def test_no_state_moves_backwards():
    order = [S.UNPAID, S.AWAITING_SHIPMENT, S.IN_TRANSIT, S.DELIVERED, S.COMPLETED]
    for i, later in enumerate(order):
        for earlier in order[: i + 1]:
            assert not can_transition(later, earlier)


def test_terminal_states_and_paid_states():
    assert TERMINAL == {S.COMPLETED, S.EXPIRED, S.CANCELLED}
    assert PAID == {S.AWAITING_SHIPMENT, S.IN_TRANSIT, S.DELIVERED, S.COMPLETED}


def test_strings_are_accepted_and_unknown_states_rejected():
    assert transition("UNPAID", "EXPIRED") is S.EXPIRED
    with pytest.raises(ValueError):
        transition("UNPAID", "SHIPPED")


def test_payment_deadline_is_the_earlier_of_expiry_and_reservation():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    reservation = now + timedelta(minutes=15)
    assert payment_deadline(now, 3600, reservation) == reservation
    assert payment_deadline(now, 60, reservation) == now + timedelta(seconds=60)
    assert payment_deadline(now, 60, None) == now + timedelta(seconds=60)
