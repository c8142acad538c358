"""Passwords (argon2id) and the RS256 access tokens the showcase issues at login.

Both services verify these tokens on their own with the public JWKS (servicekit.auth);
only this module holds the private key.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

ISSUER = "etalase-storefront"

# argon2id with the library's recommended time and memory cost (t=3, 64 MiB), in one lane:
# a hash then occupies at most one core (four lanes would run four threads and take every
# core of a small machine for each login). Hashes made with other parameters are upgraded
# at the next successful login (needs_rehash).
_hasher = PasswordHasher(parallelism=1)
# Verified against when the email is unknown, so a login for a missing account costs the
# same time as one with a wrong password (no account enumeration by timing).
_DUMMY_HASH = _hasher.hash("etalase-dummy-password-for-timing")

# Password hashing is the one CPU-heavy thing the showcase does. At most
# LOGIN_HASH_CONCURRENCY hashes (default 1) run at once in one showcase instance: its
# gunicorn master creates LOGIN_HASH_LOCK_DIR, and a hash holds one of that many lock
# files (flock, shared by the workers; without the directory, e.g. an app in a test,
# the bound is per process). A login or registration that finds every slot taken is
# refused at once (429 login-busy, Retry-After) rather than queued, so a login flood can
# neither hold the threads other requests need nor take more than that many cores.
HASH_SLOTS = max(1, int(os.environ.get("LOGIN_HASH_CONCURRENCY", "1")))
_LOCK_DIR = os.environ.get("LOGIN_HASH_LOCK_DIR")
_slots = threading.BoundedSemaphore(HASH_SLOTS)


class HashingBusy(Exception):
    """Every password-hashing slot of this showcase instance is taken."""


@contextmanager
def hashing_slot():
    if not _slots.acquire(blocking=False):
        raise HashingBusy()
    try:
        if _LOCK_DIR is None:
            yield
            return
        for slot in range(HASH_SLOTS):
            fd = os.open(os.path.join(_LOCK_DIR, f"slot-{slot}"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            try:
                yield
            finally:
                os.close(fd)  # releases the lock
            return
        raise HashingBusy()
    finally:
        _slots.release()


def hash_password(password: str) -> str:
    with hashing_slot():
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Call inside `hashing_slot()`."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


class SigningKeyUnavailable(Exception):
    """The private key file is missing or unreadable (a deployment problem)."""


class TokenIssuer:
    def __init__(self, private_key_file: str | Path, kid: str, ttl_seconds: int):
        self.private_key_file = Path(private_key_file)
        self.kid = kid
        self.ttl_seconds = ttl_seconds
        self._key: RSAPrivateKey | None = None
        self._lock = threading.Lock()

    def _private_key(self) -> RSAPrivateKey:
        # Parsed once: PyJWT would otherwise parse the PEM on every login (~27 ms each).
        if self._key is None:
            with self._lock:
                if self._key is None:
                    try:
                        pem = self.private_key_file.read_bytes()
                    except OSError as exc:
                        raise SigningKeyUnavailable(str(exc)) from exc
                    self._key = serialization.load_pem_private_key(pem, password=None)
        return self._key

    def issue(self, account_id: str, role: str, shop_id: str | None) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": str(account_id),
            "roles": [role],
            "iat": now,
            "exp": now + self.ttl_seconds,
        }
        if shop_id:
            claims["shop_id"] = str(shop_id)
        token = jwt.encode(
            claims, self._private_key(), algorithm="RS256", headers={"kid": self.kid}
        )
        return token, self.ttl_seconds
