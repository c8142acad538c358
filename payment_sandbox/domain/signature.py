"""Midtrans notification signatures and amount formatting."""

from __future__ import annotations

import hashlib
import hmac


def format_amount(amount: int) -> str:
    """Integer rupiah as the provider's string, e.g. 150000 -> "150000.00"."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount must be an integer number of rupiah")
    return f"{amount}.00"


def signature_key(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """hex(SHA512(order_id + status_code + gross_amount + server_key)), as Midtrans."""
    payload = f"{order_id}{status_code}{gross_amount}{server_key}".encode()
    return hashlib.sha512(payload).hexdigest()


def verify_signature(notification: dict, server_key: str) -> bool:
    """Constant-time check of a notification body's `signature_key`."""
    try:
        expected = signature_key(
            str(notification["order_id"]),
            str(notification["status_code"]),
            str(notification["gross_amount"]),
            server_key,
        )
        presented = str(notification["signature_key"])
    except KeyError:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
