"""`POST /api/v1/checkout`: place an order and get payment instructions."""

from __future__ import annotations

from flask_smorest import Blueprint

from servicekit.problems import Problem

from ..operations.checkout import CheckoutRequest, load_placed_order, place_order
from ..operations.common import visible_order
from .auth import principal_with_role
from .context import ctx
from .docs import problems
from .idempotency import current_hold, idempotent
from .schemas import CheckoutRequestSchema, CheckoutResponseSchema

blp = Blueprint("checkout", __name__, url_prefix="/api/v1",
                description="Checkout: order + stock reservation + payment instructions.")


def _recover(order_id: str):
    """The answer for a key whose first attempt placed `order_id` but lost its response."""
    order = load_placed_order(ctx(), order_id)
    if order is None:  # never true for a recorded key (FK); kept as a clear 503, not a 500
        raise Problem(503, "Service Unavailable", "Retry with the same Idempotency-Key.",
                      slug="checkout-interrupted", headers={"Retry-After": "1"})
    return _present(order, principal_with_role("buyer"))


@blp.route("/checkout", methods=["POST"])
@blp.doc(
    security=[{"bearerAuth": []}],
    parameters=[{
        "in": "header", "name": "Idempotency-Key", "required": True,
        "schema": {"type": "string", "maxLength": 255},
        "description": "Unique per checkout attempt; reuse it when retrying.",
    }],
)
@blp.arguments(
    CheckoutRequestSchema(),
    example={
        "items": [{"product_id": "3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c11", "quantity": 2}],
        "shipping_address": {
            "name": "Sari Wulandari", "phone": "+6281234567890",
            "line1": "Jl. Malioboro No. 52", "city": "Yogyakarta", "postal_code": "55271",
        },
        "payment_method": "bank_transfer",
    },
)
@blp.response(201, CheckoutResponseSchema)
@problems(blp, 400, 401, 403, 409, 422, 503,
          s409="insufficient-stock (names the product), or the Idempotency-Key is in use.",
          s503="The storefront or the payment provider is unavailable; nothing was placed.")
@idempotent(recover=_recover)
def checkout(body):
    """Buyer only. Items of one shop; the storefront's prices are authoritative. A retry
    with the same Idempotency-Key and body replays the first answer.

    A line's `content_id` credits the creator of that video or live session (it must tag
    the product: 422 otherwise); a line without one takes its cart item's attribution
    (the last content it was added from, within 7 days)."""
    buyer = principal_with_role("buyer")
    order = place_order(
        ctx(),
        CheckoutRequest(
            buyer_id=buyer.account_id,
            items=[{"product_id": i["product_id"], "quantity": i["quantity"],
                    **({"content_id": i["content_id"]} if i.get("content_id") else {})}
                   for i in body["items"]],
            shipping_address=body["shipping_address"],
            payment_method=body["payment_method"],
            idempotency=current_hold(),
        ),
    )
    return _present(order, buyer)


def _present(order: dict, buyer) -> dict:
    # OrderSchema presents the order; the payment row carries the instruction fields.
    payment = order.get("payment") or {}
    return {
        "order": visible_order(order, buyer),
        "payment": {
            "method": payment.get("method"),
            "va_number": payment.get("va_number"),
            "bank": payment.get("bank"),
            "deeplink": payment.get("deeplink"),
            "expires_at": payment.get("expires_at"),
        },
    }
