"""The notification signature of DESIGN §7 and the provider's amount format."""

import pytest

from payment_sandbox.domain.signature import format_amount, signature_key, verify_signature

# printf '%s' 'ORDER-101200150000.00sandbox-server-key' | sha512sum
SETTLEMENT_VECTOR = (
    "c128b622f804d05e8db77ed0a3a5d47c3b49aa84572d0577ca341c78e187c497"
    "2dba09e459f3b98f4c6aee12fdda16026da43690e73ca975db0c2089a8f0fdeb"
)


def test_signature_matches_an_independently_computed_sha512():
    assert signature_key("ORDER-101", "200", "150000.00", "sandbox-server-key") == (
        SETTLEMENT_VECTOR
    )


def test_signature_depends_on_every_part():
    base = signature_key("ORDER-101", "200", "150000.00", "sandbox-server-key")
    assert signature_key("ORDER-102", "200", "150000.00", "sandbox-server-key") != base
    assert signature_key("ORDER-101", "201", "150000.00", "sandbox-server-key") != base
    assert signature_key("ORDER-101", "200", "150001.00", "sandbox-server-key") != base
    assert signature_key("ORDER-101", "200", "150000.00", "other-key") != base


def test_signature_is_lowercase_hex_of_512_bits():
    value = signature_key("o", "201", "1.00", "k")
    assert len(value) == 128
    assert value == value.lower()
    int(value, 16)


def test_verify_signature_accepts_a_valid_body_and_rejects_tampering():
    body = {
        "order_id": "ORDER-101",
        "status_code": "200",
        "gross_amount": "150000.00",
        "signature_key": SETTLEMENT_VECTOR,
    }
    assert verify_signature(body, "sandbox-server-key")
    assert not verify_signature(body, "wrong-key")
    assert not verify_signature({**body, "gross_amount": "1.00"}, "sandbox-server-key")
    assert not verify_signature({**body, "status_code": "201"}, "sandbox-server-key")
    missing = dict(body)
    del missing["signature_key"]
    assert not verify_signature(missing, "sandbox-server-key")


@pytest.mark.parametrize(
    ("amount", "text"), [(1, "1.00"), (150000, "150000.00"), (10**12, "1000000000000.00")]
)
def test_format_amount(amount, text):
    assert format_amount(amount) == text


@pytest.mark.parametrize("bad", [1.5, "100", True, None])
def test_format_amount_refuses_non_integers(bad):
    with pytest.raises(TypeError):
        format_amount(bad)
