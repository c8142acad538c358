"""Admins manage accounts: disable one (its logins and tokens stop working)."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..domain.errors import Conflict, NotFound
from ..store import accounts
from .common import BEARER, authenticated, caller, problems
from .context import ctx
from .schemas import AdminAccountSchema

blp = Blueprint("admin_accounts", __name__, url_prefix="/api/v1/admin/accounts",
                description="Admin: accounts.")


@blp.route("/<uuid:account_id>/disable", methods=["POST"])
@authenticated("admin")
@blp.doc(security=BEARER)
@blp.response(200, AdminAccountSchema)
@problems(blp, 401, 403, 404, 409)
def disable_account(account_id):
    """Admin only. The account can no longer log in; its tokens are refused by the showcase
    at once and by the marketplace within 30 s, and no order is placed for it. Disabling
    a disabled account answers the same (the first time is kept)."""
    if str(account_id) == caller("admin").account_id:
        raise Conflict("An admin cannot disable their own account.", slug="cannot-disable-self")
    account = accounts.disable(ctx().database, str(account_id))
    if account is None:
        raise NotFound("No such account.")
    return account
