"""Money is an integer number of rupiah.

The public API shows `{"amount": 150000, "currency": "IDR"}`; the provider protocol uses the
string `"150000.00"`. Rupiah has no minor unit in practice, so a fractional amount from the
provider is refused rather than rounded.
"""

from __future__ import annotations

import re

CURRENCY = "IDR"
MAX_AMOUNT = 10**15  # far above any real order; keeps arithmetic inside bigint

_PROVIDER_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,2}))?$")


class InvalidAmount(ValueError):
    pass


def money(amount: int, currency: str = CURRENCY) -> dict:
    return {"amount": int(amount), "currency": currency}


def format_provider_amount(amount: int) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidAmount(f"not a non-negative integer amount: {amount!r}")
    return f"{amount}.00"


def parse_provider_amount(text: str) -> int:
    """`"150000.00"` / `"150000.0"` / `"150000"` -> 150000; anything fractional or malformed
    raises InvalidAmount."""
    if not isinstance(text, str):
        raise InvalidAmount("the amount must be a string")
    match = _PROVIDER_AMOUNT.match(text)
    if not match:
        raise InvalidAmount(f"not an amount: {text!r}")
    whole, fraction = match.groups()
    if fraction is not None and int(fraction) != 0:
        raise InvalidAmount(f"fractional rupiah are not accepted: {text!r}")
    value = int(whole)
    if value > MAX_AMOUNT:
        raise InvalidAmount(f"amount too large: {text!r}")
    return value


def line_total(unit_price: int, quantity: int) -> int:
    return unit_price * quantity
