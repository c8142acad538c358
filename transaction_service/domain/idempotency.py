"""What makes two requests "the same request" for an idempotency key.

The fingerprint covers the method, the path and the body in canonical JSON (sorted keys,
no insignificant whitespace), so a client re-serialising the same document gets a replay
while any change in what it asks for is detected (422)."""

from __future__ import annotations

import hashlib
import json

MAX_KEY_LENGTH = 255


def canonical_body(body: bytes) -> bytes:
    if not body:
        return b""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return b"raw:" + body
    return b"json:" + json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\n")
    digest.update(path.encode())
    digest.update(b"\n")
    digest.update(canonical_body(body))
    return digest.hexdigest()


def key_problem(key: str | None) -> str | None:
    """Why a presented key is unusable, or None when it is fine."""
    if key is None:
        return "missing"
    if not key.strip():
        return "The Idempotency-Key header must not be empty."
    if len(key) > MAX_KEY_LENGTH:
        return f"The Idempotency-Key header must be at most {MAX_KEY_LENGTH} characters."
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        return "The Idempotency-Key header must not contain control characters."
    return None
