"""Accounts: register, log in (RS256 JWT), who am I."""

from __future__ import annotations

from contextlib import contextmanager

from flask_smorest import Blueprint

from servicekit.problems import Problem

from ..domain.errors import AuthenticationFailed, Forbidden, NotFound
from ..domain.login_throttle import email_key
from ..identity import HashingBusy, hash_password, hashing_slot, needs_rehash, verify_password
from ..store import accounts, login_failures
from .common import BEARER, authenticated, caller, problems
from .context import ctx
from .schemas import AccountSchema, LoginSchema, RegisterSchema, TokenSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and login.")

_REGISTER_EXAMPLE = {
    "email": "sari@example.com",
    "password": "rahasia-sekali",
    "name": "Sari Wulandari",
    "role": "buyer",
}


@blp.route("/register", methods=["POST"])
@blp.arguments(RegisterSchema(), example=_REGISTER_EXAMPLE)
@blp.response(201, AccountSchema)
@problems(blp, 409, 422, 429)
def register(body):
    """Create a buyer, seller or creator account (admins are never self-registered).
    429 `login-busy` when the showcase is already hashing as many passwords as it allows."""
    try:
        password_hash = hash_password(body["password"])
    except HashingBusy:
        raise _busy() from None
    return accounts.create_account(
        ctx().database,
        email=body["email"],
        password_hash=password_hash,
        name=body["name"],
        role=body["role"],
    )


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema(), example={"email": "buyer@etalase.test", "password": "etalase-demo"})
@blp.response(200, TokenSchema)
@problems(blp, 401, 403, 422, 429)
def login(body):
    """Exchange email and password for an access token. After 5 failed attempts in a row
    an account must wait before each further one (1 s, doubling, at most 15 min): 429
    `login-throttled` with Retry-After, for known and unknown emails alike. 429
    `login-busy` when the showcase is already hashing as many passwords as it allows."""
    db = ctx().database
    key = email_key(body["email"])
    with _slot():
        wait = login_failures.seconds_blocked(db, key)
        if wait:
            raise _throttled(wait)
        account = accounts.find_for_login(db, body["email"])
        # Unknown email and wrong password take the same time and give the same answer.
        ok = verify_password(account["password_hash"] if account else None, body["password"])
    if not ok:
        login_failures.record_failure(db, key)
        raise AuthenticationFailed("The email or password is incorrect.")
    login_failures.reset(db, key)
    if account["disabled_at"] is not None:
        # Said only to whoever knows the password: no enumeration of disabled accounts.
        raise Forbidden("This account has been disabled.", slug="account-disabled")
    if needs_rehash(account["password_hash"]):
        try:
            accounts.update_password_hash(db, account["id"], hash_password(body["password"]))
        except HashingBusy:
            pass  # upgraded at a later login
    token, expires_in = ctx().tokens.issue(
        account["id"], account["role"], account["shop_id"]
    )
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


@contextmanager
def _slot():
    try:
        with hashing_slot():
            yield
    except HashingBusy:
        raise _busy() from None


def _busy() -> Problem:
    return Problem(429, "Too Many Requests",
                   "The showcase is handling as many logins as it can; retry in a moment.",
                   slug="login-busy", headers={"Retry-After": "1"})


def _throttled(seconds: int) -> Problem:
    return Problem(429, "Too Many Requests",
                   "Too many failed logins for this account; wait before trying again.",
                   slug="login-throttled", headers={"Retry-After": str(seconds)})


@blp.route("/me", methods=["GET"])
@authenticated()
@blp.doc(security=BEARER)
@blp.response(200, AccountSchema)
@problems(blp, 401, 404)
def me():
    """The caller's account."""
    account = accounts.get_account(ctx().database, caller().account_id)
    if account is None:
        raise NotFound("The account no longer exists.")
    return account
