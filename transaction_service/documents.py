"""The marketplace's published documents: an order, a refund, a return and a payout as the
API answers them and as webhook events carry them (DESIGN.md §13: an event's `data` is what
GET answers). They live below both `api/` (whose `schemas.py` re-exports them) and
`operations/` (which records events), so neither layer reaches into the other.
"""

from __future__ import annotations

import re
from datetime import UTC

import marshmallow as ma

from .domain import refunds as refund_rules
from .domain import returns as return_rules
from .domain.money import CURRENCY, money

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Text(ma.fields.String):
    """A string without NUL or control characters, surrounding whitespace stripped."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if CONTROL_CHARACTERS.search(text):
            raise ma.ValidationError("Must not contain control characters (such as NUL).")
        return text.strip()


class UtcDateTime(ma.fields.DateTime):
    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class MoneySchema(ma.Schema):
    amount = ma.fields.Integer(required=True, metadata={"example": 150000})
    currency = ma.fields.String(required=True, metadata={"example": CURRENCY})


class ItemAttributionSchema(ma.Schema):
    content_id = ma.fields.String(metadata={"description": "The content the line came from."})
    creator_id = ma.fields.String(metadata={"description": "Seller and admins only."})
    commission_rate_bps = ma.fields.Integer(metadata={"description": "Seller and admins only."})
    commission = ma.fields.Nested(
        MoneySchema, metadata={"description": "line total x rate // 10000; seller and admins "
                                              "only (earned at completion)."}
    )


class OrderItemSchema(ma.Schema):
    product_id = ma.fields.String()
    title = ma.fields.String()
    quantity = ma.fields.Integer()
    unit_price = ma.fields.Nested(MoneySchema)
    line_total = ma.fields.Nested(MoneySchema)
    attribution = ma.fields.Nested(
        ItemAttributionSchema, allow_none=True,
        metadata={"description": "The creator's content this line was sold from (frozen at "
                                 "sale), or null. The buyer sees only content_id."},
    )


class OrderPaymentSchema(ma.Schema):
    method = ma.fields.String(metadata={"example": "bank_transfer"})
    status = ma.fields.String(
        metadata={"description": "pending | settled | expired | cancelled | failed | "
                                 "refund_pending | partially_refunded | refunded"}
    )
    va_number = ma.fields.String(allow_none=True)
    bank = ma.fields.String(allow_none=True)
    deeplink = ma.fields.String(allow_none=True)
    expires_at = UtcDateTime(allow_none=True)
    provider_transaction_id = ma.fields.String(allow_none=True)


class RefundAccountSchema(ma.Schema):
    bank = ma.fields.String()
    account_number = ma.fields.String(
        metadata={"description": "Masked (all but the last 4 digits) except for admins.",
                  "example": "******7890"})
    account_name = ma.fields.String()


class RefundSchema(ma.Schema):
    id = ma.fields.String()
    order_id = ma.fields.String()
    amount = ma.fields.Nested(MoneySchema)
    status = ma.fields.String(
        metadata={"description": "pending | awaiting_account | awaiting_transfer | "
                                 "succeeded | failed"})
    method = ma.fields.String(metadata={"description": "provider | manual"})
    reason = ma.fields.String()
    account = ma.fields.Nested(RefundAccountSchema, allow_none=True)
    transfer_reference = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    succeeded_at = UtcDateTime(allow_none=True)

    @ma.pre_dump
    def _present(self, refund, **_kwargs):
        return present_refund(refund, full_account=False)


class AddressOutSchema(ma.Schema):
    name = ma.fields.String()
    phone = ma.fields.String()
    line1 = ma.fields.String()
    city = ma.fields.String()
    postal_code = ma.fields.String()


class OrderSchema(ma.Schema):
    id = ma.fields.String()
    checkout_id = ma.fields.String(allow_none=True, metadata={
        "description": "The checkout that placed it (one payment for one order per shop); "
                       "the same as `id` for a checkout of one order."})
    status = ma.fields.String(metadata={"example": "UNPAID"})
    buyer_id = ma.fields.String()
    shop_id = ma.fields.String()
    items = ma.fields.List(ma.fields.Nested(OrderItemSchema))
    subtotal = ma.fields.Nested(MoneySchema)
    shipping_fee = ma.fields.Nested(MoneySchema)
    total = ma.fields.Nested(MoneySchema)
    shipping_address = ma.fields.Nested(AddressOutSchema)
    payment = ma.fields.Nested(OrderPaymentSchema, allow_none=True)
    refunds = ma.fields.List(ma.fields.Nested(RefundSchema),
                             metadata={"description": "The order's refunds, oldest first."})
    refunded = ma.fields.Nested(MoneySchema, metadata={
        "description": "What was given back so far (succeeded refunds)."})
    tracking_number = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    paid_at = UtcDateTime(allow_none=True)
    shipped_at = UtcDateTime(allow_none=True)
    delivered_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    expired_at = UtcDateTime(allow_none=True)

    @ma.pre_dump
    def _present(self, order, **_kwargs):
        return present_order(order)


def present_refund(refund: dict, *, full_account: bool) -> dict:
    if "account" in refund and "destination_bank" not in refund:
        return refund  # already presented
    number = refund.get("destination_account_number")
    account = None
    if number:
        account = {
            "bank": refund.get("destination_bank"),
            "account_number": number if full_account
            else refund_rules.mask_account_number(number),
            "account_name": refund.get("destination_account_name"),
        }
    return {
        **{k: v for k, v in refund.items() if not k.startswith("destination_")},
        "amount": money(int(refund["amount"]), refund.get("currency") or CURRENCY),
        "account": account,
    }
def _present_attribution(attribution: dict | None, currency: str) -> dict | None:
    if attribution is None:
        return None
    shown = dict(attribution)  # already reduced to what the viewer may see
    if "commission" in shown:
        shown["commission"] = money(int(shown["commission"]), currency)
    return shown


def present_order(order: dict) -> dict:
    """Store row (+ items, payment) -> the public order document (money as objects)."""
    currency = order.get("currency") or CURRENCY
    payment = order.get("payment")
    return {
        **order,
        "items": [
            {
                "product_id": item["product_id"],
                "title": item["title"],
                "quantity": item["quantity"],
                "unit_price": money(item["unit_price"], currency),
                "line_total": money(item["line_total"], currency),
                "attribution": _present_attribution(item.get("attribution"), currency),
            }
            for item in order.get("items", [])
        ],
        "subtotal": money(order.get("subtotal") or 0, currency),
        "shipping_fee": money(order.get("shipping_fee") or 0, currency),
        "total": money(order.get("total") or 0, currency),
        "refunds": order.get("refunds", []),
        "refunded": money(sum(int(r["amount"]) for r in order.get("refunds", [])
                              if r["status"] == "succeeded"), currency),
        "payment": None if payment is None else {
            "method": payment["method"],
            "status": payment["status"],
            "va_number": payment["va_number"],
            "bank": payment["bank"],
            "deeplink": payment["deeplink"],
            "expires_at": payment["expires_at"],
            "provider_transaction_id": payment["provider_transaction_id"],
        },
    }


class ReturnLineSchema(ma.Schema):
    product_id = ma.fields.String()
    quantity = ma.fields.Integer()
    unit_price = ma.fields.Nested(MoneySchema)
    refunded = ma.fields.Nested(MoneySchema, metadata={
        "description": "This line's part of the return's refund."})


class ReturnSchema(ma.Schema):
    id = ma.fields.String()
    order_id = ma.fields.String()
    buyer_id = ma.fields.String()
    shop_id = ma.fields.String()
    type = ma.fields.String(metadata={"description": "refund_only | return_and_refund"})
    reason = ma.fields.String()
    note = ma.fields.String(allow_none=True)
    status = ma.fields.String(metadata={"description": " | ".join(return_rules.ReturnStatus)})
    open = ma.fields.Boolean(metadata={"description": "Blocks the order's completion."})
    items = ma.fields.List(ma.fields.Nested(ReturnLineSchema))
    value = ma.fields.Nested(MoneySchema, metadata={
        "description": "The returned lines' value from the order's price snapshot."})
    offer = ma.fields.Nested(MoneySchema, allow_none=True)
    refund_amount = ma.fields.Nested(MoneySchema, allow_none=True)
    refund_id = ma.fields.String(allow_none=True)
    reject_reason = ma.fields.String(allow_none=True)
    tracking_number = ma.fields.String(allow_none=True)
    resolution = ma.fields.String(allow_none=True)
    resolution_note = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    responded_at = UtcDateTime(allow_none=True)
    shipped_at = UtcDateTime(allow_none=True)
    received_at = UtcDateTime(allow_none=True)
    refunded_at = UtcDateTime(allow_none=True)
    closed_at = UtcDateTime(allow_none=True)

    @ma.pre_dump
    def _present(self, ret, **_kwargs):
        if "value" in ret:
            return ret
        return {
            **ret,
            "open": ret["status"] in return_rules.OPEN,
            "items": [{**item, "unit_price": money(int(item["unit_price"])),
                       "refunded": money(int(item.get("refunded") or 0))}
                      for item in ret.get("items", [])],
            "value": money(int(ret["lines_value"])),
            "offer": None if ret.get("offer_amount") is None
            else money(int(ret["offer_amount"])),
            "refund_amount": None if ret.get("refund_amount") is None
            else money(int(ret["refund_amount"])),
        }




class BankAccountSchema(ma.Schema):
    bank_code = Text(
        required=True,
        validate=ma.validate.Regexp(r"^[A-Za-z0-9_]{2,20}$"),
        metadata={"example": "bca"},
    )
    account_number = Text(
        required=True,
        validate=ma.validate.Regexp(r"^[0-9]{5,34}$"),
        metadata={"example": "1234567890"},
    )
    account_name = Text(
        required=True, validate=ma.validate.Length(min=1, max=100), metadata={"example": "Toko A"}
    )


class _PayoutFields(ma.Schema):
    """A payout of either payee kind; the kinds differ only in the field naming the payee."""

    id = ma.fields.String(required=True)
    amount = ma.fields.Nested(MoneySchema, required=True)
    status = ma.fields.String(
        required=True, metadata={"description": "pending | paid | failed", "example": "pending"}
    )
    bank_account = ma.fields.Nested(BankAccountSchema, allow_none=True)
    journal_entry_id = ma.fields.String(required=True)
    created_at = UtcDateTime(required=True)


class PayoutSchema(_PayoutFields):
    shop_id = ma.fields.String(required=True)


class CreatorPayoutSchema(_PayoutFields):
    creator_id = ma.fields.String(required=True)


def present_payout(row: dict) -> dict:
    """Store row -> the payout document (`shop_id` or `creator_id`, money as an object)."""
    owner = "shop_id" if row.get("shop_id") is not None else "creator_id"
    return {
        "id": row["id"],
        owner: row[owner],
        "amount": money(row["amount"]),
        "status": row["status"],
        "bank_account": row["bank_account"],
        "journal_entry_id": row["journal_entry_id"],
        "created_at": row["created_at"],
    }
