"""A creator's money (DESIGN.md §11): balance, ledger and payouts through the same views as
a seller's (`sellers.money_blueprint`, the payee kind a parameter), plus what only a
creator has: earnings per content and the creator's own attributed order lines.

A creator sees only their own lines: never the buyer, the address, the payment or the
other lines of the order.
"""

from __future__ import annotations

import marshmallow as ma

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
from .schemas import MoneySchema, UtcDateTime
from .sellers import (
    CreatorBalanceSchema,
    CreatorPayoutPageSchema,
    CreatorPayoutSchema,
    _database,
    creator_payee,
    document_problems,
    money_blueprint,
)

_PROBLEMS = {401: "Missing or invalid bearer token.", 403: "Not a creator."}

blp = money_blueprint(
    "creators",
    "/api/v1/creators/me",
    "The calling creator's commission: balance, ledger, payouts, earnings per content.",
    who="creator",
    resolve_payee=creator_payee,
    balance_schema=CreatorBalanceSchema,
    payout_schema=CreatorPayoutSchema,
    payout_page_schema=CreatorPayoutPageSchema,
    problems=_PROBLEMS,
)
_problem_doc = document_problems(blp, _PROBLEMS)


class ContentEarningsSchema(ma.Schema):
    content_id = ma.fields.String(required=True)
    orders = ma.fields.Integer(required=True, metadata={"description": "Paid orders."})
    units = ma.fields.Integer(required=True)
    sales = ma.fields.Nested(MoneySchema, required=True, metadata={"description": "Line totals."})
    commission = ma.fields.Nested(
        MoneySchema, required=True, metadata={"description": "Earned: completed orders."}
    )
    pending_commission = ma.fields.Nested(
        MoneySchema, required=True, metadata={"description": "Paid orders not yet completed."}
    )


class EarningsPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(ContentEarningsSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class CreatorLineSchema(ma.Schema):
    product_id = ma.fields.String()
    title = ma.fields.String()
    quantity = ma.fields.Integer()
    line_total = ma.fields.Nested(MoneySchema)
    content_id = ma.fields.String()
    commission_rate_bps = ma.fields.Integer()
    commission = ma.fields.Nested(MoneySchema)


class CreatorOrderSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String()
    created_at = UtcDateTime()
    completed_at = UtcDateTime(allow_none=True)
    items = ma.fields.List(ma.fields.Nested(CreatorLineSchema),
                           metadata={"description": "Only the caller's own lines."})


class CreatorOrderPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(CreatorOrderSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


@blp.route("/earnings", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], summary="The creator's earnings per content")
@blp.arguments(PageArgsSchema(), location="query", as_kwargs=True)
@blp.response(200, EarningsPageSchema)
@_problem_doc(401, 403, 422)
def get_earnings(limit: int, cursor: str | None):
    """Per video or live session that sold something: paid orders, units, sales, the
    commission earned on completed orders and the commission pending on paid ones."""
    _, payee = creator_payee()
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], str):
        raise invalid_cursor()
    with _database().transaction() as db:
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
@_problem_doc(401, 403, 422)
def list_orders(limit: int, cursor: str | None):
    """Newest first; each order with only the caller's own lines (no buyer details)."""
    _, payee = creator_payee()
    after = decode_keyset_cursor(cursor)
    with _database().transaction() as db:
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
