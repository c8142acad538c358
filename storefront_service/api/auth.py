"""Accounts: register, log in (RS256 JWT), who am I."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from ..domain.errors import AuthenticationFailed, Forbidden, NotFound
from ..identity import hash_password, needs_rehash, verify_password
from ..store import accounts
from .common import BEARER, authenticated, caller, database, problem_doc
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
@problem_doc(blp, 409, 422)
def register(body):
    """Create a buyer, seller or creator account (admins are never self-registered)."""
    return accounts.create_account(
        database(),
        email=body["email"],
        password_hash=hash_password(body["password"]),
        name=body["name"],
        role=body["role"],
    )


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema(), example={"email": "buyer@etalase.test", "password": "etalase-demo"})
@blp.response(200, TokenSchema)
@problem_doc(blp, 401, 403, 422)
def login(body):
    """Exchange email and password for an access token."""
    account = accounts.find_for_login(database(), body["email"])
    # Unknown email and wrong password take the same time and give the same answer.
    if not verify_password(account["password_hash"] if account else None, body["password"]):
        raise AuthenticationFailed("The email or password is incorrect.")
    if account["disabled_at"] is not None:
        # Said only to whoever knows the password: no enumeration of disabled accounts.
        raise Forbidden("This account has been disabled.", slug="account-disabled")
    if needs_rehash(account["password_hash"]):
        accounts.update_password_hash(database(), account["id"], hash_password(body["password"]))
    token, expires_in = current_app.extensions["token_issuer"].issue(
        account["id"], account["role"], account["shop_id"]
    )
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


@blp.route("/me", methods=["GET"])
@authenticated()
@blp.doc(security=BEARER)
@blp.response(200, AccountSchema)
@problem_doc(blp, 401, 404)
def me():
    """The caller's account."""
    account = accounts.get_account(database(), caller().account_id)
    if account is None:
        raise NotFound("The account no longer exists.")
    return account
