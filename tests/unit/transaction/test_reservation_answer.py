"""`reserve()` answers a checked reservation: the showcase's 2xx is trusted only when it is
the reservation asked for (clients/storefront.py: check_reservation)."""

from datetime import UTC, datetime

import pytest

from transaction_service.clients.storefront import (
    BadReservation,
    StorefrontUnavailable,
    check_reservation,
)

SHOP = "5b0c3f0e-2a8e-4a57-9d0b-1b2f0a8e7c11"
WANTED = [{"product_id": "p1", "quantity": 2}, {"product_id": "p2", "quantity": 1}]


def _answer(**changes):
    answer = {
        "status": "active", "shop_id": SHOP, "expires_at": "2026-01-02T03:04:05Z",
        "items": [
            {"product_id": "p1", "shop_id": SHOP, "title": "Batik", "quantity": 2,
             "unit_price": {"amount": 150_000, "currency": "IDR"}},
            {"product_id": "p2", "shop_id": SHOP, "title": "Kopi", "quantity": 1,
             "unit_price": 40_000},
        ],
    }
    answer.update(changes)
    return answer


def test_a_good_answer_becomes_the_price_snapshot_in_the_order_asked():
    checked = check_reservation(WANTED, _answer())
    assert checked.shop_id == SHOP and checked.subtotal == 340_000
    assert [(i["product_id"], i["line_total"]) for i in checked.items] == [
        ("p1", 300_000), ("p2", 40_000)]
    assert checked.expires_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _line(**changes):
    return {"items": [{**_answer()["items"][0], **changes}, _answer()["items"][1]]}


@pytest.mark.parametrize("changes", [
    {"status": "released"}, {"items": None}, {"items": _answer()["items"][:1]},
    _line(quantity=3), _line(unit_price=-1), _line(unit_price=True), _line(unit_price="1"),
    _line(shop_id="another-shop"), {"shop_id": None, **_line(shop_id=None)},
    _line(attribution={"content_id": "x", "creator_id": "y", "commission_rate_bps": 1}),
])
def test_anything_else_is_no_usable_answer(changes):
    with pytest.raises(BadReservation) as raised:
        check_reservation(WANTED, _answer(**changes))
    # To the checkout it is as if the showcase had not answered (the stock may be held).
    assert isinstance(raised.value, StorefrontUnavailable)
