"""Consistency checks used by the storefront's concurrency tests (and tested themselves in
test_storefront_checks.py with histories that must fail)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


def prices_not_current_at_version(price_changes: list[tuple[int, int]],
                                  reservations: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """White-box check on the product row's own history.

    `price_changes`: (row version, new price) for every price the product ever had, first
    the creation. `reservations`: (row version produced by the stock decrement, unit price
    quoted). The row version orders price edits and stock decrements totally (both update
    the same row), so the price current when the stock was taken is the latest change at
    or before that version. Returns the reservations that quoted any other price, e.g. a
    price read before the row was locked while a concurrent edit committed.
    """
    changes = sorted(price_changes)
    versions = [version for version, _ in changes]
    wrong = []
    for version, unit_price in reservations:
        index = bisect_right(versions, version) - 1
        if index < 0 or changes[index][1] != unit_price:
            wrong.append((version, unit_price))
    return wrong


@dataclass(frozen=True)
class Interval:
    start: float
    end: float


def price_possible_during(initial_price: int, writes: list[tuple[Interval, int]],
                          window: Interval, price: int) -> bool:
    """Black-box check from client-side timings (no trust in the server's bookkeeping).

    `writes` are one writer's sequential price changes (each finished before the next
    started), with distinct prices. A reservation observed during `window` may only quote
    a price that could have been current at some instant of that window: a write that may
    have taken effect before the window ended and whose successor had not surely taken
    effect before the window started. Catches cached or otherwise stale prices.
    """
    candidates = [(Interval(float("-inf"), float("-inf")), initial_price), *writes]
    for index, (interval, value) in enumerate(candidates):
        if value != price:
            continue
        started_in_time = interval.start <= window.end
        successor = candidates[index + 1][0] if index + 1 < len(candidates) else None
        not_yet_replaced = successor is None or successor.end > window.start
        if started_in_time and not_yet_replaced:
            return True
    return False
