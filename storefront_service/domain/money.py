"""Money is an integer number of rupiah; never a float."""

from __future__ import annotations

CURRENCY = "IDR"


def money(amount: int) -> dict:
    """The JSON shape of a price: `{"amount": 150000, "currency": "IDR"}`."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"money amounts are integer rupiah, got {amount!r}")
    return {"amount": amount, "currency": CURRENCY}


def line_total(unit_price: int, quantity: int) -> int:
    return unit_price * quantity
