"""The concurrency checks must be able to fail: feed them histories with stale prices."""

from storefront_checks import Interval, price_possible_during, prices_not_current_at_version


def test_version_check_accepts_prices_current_at_their_version():
    changes = [(1, 100), (4, 120), (7, 90)]
    assert prices_not_current_at_version(changes, [(2, 100), (4, 120), (6, 120), (9, 90)]) == []


def test_version_check_catches_price_read_before_the_lock():
    # The edit to 120 committed as version 4; a reservation that decremented stock
    # afterwards (version 5) but quoted the old 100 read the price before locking the row.
    changes = [(1, 100), (4, 120)]
    assert prices_not_current_at_version(changes, [(5, 100)]) == [(5, 100)]
    # ...and one quoting a price before it existed.
    assert prices_not_current_at_version(changes, [(3, 120)]) == [(3, 120)]


def test_timing_check():
    writes = [(Interval(1.0, 2.0), 110), (Interval(3.0, 4.0), 120)]
    # During the second write both the old and the new price may be current.
    assert price_possible_during(100, writes, Interval(3.5, 3.6), 110)
    assert price_possible_during(100, writes, Interval(3.5, 3.6), 120)
    # A price replaced (write finished) before the window began is stale.
    assert not price_possible_during(100, writes, Interval(2.5, 2.6), 100)
    assert not price_possible_during(100, writes, Interval(4.5, 5.0), 110)
    # A price not yet written when the window ended cannot be quoted.
    assert not price_possible_during(100, writes, Interval(0.1, 0.2), 120)
    assert price_possible_during(100, writes, Interval(0.1, 0.2), 100)
