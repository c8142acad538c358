"""The user behind a request: the showcase's RS256 JWT, verified here with the JWKS file."""

from __future__ import annotations

from flask import current_app

from servicekit.auth import KeySet, Principal, TokenVerifier, current_principal, require_roles

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
    """The verified caller (401 problem when required and missing or invalid)."""
    return current_principal(verifier(), required=required)


def principal_with_role(*roles: str) -> Principal:
    """The verified caller, who must hold one of `roles` (403 otherwise)."""
    user = principal(required=True)
    require_roles(user, *roles)
    return user
