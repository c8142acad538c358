"""A creator's money (DESIGN.md §11): balance, ledger and payouts through the same views as
a seller's (`sellers.money_blueprint`, the payee kind a parameter), plus what only a
creator has: earnings per content and the creator's own attributed order lines.

A creator sees only their own lines: never the buyer, the address, the payment or the
other lines of the order.
"""

from __future__ import annotations

from servicekit.pagination import (
    PageArgsSchema,
    decode_cursor,
    decode_keyset_cursor,
    invalid_cursor,
    keyset_page,
    page,
)

from ..domain.money import money
from ..store import ledger as ledger_store
from ..store import orders as order_store
from .context import ctx
from .docs import problems
from .schemas import (
    CreatorBalanceSchema,
    CreatorOrderPageSchema,
    CreatorPayoutPageSchema,
    CreatorPayoutSchema,
    EarningsPageSchema,
)
from .sellers import creator_payee, money_blueprint

# The 401 and 403 of every view here (`s<status>` overrides of `problems`).
_PAYEE_PROBLEMS = {"s401": "Missing or invalid bearer token.", "s403": "Not a creator."}

blp = money_blueprint(
    "creators",
    "/api/v1/creators/me",
    "The calling creator's commission: balance, ledger, payouts, earnings per content.",
    who="creator",
    resolve_payee=creator_payee,
    balance_schema=CreatorBalanceSchema,
    payout_schema=CreatorPayoutSchema,
    payout_page_schema=CreatorPayoutPageSchema,
    descriptions=_PAYEE_PROBLEMS,
)


@blp.route("/earnings", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], summary="The creator's earnings per content")
@blp.arguments(PageArgsSchema(), location="query", as_kwargs=True)
@blp.response(200, EarningsPageSchema)
@problems(blp, 401, 403, 422, **_PAYEE_PROBLEMS)
def get_earnings(limit: int, cursor: str | None):
    """Per video or live session that sold something: paid orders, units, sales, the
    commission earned on completed orders and the commission pending on paid ones."""
    _, payee = creator_payee()
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], str):
        raise invalid_cursor()
    with ctx().database.transaction() as db:
        rows = order_store.creator_earnings(
            db, payee.id, pending_statuses=list(ledger_store.PENDING_STATUSES),
            limit=limit + 1, after_content_id=after[0] if after else None,
        )
    result = page(rows, limit, key=lambda row: [row["content_id"]])
    result["data"] = [
        {**row, **{name: money(row[name]) for name in ("sales", "commission",
                                                       "pending_commission")}}
        for row in result["data"]
    ]
    return result


@blp.route("/orders", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], summary="Orders the creator's content sold")
@blp.arguments(PageArgsSchema(), location="query", as_kwargs=True)
@blp.response(200, CreatorOrderPageSchema)
@problems(blp, 401, 403, 422, **_PAYEE_PROBLEMS)
def list_orders(limit: int, cursor: str | None):
    """Newest first; each order with only the caller's own lines (no buyer details)."""
    _, payee = creator_payee()
    after = decode_keyset_cursor(cursor)
    with ctx().database.transaction() as db:
        rows = order_store.creator_orders(db, payee.id, limit=limit + 1, after=after)
    result = keyset_page(rows, limit)
    result["data"] = [
        {
            **order,
            "items": [
                {
                    "product_id": item["product_id"],
                    "title": item["title"],
                    "quantity": item["quantity"],
                    "line_total": money(int(item["line_total"])),
                    "content_id": item["attribution"]["content_id"],
                    "commission_rate_bps": item["attribution"]["commission_rate_bps"],
                    "commission": money(item["attribution"]["commission"]),
                }
                for item in order["items"]
            ],
        }
        for order in result["data"]
    ]
    return result
