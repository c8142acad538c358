"""Verifying who is calling.

Users: an RS256 JWT issued by the showcase, verified by each service on its own against a
JSON Web Key Set (by `kid`, so keys can rotate: publish the new key next to the old one,
switch signing, then drop the old key). Only RS256 is accepted, which rules out `alg: none`
and HS256 tokens "signed" with the public key.

Services: `/internal/...` endpoints take a per-service shared secret in `X-Internal-Token`,
compared in constant time. A user's JWT is never accepted there.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path

import jwt
from flask import current_app, g, request

from .errors import AccountInactive
from .problems import BEARER_CHALLENGE, Problem, problem_from_domain

ALGORITHM = "RS256"
ROLES = frozenset({"buyer", "seller", "creator", "admin"})
INTERNAL_TOKEN_HEADER = "X-Internal-Token"
# The app's one `TokenVerifier`, built with the app (`servicekit.app.build_app(jwks_file=)`).
VERIFIER_EXTENSION = "token_verifier"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """The authenticated user of a request."""

    account_id: str
    roles: frozenset[str]
    shop_id: str | None = None
    claims: dict = field(default_factory=dict, compare=False, repr=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        slug="unauthorized",
        headers={"WWW-Authenticate": BEARER_CHALLENGE},
    )


class KeySet:
    """Public keys by `kid`, reloaded from the JWKS file when it changes (rotation
    without a restart)."""

    def __init__(self, jwks_file: str | Path, reload_interval: float = 5.0):
        self.path = Path(jwks_file)
        self.reload_interval = reload_interval
        self._keys: dict[str, object] = {}
        # (mtime_ns, size, inode) of the file the keys came from: an mtime alone misses a
        # rewrite within the filesystem's timestamp granularity.
        self._version: tuple[int, int, int] | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def get(self, kid: str):
        self._maybe_reload()
        return self._keys.get(kid)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self._keys and now - self._checked_at < self.reload_interval:
            return
        with self._lock:
            self._checked_at = now
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._keys, self._version = {}, None
                return
            version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if version == self._version:
                return
            try:
                document = json.loads(self.path.read_text(encoding="utf-8"))
                keys = load_jwks(document)
            except (OSError, ValueError, TypeError, AttributeError, jwt.PyJWTError) as exc:
                # A half-written or broken file must not turn every request into a 500:
                # keep the keys we had (none at first start) and try again next interval.
                log.error("cannot load the JWKS %s (%s); keeping %d previous key(s)",
                          self.path, exc, len(self._keys))
                return
            self._keys, self._version = keys, version


def load_jwks(document: dict) -> dict[str, object]:
    keys = {}
    for jwk in document.get("keys", []):
        if jwk.get("kty") != "RSA" or "kid" not in jwk:
            continue
        if jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
    return keys


class TokenVerifier:
    def __init__(self, keyset: KeySet, *, leeway_seconds: int = 30):
        self.keyset = keyset
        self.leeway = leeway_seconds

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized("The bearer token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            raise _unauthorized("The bearer token must be signed with RS256.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _unauthorized("The bearer token has no key id.")
        key = self.keyset.get(kid)
        if key is None:
            raise _unauthorized("The bearer token was signed with an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat", "roles"]},
                leeway=self.leeway,
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The bearer token has expired.") from None
        except jwt.PyJWTError:
            raise _unauthorized("The bearer token is invalid.") from None
        roles = claims.get("roles")
        if not isinstance(roles, list) or not roles or not set(roles) <= ROLES:
            raise _unauthorized("The bearer token has invalid roles.")
        shop_id = claims.get("shop_id")
        return Principal(
            account_id=str(claims["sub"]),
            roles=frozenset(roles),
            shop_id=str(shop_id) if shop_id else None,
            claims=claims,
        )


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def install_token_verifier(app, jwks_file: str | Path) -> None:
    """Give `app` its verifier of user tokens (its key set reloads the JWKS file when it
    changes, so one per app is enough)."""
    app.extensions[VERIFIER_EXTENSION] = TokenVerifier(KeySet(jwks_file))


def current_principal(*, required: bool = True) -> Principal | None:
    """The request's user, verified once per request by the app's verifier and cached on
    `g`."""
    if "principal" in g:
        return g.principal
    token = bearer_token()
    if token is None:
        if required:
            raise _unauthorized("A bearer token is required.")
        g.principal = None
        return None
    g.principal = current_app.extensions[VERIFIER_EXTENSION].verify(token)
    return g.principal


def inactive_account() -> Problem:
    """A validly signed token whose account is disabled or no longer exists."""
    return problem_from_domain(AccountInactive())


def require_roles(principal: Principal, *roles: str) -> None:
    if roles and not principal.roles & set(roles):
        raise Problem(
            403,
            "Forbidden",
            f"This action requires one of the roles: {', '.join(roles)}.",
            slug="forbidden",
        )


def check_internal_token(expected: str) -> None:
    """Raise 401 unless the caller presented the service credential."""
    presented = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise _unauthorized("This endpoint is for Etalase services only.")


def internal_only(get_expected: Callable[[], str]):
    """Decorator for `/internal/...` views."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            check_internal_token(get_expected())
            return view(*args, **kwargs)

        return wrapper

    return decorator
