"""A payee's money: balance, ledger lines of its payable account, payouts.

One mechanism for every kind of payee (DESIGN.md §8, §11): `money_blueprint(...)` builds
the views for a payee kind (a seller's shop here, a creator in `api/creators.py`), so a
fix to balances or payouts reaches both. Everything is scoped to the caller's own payable
account (the `shop_id` claim, or the creator's account id); there is no way to name
another's.
"""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from servicekit.auth import Principal
from servicekit.pagination import (
    PageArgsSchema,
    decode_cursor,
    decode_keyset_cursor,
    invalid_cursor,
    keyset_page,
    page,
)
from servicekit.problems import Problem

from ..domain import ledger
from ..domain.money import money
from ..operations import webhooks as webhook_operations
from ..store import ledger as ledger_store
from ..store import payouts as payouts_store
from . import idempotency
from .auth import principal_with_role
from .context import ctx
from .docs import problems
from .schemas import (
    BalanceSchema,
    LedgerPageSchema,
    PayoutPageSchema,
    PayoutRequestSchema,
    PayoutSchema,
    present_payout,
)

# ---------------------------------------------------------------------------------------
# Who is paid


def seller_payee() -> tuple[Principal, ledger.Payee]:
    """The calling seller and their shop's payable (401/403 problems otherwise)."""
    user = principal_with_role("seller")
    if not user.shop_id:
        raise Problem(
            403,
            "Forbidden",
            "Your account has no shop yet; create one before using seller money endpoints.",
            slug="no-shop",
        )
    try:
        payee = ledger.Payee(ledger.SHOP, user.shop_id)
    except ledger.LedgerError:
        raise Problem(
            403, "Forbidden", "The token's shop id is not valid.", slug="forbidden"
        ) from None
    return user, payee


def creator_payee() -> tuple[Principal, ledger.Payee]:
    """The calling creator and their own payable (401/403 problems otherwise)."""
    user = principal_with_role("creator")
    try:
        payee = ledger.Payee(ledger.CREATOR, user.account_id)
    except ledger.LedgerError:
        raise Problem(
            403, "Forbidden", "The token's account id is not valid.", slug="forbidden"
        ) from None
    return user, payee


# ---------------------------------------------------------------------------------------
# Views, for one payee kind


def money_blueprint(
    name: str,
    url_prefix: str,
    description: str,
    *,
    who: str,
    resolve_payee,
    balance_schema: type[ma.Schema],
    payout_schema: type[ma.Schema],
    payout_page_schema: type[ma.Schema],
    descriptions: dict[str, str],
) -> Blueprint:
    """The balance, ledger and payout views of one kind of payee. `resolve_payee()`
    answers (caller, Payee) for the request or raises the 401/403 problem; `who` names
    the payee in the documentation ("shop", "creator"); `descriptions` are the `problems`
    overrides every view takes (`{"s401": ..., "s403": ...}`)."""
    blp = Blueprint(name, __name__, url_prefix=url_prefix, description=description)

    def problem_doc(*statuses: int, **overrides: str):
        return problems(blp, *statuses, **descriptions, **overrides)

    @blp.route("/balance", methods=["GET"])
    @blp.doc(security=[{"bearerAuth": []}], summary=f"The {who}'s balance")
    @blp.response(200, balance_schema)
    @problem_doc(401, 403)
    def get_balance():
        """Pending (paid orders not yet completed), available and paid-out amounts."""
        _, payee = resolve_payee()
        with ctx().database.transaction() as cursor:
            return ledger_store.payee_balance(cursor, payee)

    @blp.route("/ledger", methods=["GET"])
    @blp.doc(security=[{"bearerAuth": []}], summary=f"The {who}'s ledger lines, newest first")
    @blp.arguments(PageArgsSchema(), location="query", as_kwargs=True)
    @blp.response(200, LedgerPageSchema)
    @problem_doc(401, 403, 422)
    def get_ledger(limit: int, cursor: str | None):
        """Every movement of the available balance: completed orders credit it (a shop
        net of the platform fee and creators' commission, a creator its commission),
        payouts debit it."""
        _, payee = resolve_payee()
        after = decode_cursor(cursor, 1)
        if after is not None and not isinstance(after[0], int):
            raise invalid_cursor()
        before_id = after[0] if after is not None else None
        with ctx().database.transaction() as db:
            rows = ledger_store.account_lines(
                db, payee.account, limit=limit + 1, before_id=before_id
            )
        result = page(rows, limit, key=lambda row: [row["id"]])
        result["data"] = [
            {
                "entry_id": row["entry_id"],
                "kind": row["kind"],
                "reference": row["reference"],
                "amount": money(abs(row["amount"])),
                "direction": "debit" if row["amount"] > 0 else "credit",
                # The payable is credit-normal: its balance is minus the signed running sum.
                "balance_after": -row["running_sum"],
                "created_at": row["created_at"],
            }
            for row in result["data"]
        ]
        return result

    @blp.route("/payouts", methods=["GET"])
    @blp.doc(security=[{"bearerAuth": []}], summary=f"The {who}'s payouts, newest first")
    @blp.arguments(PageArgsSchema(), location="query", as_kwargs=True)
    @blp.response(200, payout_page_schema)
    @problem_doc(401, 403, 422)
    def list_payouts(limit: int, cursor: str | None):
        _, payee = resolve_payee()
        after = decode_keyset_cursor(cursor)
        with ctx().database.transaction() as db:
            rows = payouts_store.list_for_payee(db, payee, limit=limit + 1, after=after)
        result = keyset_page(rows, limit)
        result["data"] = [present_payout(r) for r in result["data"]]
        return result

    @blp.route("/payouts", methods=["POST"])
    @blp.doc(
        security=[{"bearerAuth": []}],
        summary="Withdraw from the available balance",
    )
    @blp.arguments(
        PayoutRequestSchema(),
        example={
            "amount": 500000,
            "bank_account": {
                "bank_code": "bca", "account_number": "1234567890", "account_name": "Toko A",
            },
        },
    )
    @blp.response(201, payout_schema)
    @problem_doc(
        400,
        401,
        403,
        409,
        422,
        s400="idempotency-key-required: the Idempotency-Key header is missing.",
        s409="insufficient-balance (more than available), or idempotency-key-in-use.",
        s422="Invalid body or Idempotency-Key, or idempotency-key-reused (another request).",
    )
    @idempotency.documented
    def create_payout(body: dict):
        """Never more than the available balance, even under concurrent requests. Requires
        an `Idempotency-Key`: a retry with the same key and body replays the first answer
        (also an insufficient-balance refusal); the same key with another body is a 422."""
        user, payee = resolve_payee()  # 401/403 before a key is consumed
        return idempotency.run(user, lambda: _create_payout(user, payee, body))

    return blp


def _create_payout(user: Principal, payee: ledger.Payee, body: dict):
    amount = body["amount"]
    try:
        with ctx().database.transaction() as cursor:
            row = payouts_store.create(
                cursor,
                payee=payee,
                amount=amount,
                requested_by=user.account_id,
                bank_account=body.get("bank_account"),
            )
            webhook_operations.payout_event(cursor, row)
    except payouts_store.InsufficientBalance as exc:
        raise Problem(
            409,
            "Insufficient balance",
            f"The payout of {exc.requested} exceeds the available balance of "
            f"{exc.available}.",
            slug="insufficient-balance",
            extra={"available": money(exc.available)},
        ) from None
    return present_payout(row)


blp = money_blueprint(
    "sellers",
    "/api/v1/sellers/me",
    "The calling seller's balance, ledger and payouts.",
    who="shop",
    resolve_payee=seller_payee,
    balance_schema=BalanceSchema,
    payout_schema=PayoutSchema,
    payout_page_schema=PayoutPageSchema,
    descriptions={"s401": "Missing or invalid bearer token.", "s403": "Not a seller, or no shop."},
)
