"""Midtrans Core API subset: charge, status, cancel, refund (server key required)."""

from __future__ import annotations

from flask_smorest import Blueprint

from . import provider, require_server_key
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
@blp.alt_response(200, schema=TransactionSchema,
                  description="The order already exists with the same amount and method.")
@blp.alt_response(409, description="Same order id, different amount or method (\"406\").")
@blp.doc(security=_AUTH)
def charge(data):
    """Create a pending transaction and its payment instructions."""
    view, created = provider().charge(data)
    return view, 201 if created else 200


@blp.route("/<order_id>/status", methods=["GET"])
@require_server_key
@blp.response(200, TransactionSchema)
@blp.alt_response(404, description="Unknown order or transaction id.")
@blp.doc(security=_AUTH)
def status(order_id):
    """Current state of a transaction (by order id or transaction id)."""
    return provider().status(order_id)


@blp.route("/<order_id>/cancel", methods=["POST"])
@require_server_key
@blp.response(200, TransactionSchema)
@blp.alt_response(412, description="The transaction is no longer pending.")
@blp.doc(security=_AUTH)
def cancel(order_id):
    """Cancel a pending transaction (idempotent on an already cancelled one)."""
    return provider().cancel(order_id)


@blp.route("/<order_id>/refund", methods=["POST"])
@require_server_key
@blp.arguments(RefundRequestSchema())
@blp.response(200, RefundResponseSchema)
@blp.alt_response(409, description="refund_key reused with another amount, or the amount "
                                   "exceeds what is still refundable.")
@blp.alt_response(412, description="The transaction is not settled.")
@blp.doc(security=_AUTH)
def refund(data, order_id):
    """Refund all or part of a settled transaction, idempotent on `refund_key`."""
    response, _created = provider().refund(
        order_id, refund_key=data["refund_key"], amount=data["amount"], reason=data["reason"]
    )
    return response
