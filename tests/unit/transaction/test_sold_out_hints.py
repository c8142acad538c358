"""SoldOutHints: what the showcase said was left of a sold-out product, for a moment."""

from __future__ import annotations

from transaction_service.clients.storefront import SoldOutHints

P, Q = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _refusal(product_id=P, available=0, requested=1):
    return {"type": "https://etalase.test/problems/insufficient-stock",
            "product_id": product_id, "requested": requested, "available": available}


def test_nothing_is_refused_before_the_showcase_refused_something():
    hints = SoldOutHints(1.0)
    assert hints.shortfall([{"product_id": P, "quantity": 1}]) is None


def test_a_refusal_refuses_more_than_was_left_until_it_expires():
    clock = Clock()
    hints = SoldOutHints(1.0, clock=clock)
    hints.refused(_refusal(available=2, requested=3))
    assert hints.shortfall([{"product_id": P, "quantity": 2}]) is None  # 2 were left
    assert hints.shortfall([{"product_id": P, "quantity": 3}]) == {
        "product_id": P, "requested": 3, "available": 2}
    clock.now += 0.99
    assert hints.shortfall([{"product_id": P, "quantity": 3}]) is not None
    clock.now += 0.02
    assert hints.shortfall([{"product_id": P, "quantity": 3}]) is None  # ask again


def test_lines_of_one_product_are_added_and_the_first_short_product_in_id_order_named():
    hints = SoldOutHints(5.0, clock=Clock())
    hints.refused(_refusal(P, available=1))
    hints.refused(_refusal(Q, available=0))
    items = [{"product_id": Q, "quantity": 1}, {"product_id": P, "quantity": 1},
             {"product_id": P, "quantity": 1}]
    assert hints.shortfall(items)["product_id"] == P
    assert hints.shortfall(items)["requested"] == 2
    assert hints.shortfall([{"product_id": P, "quantity": 1}]) is None


def test_a_reservation_of_the_product_forgets_its_hint():
    hints = SoldOutHints(5.0, clock=Clock())
    hints.refused(_refusal(P))
    hints.refused(_refusal(Q))
    hints.reserved([P])
    assert hints.shortfall([{"product_id": P, "quantity": 1}]) is None
    assert hints.shortfall([{"product_id": Q, "quantity": 1}]) is not None


def test_answers_without_the_showcases_fields_teach_nothing():
    hints = SoldOutHints(5.0, clock=Clock())
    for problem in ({}, {"product_id": P}, {"product_id": P, "available": "0"},
                    {"product_id": P, "available": -1}, {"product_id": 7, "available": 0},
                    {"product_id": P, "available": True}):
        hints.refused(problem)
    assert hints.shortfall([{"product_id": P, "quantity": 1}]) is None


def test_zero_seconds_turns_hints_off():
    hints = SoldOutHints(0.0, clock=Clock())
    hints.refused(_refusal(P))
    assert hints.shortfall([{"product_id": P, "quantity": 1}]) is None
