"""Returns, refunds and disputes after delivery (DESIGN.md §12): the buyer opens a return
on a delivered order, the order's seller answers, the buyer ships or escalates, an admin
resolves disputes."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..operations import lifecycle
from ..operations import returns as returns_ops
from ..operations.common import visible_order
from .auth import principal, principal_with_role
from .context import ctx
from .docs import problems
from .idempotency import idempotent
from .schemas import (
    OrderSchema,
    ReturnEscalateSchema,
    ReturnListArgsSchema,
    ReturnOfferSchema,
    ReturnPageSchema,
    ReturnRejectSchema,
    ReturnRequestSchema,
    ReturnResolveSchema,
    ReturnSchema,
    ShipRequestSchema,
)

blp = Blueprint("returns", __name__, url_prefix="/api/v1",
                description="Returns, refunds and disputes after delivery (buyer, the "
                            "order's seller, admins).")

_SECURITY = [{"bearerAuth": []}]
_S409 = ("illegal-transition: the return's state does not allow this move; "
         "refund-exceeds-remaining / nothing-to-refund: nothing left to refund.")


@blp.route("/orders/<uuid:order_id>/deliver", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, OrderSchema)
@problems(blp, 401, 403, 404, 409)
def deliver_order(order_id):
    """The shop's seller (standing in for the logistics partner): IN_TRANSIT -> DELIVERED.
    Without it the order is delivered after AUTO_DELIVER_SECONDS; the return window and
    the auto-complete count from delivery."""
    user = principal_with_role("seller")
    return visible_order(lifecycle.deliver_order(ctx(), str(order_id), user), user)


@blp.route("/orders/<uuid:order_id>/returns", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(ReturnRequestSchema(),
               example={"type": "return_and_refund", "reason": "damaged",
                        "items": [{"product_id": "p-1", "quantity": 1}],
                        "note": "The box arrived crushed."})
@blp.response(201, ReturnSchema)
@problems(blp, 400, 401, 403, 404, 409, 422,
          s409="order-not-returnable, order-not-delivered, return-window-closed, "
               "return-already-open, or the key is in use.",
          s422="Invalid body, or quantities above what was ordered minus already returned.")
@idempotent
def open_return(body, order_id):
    """The order's buyer, on a DELIVERED order within RETURN_WINDOW_SECONDS (or an
    IN_TRANSIT one: refund_only with reason not_received). One open return per order. The
    refund will be the returned lines' value from the order's price snapshot."""
    user = principal_with_role("buyer")
    return returns_ops.open_return(ctx(), str(order_id), user, type_=body["type"],
                                   items=body["items"], reason=body["reason"],
                                   note=body["note"])


@blp.route("/returns", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.arguments(ReturnListArgsSchema(), location="query")
@blp.response(200, ReturnPageSchema)
@problems(blp, 401, 403, 422)
def list_returns(args):
    """Your returns as buyer, your shop's as seller, or every return as admin (disputes
    first unless filtered by status). Filters: `status`, `order_id`."""
    user = principal()
    return returns_ops.list_returns(
        ctx(), user, role=args["role"], status=args["status"],
        order_id=str(args["order_id"]) if args["order_id"] else None,
        cursor_token=args["cursor"], limit=args["limit"])


@blp.route("/returns/<return_id>", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.response(200, ReturnSchema)
@problems(blp, 401, 404)
def get_return(return_id):
    """Its buyer, the order's seller and admins; anyone else gets 404."""
    return returns_ops.get_return(ctx(), return_id, principal())


def _act(return_id: str, action: str, body: dict | None = None):
    return returns_ops.act(ctx(), return_id, action, principal(), body)


@blp.route("/returns/<return_id>/approve", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, s409=_S409)
def approve(return_id):
    """The order's seller: REQUESTED -> APPROVED, then AWAITING_BUYER_SHIPMENT
    (return_and_refund) or the refund of the lines' value (refund_only)."""
    return _act(return_id, "approve")


@blp.route("/returns/<return_id>/reject", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(ReturnRejectSchema(), example={"reason": "The seal is intact."})
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, 422, s409=_S409)
def reject(body, return_id):
    """The order's seller, with a reason: REQUESTED -> REJECTED (the buyer may escalate)."""
    return _act(return_id, "reject", body)


@blp.route("/returns/<return_id>/offer", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(ReturnOfferSchema(), example={"amount": 20000})
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, 422, s409=_S409,
          s422="The amount is not below the returned lines' value.")
def offer(body, return_id):
    """The order's seller offers a partial refund below the lines' value:
    REQUESTED -> OFFERED."""
    return _act(return_id, "offer", body)


@blp.route("/returns/<return_id>/received", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, s409=_S409)
def received(return_id):
    """The order's seller got the goods back: BUYER_SHIPPED -> RECEIVED; the units go back
    in stock and the refund is asked for."""
    return _act(return_id, "received")


@blp.route("/returns/<return_id>/ship", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(ShipRequestSchema(), example={"tracking_number": "JNE-RET-0001"})
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, 422, s409=_S409)
def ship(body, return_id):
    """The buyer sent the goods back: AWAITING_BUYER_SHIPMENT -> BUYER_SHIPPED."""
    return _act(return_id, "ship", body)


@blp.route("/returns/<return_id>/accept-offer", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, s409=_S409)
def accept_offer(return_id):
    """The buyer accepts the seller's offer: the offered amount is refunded."""
    return _act(return_id, "accept-offer")


@blp.route("/returns/<return_id>/escalate", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(ReturnEscalateSchema(), example={"note": "The item is broken."})
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, 422, s409=_S409)
def escalate(body, return_id):
    """The buyer disputes a rejection or declines an offer: -> DISPUTED (an admin
    decides)."""
    return _act(return_id, "escalate", body)


@blp.route("/returns/<return_id>/cancel", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, s409=_S409)
def cancel(return_id):
    """The buyer withdraws the return (before any refund is asked for)."""
    return _act(return_id, "cancel")


@blp.route("/returns/<return_id>/resolve", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(ReturnResolveSchema(), example={"decision": "refund", "amount": 50000})
@blp.response(200, ReturnSchema)
@problems(blp, 401, 403, 404, 409, 422, s409=_S409 + " A second resolve is a 409.")
def resolve(body, return_id):
    """An admin decides a dispute: `refund` (an amount up to the lines' value, default
    all of it) or `close` (nothing refunded)."""
    return _act(return_id, "resolve", body)
