"""`POST /api/v1/checkout`: one order per shop, their stock reserved, one payment
instruction; `GET /api/v1/checkouts/{id}` and `POST /api/v1/checkouts/{id}/cancel`."""

from __future__ import annotations

from flask_smorest import Blueprint

from servicekit.problems import Problem

from ..domain.money import CURRENCY, money
from ..operations import lifecycle
from ..operations.checkout import (
    CheckoutRequest,
    load_checkout,
    load_placed_order,
    place_checkout,
    refuse_known_sold_out,
)
from ..operations.common import visible_order
from .auth import principal, principal_with_role
from .context import ctx
from .docs import problems
from .idempotency import current_hold, documented, idempotent, read_key, run
from .schemas import CheckoutRequestSchema, CheckoutResponseSchema

blp = Blueprint("checkout", __name__, url_prefix="/api/v1",
                description="Checkout: one order per shop, stock reservations, one payment.")

_SECURITY = [{"bearerAuth": []}]


def _recover(order_id: str):
    """The answer for a key whose first attempt placed the checkout of `order_id` but lost
    its response."""
    order = load_placed_order(ctx(), order_id)
    if order is not None and order["checkout_id"] is None:
        # Placed before checkouts existed: it was its own payment.
        payment = order.get("payment") or {}
        placed = {"checkout": {
            "id": order["id"], "buyer_id": order["buyer_id"],
            "status": order["status"] if order["status"] in ("UNPAID", "EXPIRED", "CANCELLED")
            else "PAID",
            "payment_method": order["payment_method"], "currency": order["currency"],
            "total": order["total"], "created_at": order["created_at"], "paid_at": None,
            **{k: payment.get(k) for k in ("va_number", "bank", "deeplink", "expires_at")},
        }, "orders": [order]}
    else:
        placed = load_checkout(ctx(), order["checkout_id"]) if order else None
    if placed is None:  # never true for a recorded key (FK); kept as a clear 503, not a 500
        raise Problem(503, "Service Unavailable", "Retry with the same Idempotency-Key.",
                      slug="checkout-interrupted", headers={"Retry-After": "1"})
    return present(placed, principal_with_role("buyer"))


@blp.route("/checkout", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(
    CheckoutRequestSchema(),
    example={
        "items": [{"product_id": "3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c11", "quantity": 2},
                  {"product_id": "8a0d2c41-5b7e-4f16-9c3a-2e4b6d8f0a13", "quantity": 1}],
        "shipping_address": {
            "name": "Sari Wulandari", "phone": "+6281234567890",
            "line1": "Jl. Malioboro No. 52", "city": "Yogyakarta", "postal_code": "55271",
        },
        "payment_method": "bank_transfer",
    },
)
@blp.response(201, CheckoutResponseSchema)
@problems(blp, 400, 401, 403, 409, 422, 503,
          s409="insufficient-stock (names the product; nothing was reserved or placed), or "
               "the Idempotency-Key is in use. A product the showcase refused as sold out "
               "within SOLD_OUT_HINT_SECONDS is refused at once, before the key is claimed: "
               "that answer is not stored, a retry with the same key asks again.",
          s422="Invalid items: unknown or withdrawn product, a product listed twice, more "
               "than 50 lines or 10 shops.",
          s503="The storefront or the payment provider is unavailable; nothing was placed.")
@documented
def checkout(body):
    """Buyer only. Items of up to 10 shops (50 lines): one order per shop, the stock of
    every order reserved or none, and one payment of the checkout's total (one VA number
    or deeplink). The storefront's prices are authoritative (the answer shows them). A
    retry with the same Idempotency-Key and body replays the first answer. `order` is
    present only for a checkout of one order.

    A line's `content_id` credits the creator of that video or live session (it must tag
    the product: 422 otherwise); a line without one takes its cart item's attribution
    (the last content it was added from, within 7 days)."""
    buyer = principal_with_role("buyer")
    read_key()  # a missing or malformed key is the client's first mistake to hear about
    # Before the key is claimed: a flash sale's losers write nothing (not even the key).
    refuse_known_sold_out(ctx(), body["items"])
    return run(buyer, lambda: _place(buyer, body), recover=_recover)


def _place(buyer, body):
    placed = place_checkout(
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
    return present(placed, buyer)


@blp.route("/checkouts/<uuid:checkout_id>", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.response(200, CheckoutResponseSchema)
@problems(blp, 401, 404)
def get_checkout(checkout_id):
    """Its buyer (and admins) only: anyone else, sellers of its shops included, gets 404."""
    user = principal()
    placed = load_checkout(ctx(), str(checkout_id))
    if placed is None or not _may_see(user, placed["checkout"]):
        raise _not_found(checkout_id)
    return present(placed, user)


@blp.route("/checkouts/<uuid:checkout_id>/cancel", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, CheckoutResponseSchema)
@problems(blp, 400, 401, 403, 404, 409, 422,
          s409="The checkout is paid (cancel its orders one by one) or already closed.")
@idempotent
def cancel_checkout(checkout_id):
    """The buyer cancels an unpaid checkout: every order `CANCELLED`, all stock released,
    the payment instruction withdrawn."""
    user = principal()
    placed = load_checkout(ctx(), str(checkout_id))
    if placed is None or not _may_see(user, placed["checkout"]):
        raise _not_found(checkout_id)
    lifecycle.cancel_checkout(ctx(), str(checkout_id), user)
    return present(load_checkout(ctx(), str(checkout_id)), user)


def _may_see(user, checkout: dict) -> bool:
    return user.has_role("admin") or (user.has_role("buyer")
                                      and checkout["buyer_id"] == user.account_id)


def _not_found(checkout_id) -> Problem:
    return Problem(404, "Not Found", f"No checkout {checkout_id} is visible to you.",
                   slug="not-found")


def present(placed: dict, user) -> dict:
    checkout, orders = placed["checkout"], placed["orders"]
    payment = {
        "method": checkout["payment_method"],
        "va_number": checkout["va_number"],
        "bank": checkout["bank"],
        "deeplink": checkout["deeplink"],
        "expires_at": checkout["expires_at"],
    }
    shown = [visible_order(order, user) for order in orders]
    answer = {
        "checkout": {
            "id": checkout["id"],
            "status": checkout["status"],
            "total": money(int(checkout["total"] or 0), checkout["currency"] or CURRENCY),
            "payment": payment,
            "order_ids": [order["id"] for order in orders],
            "created_at": checkout["created_at"],
            "paid_at": checkout["paid_at"],
        },
        "orders": shown,
        "payment": payment,
    }
    if len(shown) == 1:
        answer["order"] = shown[0]
    return answer
