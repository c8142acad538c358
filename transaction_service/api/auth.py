"""The user behind a request: the showcase's RS256 JWT, verified here with the JWKS file."""

from __future__ import annotations

from flask import current_app, g

from servicekit.auth import (
    KeySet,
    Principal,
    TokenVerifier,
    current_principal,
    inactive_account,
    require_roles,
)

from .context import ctx

_EXTENSION = "transaction_token_verifier"


def verifier() -> TokenVerifier:
    """One verifier per app (its key set reloads the JWKS file when it changes)."""
    cached = current_app.extensions.get(_EXTENSION)
    if cached is None:
        config = current_app.config["ETALASE"]
        cached = TokenVerifier(KeySet(config.jwks_file))
        current_app.extensions[_EXTENSION] = cached
    return cached


def principal(required: bool = True) -> Principal | None:
    """The verified caller (401 problem when required and missing or invalid, or when the
    showcase says the account is disabled or gone)."""
    user = current_principal(verifier(), required=required)
    if user is not None and not g.get("account_checked"):
        accounts = ctx().accounts
        if accounts is not None and not accounts.is_active(user.account_id):
            raise inactive_account()
        g.account_checked = True
    return user


def principal_with_role(*roles: str) -> Principal:
    """The verified caller, who must hold one of `roles` (403 otherwise)."""
    user = principal(required=True)
    require_roles(user, *roles)
    return user
