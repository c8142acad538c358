from __future__ import annotations

import pytest

from transaction_service.domain.money import (
    InvalidAmount,
    format_provider_amount,
    line_total,
    money,
    parse_provider_amount,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [("150000.00", 150000), ("150000.0", 150000), ("150000", 150000), ("0.00", 0),
     ("1", 1), ("999999999999999", 999999999999999)],
)
def test_parse_whole_rupiah(text, value):
    assert parse_provider_amount(text) == value


@pytest.mark.parametrize(
    "text",
    ["150000.50", "150000.01", "150000.5", "-1.00", "1e5", "", " 100.00", "100.00 ", "abc",
     "0150000.00", "150000.000", "1,000.00", "+5", "NaN", "Infinity", "1.", ".5",
     "99999999999999999", "١٢٣"],
)
def test_parse_refuses_fractional_and_malformed(text):
    with pytest.raises(InvalidAmount):
        parse_provider_amount(text)


@pytest.mark.parametrize("value", [150000.0, None, 150000, b"1"])
def test_parse_refuses_non_strings(value):
    with pytest.raises(InvalidAmount):
        parse_provider_amount(value)


def test_format_round_trips():
    for amount in (0, 1, 150000, 10**12):
        text = format_provider_amount(amount)
        assert text == f"{amount}.00"
        assert parse_provider_amount(text) == amount


@pytest.mark.parametrize("value", [-1, 1.5, True, "100", None])
def test_format_refuses_non_integers(value):
    with pytest.raises(InvalidAmount):
        format_provider_amount(value)


def test_money_and_line_total():
    assert money(150000) == {"amount": 150000, "currency": "IDR"}
    assert line_total(25000, 3) == 75000
