from __future__ import annotations

import hashlib

from transaction_service.clients.payments import MidtransProvider, SandboxProvider
from transaction_service.domain.signature import (
    notification_signature,
    verify_notification_signature,
)

KEY = "server-key-123"


def _expected(order_id, code, gross, key):
    return hashlib.sha512(f"{order_id}{code}{gross}{key}".encode()).hexdigest()


def test_signature_matches_the_midtrans_formula():
    assert notification_signature("ord-1", "200", "150000.00", KEY) == _expected(
        "ord-1", "200", "150000.00", KEY
    )


def test_verify_accepts_the_right_signature_in_any_hex_case():
    signature = notification_signature("ord-1", "200", "150000.00", KEY)
    for presented in (signature, signature.upper()):
        assert verify_notification_signature(
            order_id="ord-1", status_code="200", gross_amount="150000.00",
            signature_key=presented, server_key=KEY,
        )


def test_verify_rejects_wrong_missing_or_tampered():
    good = notification_signature("ord-1", "200", "150000.00", KEY)
    cases = [
        dict(signature_key=None),
        dict(signature_key=""),
        dict(signature_key=good[:-1] + ("0" if good[-1] != "0" else "1")),
        dict(gross_amount="150001.00", signature_key=good),
        dict(status_code="201", signature_key=good),
        dict(order_id="ord-2", signature_key=good),
        dict(server_key="other-key", signature_key=good),
        dict(server_key="", signature_key=notification_signature("ord-1", "200",
                                                                  "150000.00", "")),
    ]
    for case in cases:
        args = dict(order_id="ord-1", status_code="200", gross_amount="150000.00",
                    server_key=KEY)
        args.update(case)
        assert not verify_notification_signature(**args), case


def test_both_adapters_share_the_protocol():
    payload = {"order_id": "o", "status_code": "200", "gross_amount": "10.00"}
    payload["signature_key"] = notification_signature("o", "200", "10.00", KEY)
    for provider_class in (SandboxProvider, MidtransProvider):
        provider = provider_class(server_key=KEY)
        assert provider.verify_notification_signature(payload)
        assert not provider.verify_notification_signature({**payload, "gross_amount": 10})
        assert not provider.verify_notification_signature({**payload, "signature_key": "x"})
    assert MidtransProvider(server_key=KEY).base_url == "https://api.sandbox.midtrans.com"
    assert MidtransProvider(server_key=KEY, base_url="https://api.midtrans.com/").base_url == (
        "https://api.midtrans.com"
    )
