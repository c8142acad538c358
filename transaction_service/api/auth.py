"""The user behind a request: the showcase's RS256 JWT, verified here with the JWKS file
(by the app's verifier, built with the app: `servicekit.app.build_app(jwks_file=)`)."""

from __future__ import annotations

from flask import g

from servicekit.auth import (
    Principal,
    current_principal,
    inactive_account,
    require_roles,
)

from .context import ctx


def principal(required: bool = True) -> Principal | None:
    """The verified caller (401 problem when required and missing or invalid, or when the
    showcase says the account is disabled or gone)."""
    user = current_principal(required=required)
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
