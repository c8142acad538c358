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

from ..domain import refunds as refund_rules
from ..domain import returns as return_rules
from ..domain.money import CURRENCY, money
from ..domain.orders import OrderStatus
from ..domain.webhooks import EVENT_TYPES as WEBHOOK_EVENT_TYPES

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


class RefundAccountRequestSchema(ma.Schema):
    bank = ma.fields.String(
        required=True, validate=ma.validate.OneOf(sorted(refund_rules.BANK_ACCOUNT_DIGITS)),
        metadata={"example": "bca"},
    )
    account_number = Text(
        required=True, validate=ma.validate.Length(min=1, max=40),
        metadata={"example": "1234567890",
                  "description": "Digits only, as many as the bank's account numbers have."},
    )
    account_name = Text(
        required=True, validate=ma.validate.Length(min=1, max=100),
        metadata={"example": "Budi Santoso"},
    )


class AdminRefundRequestSchema(ma.Schema):
    amount = StrictInteger(
        load_default=None, validate=ma.validate.Range(min=1, max=10**13),
        metadata={"description": "Integer rupiah; default: everything left to refund.",
                  "example": 50000},
    )
    reason = Text(required=True, validate=ma.validate.Length(min=1, max=255))


class CompleteManualRefundSchema(ma.Schema):
    transfer_reference = Text(
        required=True,
        validate=[
            ma.validate.Length(min=3, max=64),
            ma.validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9 ._/\-]*$",
                               error="Letters, digits, spaces and . _ / - only."),
        ],
        metadata={"example": "BCA-TRF-20240501-0001",
                  "description": "The bank transfer's reference."},
    )


class ManualRefundListArgsSchema(PageArgsSchema):
    status = ma.fields.String(
        load_default="open",
        validate=ma.validate.OneOf(["open", "awaiting_account", "awaiting_transfer",
                                    "succeeded"]),
        metadata={"description": "open (default: waiting for the account or the transfer), "
                                 "awaiting_account, awaiting_transfer or succeeded."},
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


class NotificationRefundSchema(ma.Schema):
    """One refund in a `partial_refund`/`refund` notification's `refunds` list."""

    class Meta:
        unknown = ma.EXCLUDE

    refund_key = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=100))
    refund_amount = Text(load_default=None, allow_none=True,
                         validate=ma.validate.Length(max=32))
    reason = Text(load_default=None, allow_none=True)
    refund_chargeback_id = ma.fields.Raw(load_default=None, allow_none=True)


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
    # Refund notifications: the total refunded so far, and each refund with its key.
    refund_amount = Text(load_default=None, allow_none=True,
                         validate=ma.validate.Length(max=32))
    refund_key = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=100))
    refunds = ma.fields.List(ma.fields.Nested(NotificationRefundSchema), load_default=None,
                             allow_none=True, validate=ma.validate.Length(max=200))


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


class ManualRefundSchema(RefundSchema):
    """The admin's view: the account number in full, and who asked and completed."""

    payment_id = ma.fields.String()
    refund_key = ma.fields.String()
    requested_by = ma.fields.String(allow_none=True)
    completed_by = ma.fields.String(allow_none=True)
    account_given_at = UtcDateTime(allow_none=True)

    @ma.pre_dump
    def _present(self, refund, **_kwargs):
        return present_refund(refund, full_account=True)


class ManualRefundPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(ManualRefundSchema))
    next_cursor = ma.fields.String(allow_none=True)


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


class CheckoutPaymentSchema(ma.Schema):
    method = ma.fields.String()
    va_number = ma.fields.String(allow_none=True)
    bank = ma.fields.String(allow_none=True)
    deeplink = ma.fields.String(allow_none=True)
    expires_at = UtcDateTime(allow_none=True)


class CheckoutSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "The provider's order_id for the payment."})
    status = ma.fields.String(metadata={"example": "UNPAID",
                                        "enum": ["UNPAID", "PAID", "EXPIRED", "CANCELLED"]})
    total = ma.fields.Nested(MoneySchema)
    payment = ma.fields.Nested(CheckoutPaymentSchema)
    order_ids = ma.fields.List(ma.fields.String())
    created_at = UtcDateTime()
    paid_at = UtcDateTime(allow_none=True)


class CheckoutResponseSchema(ma.Schema):
    checkout = ma.fields.Nested(CheckoutSchema)
    orders = ma.fields.List(ma.fields.Nested(OrderSchema),
                            metadata={"description": "One order per shop."})
    order = ma.fields.Nested(OrderSchema, metadata={
        "description": "Present only when the checkout has exactly one order (single-shop "
                       "clients)."})
    payment = ma.fields.Nested(CheckoutPaymentSchema)


class OrderPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(OrderSchema))
    next_cursor = ma.fields.String(allow_none=True)


class NotificationAckSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "ok"})
    outcome = ma.fields.String(metadata={"example": "paid"})


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


# --- webhooks (DESIGN.md §13) ---------------------------------------------------------------

_WEBHOOK_EVENT_CHOICES = [*WEBHOOK_EVENT_TYPES, "*"]


class WebhookEndpointCreateSchema(ma.Schema):
    url = Text(required=True, validate=ma.validate.Length(min=8, max=2048),
               metadata={"example": "https://example.com/etalase/webhooks"})
    events = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(_WEBHOOK_EVENT_CHOICES)),
        required=True, validate=ma.validate.Length(min=1, max=50),
        metadata={"description": "Event types to receive, or [\"*\"] for every event.",
                  "example": ["order.paid", "order.shipped"]},
    )
    description = Text(load_default="", validate=ma.validate.Length(max=200))


class WebhookEndpointUpdateSchema(ma.Schema):
    url = Text(validate=ma.validate.Length(min=8, max=2048))
    events = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(_WEBHOOK_EVENT_CHOICES)),
        validate=ma.validate.Length(min=1, max=50),
    )
    description = Text(validate=ma.validate.Length(max=200))
    # JSON true/false only (not "yes" or 1).
    disabled = ma.fields.Boolean(truthy={True}, falsy={False})


class WebhookEndpointSchema(ma.Schema):
    id = ma.fields.String()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    description = ma.fields.String()
    owner_kind = ma.fields.String(metadata={"description": "shop | creator | admin"})
    disabled = ma.fields.Boolean()
    disabled_reason = ma.fields.String(
        allow_none=True,
        metadata={"description": "Why it is disabled (by its owner, or automatically after "
                                 "failing every delivery for 5 days)."})
    disabled_at = UtcDateTime(allow_none=True)
    failing_since = UtcDateTime(allow_none=True)
    previous_secret_expires_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "Until then the previous secret also signs (after a "
                                 "rotation)."})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = ma.fields.String(
        metadata={"description": "whsec_ + base64: shown only in this answer.",
                  "example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})


class WebhookEndpointPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(WebhookEndpointSchema))
    next_cursor = ma.fields.String(allow_none=True)


class WebhookAttemptSchema(ma.Schema):
    attempted_at = UtcDateTime()
    status_code = ma.fields.Integer(allow_none=True)
    duration_ms = ma.fields.Integer()
    error = ma.fields.String(allow_none=True)
    response_body = ma.fields.String(allow_none=True,
                                     metadata={"description": "At most 1 KiB."})


class WebhookDeliverySchema(ma.Schema):
    id = ma.fields.String()
    event_id = ma.fields.String(metadata={"description": "The webhook-id header."})
    event_type = ma.fields.String(metadata={"example": "order.paid"})
    endpoint_id = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending | delivered | failed"})
    attempts = ma.fields.Integer()
    next_attempt_at = UtcDateTime(allow_none=True)
    delivered_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    attempt_log = ma.fields.List(ma.fields.Nested(WebhookAttemptSchema))


class WebhookDeliveryPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(WebhookDeliverySchema))
    next_cursor = ma.fields.String(allow_none=True)


# --- returns, refunds and disputes (DESIGN.md §12) ------------------------------------------


class ReturnItemRequestSchema(ma.Schema):
    product_id = Text(required=True, validate=ma.validate.Length(min=1, max=64))
    quantity = StrictInteger(required=True, validate=ma.validate.Range(min=1, max=999))


class ReturnRequestSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(return_rules.TYPES),
                            metadata={"example": "return_and_refund"})
    items = ma.fields.List(ma.fields.Nested(ReturnItemRequestSchema), required=True,
                           validate=ma.validate.Length(min=1, max=50))
    reason = ma.fields.String(required=True, validate=ma.validate.OneOf(return_rules.REASONS),
                              metadata={"example": "damaged"})
    note = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=1000))


class ReturnRejectSchema(ma.Schema):
    reason = Text(required=True, validate=ma.validate.Length(min=1, max=500))


class ReturnOfferSchema(ma.Schema):
    amount = StrictInteger(required=True, validate=ma.validate.Range(min=1, max=10**13),
                           metadata={"description": "Integer rupiah, below the returned "
                                                    "lines' value.", "example": 20000})


class ReturnEscalateSchema(ma.Schema):
    note = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))


class ReturnResolveSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(["refund", "close"]))
    amount = StrictInteger(load_default=None, allow_none=True,
                           validate=ma.validate.Range(min=1, max=10**13),
                           metadata={"description": "refund only; default the returned "
                                                    "lines' value (never more)."})
    note = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=1000))

    @ma.validates_schema
    def _amount_only_with_refund(self, data, **_kwargs):
        if data.get("decision") == "close" and data.get("amount") is not None:
            raise ma.ValidationError("Only a refund decision takes an amount.", "amount")


class ReturnListArgsSchema(PageArgsSchema):
    role = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf(["buyer", "seller", "admin"]),
        metadata={"description": "List as this party (default: your first role)."},
    )
    status = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf([s.value for s in return_rules.ReturnStatus]),
    )
    order_id = ma.fields.UUID(load_default=None)


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


class ReturnPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(ReturnSchema))
    next_cursor = ma.fields.String(allow_none=True)
