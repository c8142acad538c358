"""The returns state table (every action × party × state), opening rules, quantities and
money (DESIGN.md §12). Pure: no I/O."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from transaction_service.domain import returns as rules
from transaction_service.domain.returns import ReturnError, ReturnStatus

S = ReturnStatus
PARTIES = (rules.BUYER, rules.SELLER, rules.ADMIN, rules.SYSTEM)

# The design's table, written out independently of the module's.
LEGAL = {
    ("approve", rules.SELLER, S.REQUESTED): S.APPROVED,
    ("auto-approve", rules.SYSTEM, S.REQUESTED): S.APPROVED,
    ("await-shipment", rules.SYSTEM, S.APPROVED): S.AWAITING_BUYER_SHIPMENT,
    ("reject", rules.SELLER, S.REQUESTED): S.REJECTED,
    ("offer", rules.SELLER, S.REQUESTED): S.OFFERED,
    ("ship", rules.BUYER, S.AWAITING_BUYER_SHIPMENT): S.BUYER_SHIPPED,
    ("received", rules.SELLER, S.BUYER_SHIPPED): S.RECEIVED,
    ("accept-offer", rules.BUYER, S.OFFERED): S.REFUND_PENDING,
    ("escalate", rules.BUYER, S.REJECTED): S.DISPUTED,
    ("escalate", rules.BUYER, S.OFFERED): S.DISPUTED,
    ("cancel", rules.BUYER, S.REQUESTED): S.CANCELLED,
    ("cancel", rules.BUYER, S.OFFERED): S.CANCELLED,
    ("cancel", rules.BUYER, S.REJECTED): S.CANCELLED,
    ("cancel", rules.BUYER, S.AWAITING_BUYER_SHIPMENT): S.CANCELLED,
    ("resolve-refund", rules.ADMIN, S.DISPUTED): S.REFUND_PENDING,
    ("resolve-close", rules.ADMIN, S.DISPUTED): S.CLOSED,
    ("request-refund", rules.SYSTEM, S.APPROVED): S.REFUND_PENDING,
    ("request-refund", rules.SYSTEM, S.RECEIVED): S.REFUND_PENDING,
    ("refund-settled", rules.SYSTEM, S.REFUND_PENDING): S.REFUNDED,
}
CASES = list(itertools.product(sorted(rules.ACTIONS), PARTIES, list(S)))


@pytest.mark.parametrize(("action", "party", "state"), CASES)
def test_every_action_by_every_party_from_every_state(action, party, state):
    expected = LEGAL.get((action, party, state))
    if expected is not None:
        assert rules.move(state, action, party) is expected
        return
    with pytest.raises(ReturnError) as raised:
        rules.move(state, action, party)
    allowed_party = rules.ACTIONS[action][0]
    # The wrong party is told 403 whatever the state; the right party in a wrong state 409.
    assert raised.value.status == (403 if party != allowed_party else 409)


def test_terminal_and_open_states():
    assert rules.TERMINAL == {S.REFUNDED, S.CLOSED, S.CANCELLED}
    assert S.DISPUTED in rules.OPEN and S.REFUND_PENDING in rules.OPEN
    assert rules.OPEN | rules.TERMINAL == set(S)


def test_unknown_action_is_refused():
    with pytest.raises(ReturnError) as raised:
        rules.move("REQUESTED", "teleport", rules.BUYER)
    assert raised.value.status == 404


NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("status", ["UNPAID", "AWAITING_SHIPMENT", "COMPLETED", "CANCELLED",
                                    "EXPIRED"])
def test_only_delivered_or_in_transit_orders_take_returns(status):
    with pytest.raises(ReturnError) as raised:
        rules.check_opening(status, None, NOW, 3600, rules.REFUND_ONLY, "not_received")
    assert raised.value.status == 409 and raised.value.code == "order-not-returnable"


def test_in_transit_takes_only_refund_only_not_received():
    rules.check_opening("IN_TRANSIT", None, NOW, 3600, rules.REFUND_ONLY, "not_received")
    for type_, reason in ((rules.RETURN_AND_REFUND, "not_received"),
                          (rules.REFUND_ONLY, "damaged")):
        with pytest.raises(ReturnError) as raised:
            rules.check_opening("IN_TRANSIT", None, NOW, 3600, type_, reason)
        assert raised.value.code == "order-not-delivered"


def test_return_window_counts_from_delivery():
    delivered = NOW - timedelta(seconds=3600)
    rules.check_opening("DELIVERED", delivered, NOW, 3600, rules.RETURN_AND_REFUND, "damaged")
    with pytest.raises(ReturnError) as raised:
        rules.check_opening("DELIVERED", delivered, NOW + timedelta(seconds=1), 3600,
                            rules.RETURN_AND_REFUND, "damaged")
    assert raised.value.code == "return-window-closed"


ITEMS = [{"product_id": "a", "quantity": 3, "unit_price": 10000},
         {"product_id": "b", "quantity": 1, "unit_price": 25000}]


def test_lines_are_priced_from_the_snapshot_not_the_client():
    lines = rules.returnable_lines(ITEMS, [{"product_id": "a", "quantity": 2,
                                            "unit_price": 1}], {})
    assert lines == [rules.ReturnLine("a", 2, 10000)]
    assert rules.lines_value(lines) == 20000


@pytest.mark.parametrize(("requested", "already", "field"), [
    ([{"product_id": "a", "quantity": 4}], {}, "items.0"),           # above ordered
    ([{"product_id": "a", "quantity": 2}], {"a": 2}, "items.0"),     # above what is left
    ([{"product_id": "b", "quantity": 1}], {"b": 1}, "items.0"),     # all already returned
    ([{"product_id": "zz", "quantity": 1}], {}, "items.0"),          # not in the order
    ([{"product_id": "a", "quantity": 1}, {"product_id": "a", "quantity": 1}], {}, "items.1"),
    ([{"product_id": "a", "quantity": 0}], {}, "items.0"),
    ([], {}, "items"),
])
def test_bad_quantities_are_422_naming_the_line(requested, already, field):
    with pytest.raises(ReturnError) as raised:
        rules.returnable_lines(ITEMS, requested, already)
    assert raised.value.status == 422 and field in raised.value.errors


def test_offer_must_be_below_the_lines_value():
    assert rules.check_offer(19999, 20000) == 19999
    for bad in (0, 20000, 20001, -5, True, 1.5, "100"):
        with pytest.raises(ReturnError):
            rules.check_offer(bad, 20000)


def test_refund_due_never_exceeds_lines_or_what_is_left():
    assert rules.refund_due(20000, None, None, 50000) == 20000
    assert rules.refund_due(20000, 15000, None, 50000) == 15000
    assert rules.refund_due(20000, None, 5000, 50000) == 5000
    assert rules.refund_due(20000, None, None, 12000) == 12000  # capped by what is left
    with pytest.raises(ReturnError):
        rules.refund_due(20000, None, 20001, 50000)  # an admin cannot exceed the lines
    with pytest.raises(ReturnError) as raised:
        rules.refund_due(20000, None, None, 0)
    assert raised.value.code == "nothing-to-refund"


def test_line_refunds_spread_exactly_over_the_returned_lines():
    lines = [rules.ReturnLine("a", 2, 10000), rules.ReturnLine("b", 1, 25000)]
    assert rules.line_refunds(lines, 45000) == {"a": 20000, "b": 25000}
    shares = rules.line_refunds(lines, 10001)
    assert sum(shares.values()) == 10001
    assert all(shares[line.product_id] <= line.total for line in lines)


def test_silent_seller_deadline():
    assert rules.response_due(NOW, 172800) == NOW + timedelta(hours=48)
