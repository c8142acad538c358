"""Request and response schemas of the Midtrans-compatible API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from servicekit.app import ProblemSchema as ServiceProblemSchema

from ..domain.transactions import BANKS, EXPIRY_UNITS, PAYMENT_TYPES

ORDER_ID_PATTERN = r"^[A-Za-z0-9\-_.~]+$"
MAX_AMOUNT = 10**13  # far above any real charge; keeps amounts exact everywhere


class ProblemSchema(ServiceProblemSchema):
    """RFC 9457 problem details, plus Midtrans' `status_code` and `status_message`."""

    status_code = fields.String(metadata={"description": "Midtrans-style code, e.g. \"406\"."})
    status_message = fields.String()


class _Lenient(ma.Schema):
    """Midtrans clients send more than the sandbox needs (customer_details, item_details,
    gopay callbacks...): unknown fields are ignored, as the real API does."""

    class Meta:
        unknown = ma.EXCLUDE


# Requests -------------------------------------------------------------------------------


class TransactionDetailsSchema(_Lenient):
    order_id = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=50), validate.Regexp(ORDER_ID_PATTERN)],
        metadata={"description": "Merchant's order id (letters, digits, - _ . ~; <= 50)."},
    )
    gross_amount = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_AMOUNT),
        metadata={"description": "Integer rupiah.", "example": 150000},
    )


class BankTransferSchema(_Lenient):
    bank = fields.String(required=True, validate=validate.OneOf(BANKS))


class CustomExpirySchema(_Lenient):
    expiry_duration = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=10_000_000)
    )
    unit = fields.String(required=True, validate=validate.OneOf(tuple(EXPIRY_UNITS)))


class ChargeRequestSchema(_Lenient):
    payment_type = fields.String(required=True, validate=validate.OneOf(PAYMENT_TYPES))
    transaction_details = fields.Nested(TransactionDetailsSchema, required=True)
    bank_transfer = fields.Nested(BankTransferSchema)
    custom_expiry = fields.Nested(CustomExpirySchema)

    @ma.validates_schema
    def _bank_for_transfers(self, data, **kwargs):
        if data.get("payment_type") == "bank_transfer" and not data.get("bank_transfer"):
            raise ma.ValidationError(
                "Required when payment_type is bank_transfer.", field_name="bank_transfer"
            )


class RefundRequestSchema(_Lenient):
    refund_key = fields.String(
        load_default=None,
        validate=[validate.Length(min=1, max=100), validate.Regexp(ORDER_ID_PATTERN)],
        metadata={"description": "Idempotency key of this refund (optional: without it the "
                                 "request is a new refund with a generated key)."},
    )
    amount = fields.Integer(
        load_default=None,
        strict=True,
        validate=validate.Range(min=1, max=MAX_AMOUNT),
        metadata={"description": "Integer rupiah; default: everything still refundable."},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=255))


class PaySwitchesSchema(ma.Schema):
    """Test switches of the sandbox-only pay endpoint (all optional)."""

    deliver_times = fields.Integer(
        load_default=1,
        strict=True,
        validate=validate.Range(min=1, max=20),
        metadata={"description": "Queue the settlement notification this many times."},
    )
    stale_pending_after = fields.Boolean(
        load_default=False,
        metadata={"description": "Also deliver a stale `pending` notification after the "
                                 "settlement one."},
    )


# Responses ------------------------------------------------------------------------------


class VaNumberSchema(ma.Schema):
    bank = fields.String()
    va_number = fields.String()


class ActionSchema(ma.Schema):
    name = fields.String()
    method = fields.String()
    url = fields.String()


class RefundItemSchema(ma.Schema):
    refund_chargeback_id = fields.Integer()
    refund_key = fields.String()
    refund_amount = fields.String()
    reason = fields.String()
    refund_time = fields.String()


class TransactionSchema(ma.Schema):
    status_code = fields.String(metadata={"example": "201"})
    status_message = fields.String()
    transaction_id = fields.String()
    order_id = fields.String()
    merchant_id = fields.String()
    gross_amount = fields.String(metadata={"example": "150000.00"})
    currency = fields.String(metadata={"example": "IDR"})
    payment_type = fields.String()
    transaction_time = fields.String(
        metadata={"description": "YYYY-MM-DD HH:MM:SS in WIB (UTC+07:00), as Midtrans."}
    )
    transaction_status = fields.String()
    fraud_status = fields.String()
    expiry_time = fields.String()
    settlement_time = fields.String()
    signature_key = fields.String()
    va_numbers = fields.List(fields.Nested(VaNumberSchema))
    permata_va_number = fields.String()
    actions = fields.List(fields.Nested(ActionSchema))
    refund_amount = fields.String(
        metadata={"description": "Total refunded (status) or this refund's amount (refund)."}
    )
    refunds = fields.List(fields.Nested(RefundItemSchema))


class RefundResponseSchema(TransactionSchema):
    refund_chargeback_id = fields.Integer()
    refund_key = fields.String()


class AttemptSchema(ma.Schema):
    attempt = fields.Integer()
    notifier = fields.String()
    started_at = fields.String()
    duration_ms = fields.Float()
    response_status = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)


class DeliverySchema(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "event | duplicate | stale | resend"})
    transaction_status = fields.String()
    status_code = fields.String()
    state = fields.String(metadata={"description": "queued | sending | delivered | failed"})
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    request_id = fields.String()
    next_attempt_at = fields.String(allow_none=True)
    last_response_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.String()
    delivered_at = fields.String(allow_none=True)
    after_id = fields.Integer(allow_none=True)
    resend_of = fields.Integer(allow_none=True)
    payload = fields.Dict()
    attempt_log = fields.List(fields.Nested(AttemptSchema))


class DeliveryListSchema(ma.Schema):
    order_id = fields.String()
    transaction_id = fields.String()
    data = fields.List(fields.Nested(DeliverySchema))


class ResendSchema(ma.Schema):
    order_id = fields.String()
    queued = fields.Integer()
    delivery_ids = fields.List(fields.Integer())
