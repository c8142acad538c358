"""Midtrans Core API subset: charge, status, cancel, refund (server key required)."""

from __future__ import annotations

from flask_smorest import Blueprint

from . import problems, provider, require_server_key
from .schemas import (
    ChargeRequestSchema,
    RefundRequestSchema,
    RefundResponseSchema,
    TransactionSchema,
)

blp = Blueprint(
    "transactions",
    __name__,
    url_prefix="/v2",
    description="Midtrans-compatible Core API (HTTP Basic: server key, empty password).",
)

_AUTH = [{"basicAuth": []}]


@blp.route("/charge", methods=["POST"])
@require_server_key
@blp.arguments(ChargeRequestSchema())
@blp.response(201, TransactionSchema, description="Created (status_code \"201\").")
@problems(blp, 406, s406="Duplicate order ID: the order_id already has a transaction "
                         "(status_code \"406\"); ask its status.")
@blp.doc(security=_AUTH)
def charge(data):
    """Create a pending transaction and its payment instructions."""
    return provider().charge(data)


@blp.route("/<order_id>/status", methods=["GET"])
@require_server_key
@blp.response(200, TransactionSchema)
@problems(blp, 404)
@blp.doc(security=_AUTH)
def status(order_id):
    """Current state of a transaction (by order id or transaction id)."""
    return provider().status(order_id)


@blp.route("/<order_id>/cancel", methods=["POST"])
@require_server_key
@blp.response(200, TransactionSchema)
@problems(blp, 412)
@blp.doc(security=_AUTH)
def cancel(order_id):
    """Cancel a pending transaction (idempotent on an already cancelled one)."""
    return provider().cancel(order_id)


@blp.route("/<order_id>/expire", methods=["POST"])
@require_server_key
@blp.response(200, TransactionSchema, description="Expired (status_code \"407\").")
@problems(blp, 412)
@blp.doc(security=_AUTH)
def expire(order_id):
    """Expire a pending transaction now; an `expire` notification follows."""
    return provider().expire(order_id)


@blp.route("/<order_id>/refund", methods=["POST"])
@require_server_key
@blp.arguments(RefundRequestSchema())
@blp.response(200, RefundResponseSchema)
@problems(blp, 409, 412,
          s409="refund_key reused with another amount, or the amount exceeds what is still "
               "refundable.",
          s412="The transaction is not settled, or its payment type cannot be refunded (bank "
               "transfer).")
@blp.doc(security=_AUTH)
def refund(data, order_id):
    """Refund all or part of a settled transaction, idempotent on `refund_key`
    (optional: without it every request is a new refund)."""
    response, _created = provider().refund(
        order_id, refund_key=data["refund_key"], amount=data["amount"], reason=data["reason"]
    )
    return response
