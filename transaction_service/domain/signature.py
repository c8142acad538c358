"""Provider notification signatures (Midtrans protocol):
`hex(SHA512(order_id + status_code + gross_amount + server_key))`, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac


def notification_signature(
    order_id: str, status_code: str, gross_amount: str, server_key: str
) -> str:
    material = f"{order_id}{status_code}{gross_amount}{server_key}".encode()
    return hashlib.sha512(material).hexdigest()


def verify_notification_signature(
    *, order_id: str, status_code: str, gross_amount: str, signature_key: str | None,
    server_key: str,
) -> bool:
    if not signature_key or not isinstance(signature_key, str) or not server_key:
        return False
    expected = notification_signature(order_id, status_code, gross_amount, server_key)
    # Lower-case both: hex is case-insensitive, the comparison must not be.
    return hmac.compare_digest(expected.encode(), signature_key.strip().lower().encode())
