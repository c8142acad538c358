"""Request and response shapes of the marketplace API (marshmallow + flask-smorest).

Input rules everywhere: unknown fields are refused, integers are strict (no "5", 5.0 or
true), strings carry no NUL or other control characters, lengths are bounded; a violation
is a 422 problem naming the field.
"""

from __future__ import annotations

import re
from datetime import UTC

import marshmallow as ma

from servicekit.pagination import PageArgsSchema

from ..domain.money import CURRENCY, money
from ..domain.orders import OrderStatus

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Text(ma.fields.String):
    """A string without NUL or control characters, surrounding whitespace stripped."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _CONTROL.search(text):
            raise ma.ValidationError("Must not contain control characters (such as NUL).")
        return text.strip()


class StrictInteger(ma.fields.Integer):
    """A JSON integer: refuses strings, floats and booleans."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ma.ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class UtcDateTime(ma.fields.DateTime):
    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class IdString(ma.fields.UUID):
    """A UUID given as a string, kept as its canonical string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and _CONTROL.search(value):
            raise ma.ValidationError("Must not contain control characters (such as NUL).")
        return str(super()._deserialize(value, attr, data, **kwargs))


# --- requests -----------------------------------------------------------------------------


class CheckoutItemSchema(ma.Schema):
    product_id = IdString(
        required=True, metadata={"example": "3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c11"}
    )
    quantity = StrictInteger(required=True, validate=ma.validate.Range(min=1, max=999))
    content_id = IdString(
        load_default=None, allow_none=True,
        metadata={"description": "The creator's video or live session this line was bought "
                                 "from (it must tag the product); without it the cart "
                                 "item's attribution applies."},
    )


class ShippingAddressSchema(ma.Schema):
    name = Text(required=True, validate=ma.validate.Length(min=1, max=100))
    phone = Text(
        required=True,
        validate=ma.validate.Regexp(r"^\+?[0-9][0-9 \-]{5,19}$",
                                    error="Not a valid phone number."),
        metadata={"example": "+6281234567890"},
    )
    line1 = Text(required=True, validate=ma.validate.Length(min=1, max=200))
    city = Text(required=True, validate=ma.validate.Length(min=1, max=100))
    postal_code = Text(
        required=True,
        validate=ma.validate.Regexp(r"^[0-9A-Za-z\- ]{3,10}$", error="Not a valid postal code."),
        metadata={"example": "12190"},
    )


class CheckoutRequestSchema(ma.Schema):
    items = ma.fields.List(
        ma.fields.Nested(CheckoutItemSchema), required=True,
        validate=ma.validate.Length(min=1, max=50),
    )
    shipping_address = ma.fields.Nested(ShippingAddressSchema, required=True)
    payment_method = ma.fields.String(
        required=True, validate=ma.validate.OneOf(["bank_transfer", "ewallet"])
    )

    @ma.validates("items")
    def _distinct_products(self, items, **_kwargs):
        # Runs on partially valid data too (other lines may have failed): skip the gaps.
        seen = set()
        for item in items:
            product_id = item.get("product_id") if isinstance(item, dict) else None
            if product_id is None:
                continue
            if product_id in seen:
                raise ma.ValidationError(
                    f"Product {product_id} is listed twice; give one line per product."
                )
            seen.add(product_id)


class ShipRequestSchema(ma.Schema):
    tracking_number = Text(
        required=True,
        validate=[
            ma.validate.Length(min=3, max=64),
            ma.validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9 ._/\-]*$",
                               error="Letters, digits, spaces and . _ / - only."),
        ],
    )


class OrderListArgsSchema(PageArgsSchema):
    role = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf(["buyer", "seller", "admin"]),
        metadata={"description": "Whose orders: as buyer (default), seller (your shop) or "
                                 "admin (all)."},
    )
    status = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf([s.value for s in OrderStatus])
    )


class NotificationSchema(ma.Schema):
    """Midtrans HTTP notification; extra fields the provider adds are ignored."""

    class Meta:
        unknown = ma.EXCLUDE

    order_id = Text(required=True, validate=ma.validate.Length(min=1, max=100))
    transaction_id = Text(required=True, validate=ma.validate.Length(min=1, max=100))
    transaction_status = Text(required=True, validate=ma.validate.Length(min=1, max=40))
    status_code = Text(required=True, validate=ma.validate.Length(min=1, max=10))
    gross_amount = Text(required=True, validate=ma.validate.Length(min=1, max=32))
    signature_key = Text(load_default=None, allow_none=True,
                         validate=ma.validate.Length(max=256))
    payment_type = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=40))
    fraud_status = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=40))
    transaction_time = Text(load_default=None, allow_none=True)
    status_message = Text(load_default=None, allow_none=True)


# --- responses ----------------------------------------------------------------------------


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
                                 "refund_pending | refunded"}
    )
    va_number = ma.fields.String(allow_none=True)
    bank = ma.fields.String(allow_none=True)
    deeplink = ma.fields.String(allow_none=True)
    expires_at = UtcDateTime(allow_none=True)
    provider_transaction_id = ma.fields.String(allow_none=True)


class AddressOutSchema(ma.Schema):
    name = ma.fields.String()
    phone = ma.fields.String()
    line1 = ma.fields.String()
    city = ma.fields.String()
    postal_code = ma.fields.String()


class OrderSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String(metadata={"example": "UNPAID"})
    buyer_id = ma.fields.String()
    shop_id = ma.fields.String()
    items = ma.fields.List(ma.fields.Nested(OrderItemSchema))
    subtotal = ma.fields.Nested(MoneySchema)
    shipping_fee = ma.fields.Nested(MoneySchema)
    total = ma.fields.Nested(MoneySchema)
    shipping_address = ma.fields.Nested(AddressOutSchema)
    payment = ma.fields.Nested(OrderPaymentSchema, allow_none=True)
    tracking_number = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    paid_at = UtcDateTime(allow_none=True)
    shipped_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    expired_at = UtcDateTime(allow_none=True)

    @ma.pre_dump
    def _present(self, order, **_kwargs):
        return present_order(order)


class CheckoutPaymentSchema(ma.Schema):
    method = ma.fields.String()
    va_number = ma.fields.String(allow_none=True)
    bank = ma.fields.String(allow_none=True)
    deeplink = ma.fields.String(allow_none=True)
    expires_at = UtcDateTime(allow_none=True)


class CheckoutResponseSchema(ma.Schema):
    order = ma.fields.Nested(OrderSchema)
    payment = ma.fields.Nested(CheckoutPaymentSchema)


class OrderPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(OrderSchema))
    next_cursor = ma.fields.String(allow_none=True)


class NotificationAckSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "ok"})
    outcome = ma.fields.String(metadata={"example": "paid"})


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
