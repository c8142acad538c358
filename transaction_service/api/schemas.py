"""Request and response shapes of the marketplace API (marshmallow + flask-smorest): every
view takes its schemas from here. The documents webhook events carry too (order, refund,
return, payout) are defined in `transaction_service/documents.py` and re-exported here.

Input rules everywhere: unknown fields are refused, integers are strict (no "5", 5.0 or
true), strings carry no NUL or other control characters, lengths are bounded; a violation
is a 422 problem naming the field.
"""

from __future__ import annotations

import marshmallow as ma

from servicekit.pagination import PageArgsSchema

from ..documents import (  # noqa: F401 - re-exported: views take every schema from here
    CONTROL_CHARACTERS,
    AddressOutSchema,
    BankAccountSchema,
    CreatorPayoutSchema,
    ItemAttributionSchema,
    MoneySchema,
    OrderItemSchema,
    OrderPaymentSchema,
    OrderSchema,
    PayoutSchema,
    RefundAccountSchema,
    RefundSchema,
    ReturnLineSchema,
    ReturnSchema,
    Text,
    UtcDateTime,
    present_order,
    present_payout,
    present_refund,
)
from ..domain import refunds as refund_rules
from ..domain import returns as return_rules
from ..domain.money import MAX_AMOUNT
from ..domain.orders import OrderStatus
from ..domain.webhooks import EVENT_TYPES as WEBHOOK_EVENT_TYPES


class StrictInteger(ma.fields.Integer):
    """A JSON integer: refuses strings, floats and booleans."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ma.ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class IdString(ma.fields.UUID):
    """A UUID given as a string, kept as its canonical string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
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


class ReturnPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(ReturnSchema))
    next_cursor = ma.fields.String(allow_none=True)


# --- a payee's money: sellers and creators (DESIGN.md §8, §11) ----------------------------


def _balance(name: str, payee: str, *, pending: str, available: str) -> type[ma.Schema]:
    """A payee kind's balance; the kinds differ in the field naming the payee and in what
    their pending and available amounts are."""
    return type(name, (ma.Schema,), {
        payee: ma.fields.String(required=True),
        "currency": ma.fields.String(required=True, metadata={"example": "IDR"}),
        "pending": ma.fields.Integer(required=True, metadata={"description": pending}),
        "available": ma.fields.Integer(required=True, metadata={"description": available}),
        "paid_out": ma.fields.Integer(
            required=True, metadata={"description": "Total paid out so far (rupiah)."}),
    })


BalanceSchema = _balance(
    "BalanceSchema", "shop_id",
    pending="In escrow for paid orders not yet completed (rupiah).",
    available="Settled to the shop and not paid out (rupiah).")
CreatorBalanceSchema = _balance(
    "CreatorBalanceSchema", "creator_id",
    pending="Commission on paid orders not yet completed (rupiah).",
    available="Commission earned (orders completed), not paid out (rupiah).")


class LedgerLineSchema(ma.Schema):
    entry_id = ma.fields.String(required=True)
    kind = ma.fields.String(
        required=True,
        metadata={"description": "order_completed | payout | reversal", "example": "payout"},
    )
    reference = ma.fields.String(
        required=True, metadata={"description": "Order id, payout id, or reversed entry."}
    )
    amount = ma.fields.Nested(MoneySchema, required=True)
    direction = ma.fields.String(
        required=True,
        metadata={"description": "credit adds to the balance, debit takes from it"},
        validate=ma.validate.OneOf(["credit", "debit"]),
    )
    balance_after = ma.fields.Integer(
        required=True, metadata={"description": "Available balance after this line (rupiah)."}
    )
    created_at = UtcDateTime(required=True)


class PayoutRequestSchema(ma.Schema):
    amount = StrictInteger(
        required=True,
        validate=ma.validate.Range(min=1, max=MAX_AMOUNT),
        metadata={"description": "Rupiah to withdraw; at most the available balance."},
    )
    bank_account = ma.fields.Nested(BankAccountSchema, load_default=None, allow_none=True)


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


def _required_page(name: str, item: type[ma.Schema]) -> type[ma.Schema]:
    """`{data: [item], next_cursor}`, both members always present."""
    return type(name, (ma.Schema,), {
        "data": ma.fields.List(ma.fields.Nested(item), required=True),
        "next_cursor": ma.fields.String(allow_none=True, required=True),
    })


LedgerPageSchema = _required_page("LedgerPageSchema", LedgerLineSchema)
PayoutPageSchema = _required_page("PayoutPageSchema", PayoutSchema)
CreatorPayoutPageSchema = _required_page("CreatorPayoutPageSchema", CreatorPayoutSchema)
EarningsPageSchema = _required_page("EarningsPageSchema", ContentEarningsSchema)
CreatorOrderPageSchema = _required_page("CreatorOrderPageSchema", CreatorOrderSchema)


# --- operators (JWT role `admin`) -----------------------------------------------------------


class AuditVerifySchema(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    checked = ma.fields.Integer(
        required=True, metadata={"description": "Rows verified before stopping."}
    )
    first_broken_seq = ma.fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Sequence number of the first altered or missing row."},
    )
    reason = ma.fields.String(allow_none=True, required=True)
    first_broken_index = ma.fields.Integer(allow_none=True, metadata={
        "description": "Tree position where the walk broke."})
    tree_size = ma.fields.Integer(metadata={"description": "Leaves in the tree."})
    checkpoints = ma.fields.Integer(metadata={
        "description": "Signed checkpoints whose root matched the recomputed tree."})
    unsequenced = ma.fields.Integer(metadata={
        "description": "Committed entries still waiting for a tree position."})


class LedgerCheckSchema(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    violations = ma.fields.List(ma.fields.String(), required=True)


# --- the transparency log (DESIGN.md §9) ----------------------------------------------------

_HASH = {"type": "string", "format": "byte", "description": "base64, 32 bytes"}


class CheckpointSchema(ma.Schema):
    checkpoint = ma.fields.String(required=True, metadata={
        "description": "The C2SP tlog-checkpoint note signed by the log and cosigned "
                       "(cosignature/v1) by the witness."})
    tree_size = ma.fields.Integer(required=True)
    root_hash = ma.fields.String(required=True, metadata=_HASH)
    cosigned_at = ma.fields.DateTime(required=True)


class KeysSchema(ma.Schema):
    origin = ma.fields.String(required=True, metadata={"description": "The log's origin."})
    log = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "C2SP vkeys of the log (Ed25519 note signatures), current first."})
    witnesses = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "C2SP vkeys of the witnesses (cosignature/v1)."})


class ConsistencyArgsSchema(ma.Schema):
    from_size = ma.fields.Integer(required=True, data_key="from",
                                  validate=ma.validate.Range(min=1))
    to_size = ma.fields.Integer(required=True, data_key="to",
                                validate=ma.validate.Range(min=1))

    @ma.validates_schema
    def _ordered(self, data, **_kwargs):
        if data["from_size"] > data["to_size"]:
            raise ma.ValidationError("must not exceed `to`", "from")


class ConsistencySchema(ma.Schema):
    from_size = ma.fields.Integer(required=True, data_key="from")
    to_size = ma.fields.Integer(required=True, data_key="to")
    proof = ma.fields.List(ma.fields.String(metadata=_HASH), required=True)


class EntryArgsSchema(ma.Schema):
    tree_size = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1),
                                  metadata={"description": "Prove against this tree size "
                                            "(default: the latest cosigned checkpoint)."})


class EntrySchema(ma.Schema):
    index = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "The leaf's position; null while the sequencer has not placed it."})
    tree_size = ma.fields.Integer(required=True, allow_none=True)
    leaf = ma.fields.String(required=True, metadata={
        "format": "byte", "description": "base64 of the leaf bytes (canonical JSON)"})
    entry = ma.fields.Dict(required=True, metadata={"description": "The leaf, decoded."})
    inclusion_proof = ma.fields.List(ma.fields.String(metadata=_HASH), required=True,
                                     allow_none=True)


class OrderAuditSchema(ma.Schema):
    order_id = ma.fields.String(required=True)
    checkpoint = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The cosigned checkpoint the proofs lead to (null: none yet)."})
    tree_size = ma.fields.Integer(required=True, allow_none=True)
    entries = ma.fields.List(ma.fields.Nested(EntrySchema), required=True)
