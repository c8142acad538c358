"""Pure rules of the showcase: no database, no HTTP."""

from __future__ import annotations

import pytest

from storefront_service.domain import cart, reservations
from storefront_service.domain.errors import InsufficientStock, Invalid, InvalidTransition, NotFound
from storefront_service.domain.money import line_total, money


def test_money_is_integer_rupiah():
    assert money(150000) == {"amount": 150000, "currency": "IDR"}
    for bad in (1.5, True, "150000", None):
        with pytest.raises(TypeError):
            money(bad)
    assert line_total(150000, 3) == 450000


@pytest.mark.parametrize("added, now, expected", [
    (100, 90, "cheaper"), (100, 110, "dearer"), (100, 100, None),
])
def test_price_change(added, now, expected):
    assert cart.price_change(added, now) == expected


@pytest.mark.parametrize("status, stock, quantity, expected", [
    ("active", 10, 10, None),
    ("active", 10, 11, "insufficient_stock"),
    ("active", 0, 1, "out_of_stock"),
    ("inactive", 10, 1, "inactive"),
    ("inactive", 0, 1, "inactive"),
])
def test_unavailable_reason(status, stock, quantity, expected):
    assert cart.unavailable_reason(status, stock, quantity) == expected


def test_subtotal_counts_only_available_lines_at_current_prices():
    lines = [
        cart.CartLine("a", 2, 100, 90, "active", 5),
        cart.CartLine("b", 1, 100, 500, "inactive", 5),
        cart.CartLine("c", 6, 100, 100, "active", 5),
        cart.CartLine("d", 1, 100, 120, "active", 1),
    ]
    assert cart.subtotal(lines) == 2 * 90 + 120
    assert cart.subtotal([]) == 0


# Every (current, target) pair: states x transition targets.
LEGAL = {
    ("active", "committed"): reservations.APPLY,
    ("active", "released"): reservations.APPLY,
    ("committed", "restocked"): reservations.APPLY,
    ("committed", "committed"): reservations.ALREADY_DONE,
    ("released", "released"): reservations.ALREADY_DONE,
    ("restocked", "restocked"): reservations.ALREADY_DONE,
}
TARGETS = ("committed", "released", "restocked")
REFUSED = [(current, target) for current in reservations.STATUSES for target in TARGETS
           if (current, target) not in LEGAL]


def test_the_tables_cover_every_pair():
    assert set(reservations.STATUSES) == {"active", "committed", "released", "restocked"}
    assert len(LEGAL) + len(REFUSED) == len(reservations.STATUSES) * len(TARGETS)
    assert set(REFUSED) == {
        ("active", "restocked"),
        ("committed", "released"),
        ("released", "committed"), ("released", "restocked"),
        ("restocked", "committed"), ("restocked", "released"),
    }


@pytest.mark.parametrize("current, target", sorted(LEGAL))
def test_allowed_transitions(current, target):
    assert reservations.decide_transition(current, target) == LEGAL[(current, target)]


@pytest.mark.parametrize("current, target", REFUSED)
def test_refused_transitions(current, target):
    with pytest.raises(InvalidTransition) as error:
        reservations.decide_transition(current, target)
    assert error.value.slug == "invalid-transition"
    assert error.value.fields == {"current_status": current}


def test_restock_refusals_say_what_to_do_instead():
    with pytest.raises(InvalidTransition) as active:
        reservations.decide_transition("active", "restocked")
    assert "commit or release" in active.value.detail
    with pytest.raises(InvalidTransition) as released:
        reservations.decide_transition("released", "restocked")
    assert "already returned" in released.value.detail


@pytest.mark.parametrize("current", ["active", "committed", "restocked"])
def test_active_is_not_a_transition_target(current):
    with pytest.raises(ValueError):
        reservations.decide_transition(current, "active")


def test_merge_items_adds_repeated_products_in_first_seen_order():
    merged = reservations.merge_items([("b", 2), ("a", 1), ("b", 3)])
    assert list(merged.items()) == [("b", 5), ("a", 1)]
    assert reservations.merge_items([("a", 999)]) == {"a": 999}
    with pytest.raises(Invalid):
        reservations.merge_items([("a", 500), ("a", 500)])


def test_same_request():
    assert reservations.same_request({"a": 1}, "u1", {"a": 1}, "u1")
    assert not reservations.same_request({"a": 1}, "u1", {"a": 2}, "u1")
    assert not reservations.same_request({"a": 1}, "u1", {"a": 1, "b": 1}, "u1")
    assert not reservations.same_request({"a": 1}, "u1", {"a": 1}, "u2")


def _product(pid, shop="s1", stock=5, status="active"):
    return reservations.LockedProduct(pid, shop, f"title {pid}", 1000, stock, status)


def test_check_reservable_returns_the_shop():
    locked = {"a": _product("a"), "b": _product("b")}
    assert reservations.check_reservable({"a": 5, "b": 1}, locked) == "s1"


def test_check_reservable_refuses_unknown_and_inactive_products_first():
    locked = {"a": _product("a", stock=0), "b": _product("b", shop="s2", status="inactive")}
    with pytest.raises(NotFound) as error:
        reservations.check_reservable({"a": 1, "c": 1}, locked)
    assert error.value.fields["product_id"] == "c"
    with pytest.raises(NotFound) as error:
        reservations.check_reservable({"a": 1, "b": 1}, locked)
    assert error.value.fields["product_id"] == "b"


def test_check_reservable_refuses_two_shops_before_looking_at_stock():
    locked = {"a": _product("a", stock=0), "b": _product("b", shop="s2")}
    with pytest.raises(Invalid):
        reservations.check_reservable({"a": 1, "b": 1}, locked)


def test_check_reservable_names_the_product_short_of_stock():
    locked = {"a": _product("a", stock=5), "b": _product("b", stock=2)}
    with pytest.raises(InsufficientStock) as error:
        reservations.check_reservable({"a": 5, "b": 3}, locked)
    assert error.value.slug == "insufficient-stock"
    assert error.value.fields == {"product_id": "b", "requested": 3, "available": 2}


def test_if_match_versions_keep_only_bigint_decimal_tags():
    from storefront_service.domain.versions import MAX_VERSION, versions_named

    assert versions_named(["3", "x", None, "", "²", "-1", "03"]) == [3]
    assert versions_named([str(MAX_VERSION), str(MAX_VERSION + 1), "9" * 26]) == [MAX_VERSION]
    assert versions_named([]) == []


def test_failed_logins_back_off_per_account_after_five():
    from storefront_service.domain.login_throttle import (
        FREE_FAILURES,
        MAX_DELAY_SECONDS,
        delay_after,
        email_key,
    )

    assert [delay_after(n) for n in range(FREE_FAILURES)] == [0] * FREE_FAILURES
    assert [delay_after(n) for n in range(5, 10)] == [1, 2, 4, 8, 16]
    assert delay_after(40) == MAX_DELAY_SECONDS
    assert email_key("  Buyer@Etalase.TEST ") == "buyer@etalase.test"


def test_password_hashing_slots_refuse_instead_of_queueing():
    from storefront_service import identity

    held = [identity.hashing_slot() for _ in range(identity.HASH_SLOTS)]
    for slot in held:
        slot.__enter__()
    try:
        with pytest.raises(identity.HashingBusy):
            identity.hash_password("correct-horse")
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    assert identity.verify_password(identity.hash_password("correct-horse"), "correct-horse")
