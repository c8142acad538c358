"""Orders: list, read, and the buyer's and seller's actions on one order."""

from __future__ import annotations

from flask_smorest import Blueprint

from servicekit.pagination import decode_keyset_cursor, keyset_page
from servicekit.problems import Problem

from ..operations import lifecycle, refunds
from ..operations.common import visible_order
from ..store import orders as order_store
from .auth import principal, principal_with_role
from .context import ctx
from .docs import problems
from .idempotency import idempotent
from .schemas import (
    OrderListArgsSchema,
    OrderPageSchema,
    OrderSchema,
    RefundAccountRequestSchema,
    ShipRequestSchema,
)

blp = Blueprint("orders", __name__, url_prefix="/api/v1/orders",
                description="Orders of the caller (as buyer or as the shop's seller).")

_SECURITY = [{"bearerAuth": []}]


@blp.route("", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.arguments(OrderListArgsSchema(), location="query")
@blp.response(200, OrderPageSchema)
@problems(blp, 401, 403, 422)
def list_orders(args):
    """Newest first. `role=buyer` (default for buyers) lists your purchases, `role=seller`
    your shop's orders, `role=admin` every order (admins only)."""
    user = principal()
    role = args["role"] or next(r for r in ("buyer", "seller", "admin", "creator")
                                if user.has_role(r))
    filters: dict = {}
    if role == "buyer" and user.has_role("buyer"):
        filters["buyer_id"] = user.account_id
    elif role == "seller" and user.has_role("seller") and user.shop_id:
        filters["shop_id"] = user.shop_id
    elif role == "admin" and user.has_role("admin"):
        pass
    else:
        raise Problem(403, "Forbidden", f"You cannot list orders as {role}.", slug="forbidden")
    after = decode_keyset_cursor(args["cursor"])
    with ctx().database.transaction() as cursor:
        rows = order_store.list_orders(
            cursor, status=args["status"], after=after, limit=args["limit"], **filters
        )
    result = keyset_page(rows, args["limit"])
    result["data"] = [visible_order(order, user) for order in result["data"]]
    return result


@blp.route("/<uuid:order_id>", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.response(200, OrderSchema)
@problems(blp, 401, 404)
def get_order(order_id):
    """The buyer, the shop's seller and admins see an order; anyone else gets 404. Each
    line's `attribution` shows the seller and admins the creator, rate and commission; the
    buyer sees only which content the line came from."""
    user = principal()
    return visible_order(lifecycle.get_order(ctx(), str(order_id), user), user)


@blp.route("/<uuid:order_id>/cancel", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, OrderSchema)
@problems(blp, 400, 401, 403, 404, 409, 422,
          s409="illegal-transition (already shipped or closed), or the key is in use.")
@idempotent
def cancel_order(order_id):
    """Buyer, before shipping. A paid order is refunded through the provider and its stock
    returned to the shop."""
    user = principal_with_role("buyer")
    return visible_order(lifecycle.cancel_order(ctx(), str(order_id), user), user)


@blp.route("/<uuid:order_id>/ship", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(ShipRequestSchema(), example={"tracking_number": "JNE-0012345678"})
@blp.response(200, OrderSchema)
@problems(blp, 401, 403, 404, 409, 422)
def ship_order(body, order_id):
    """The shop's seller: AWAITING_SHIPMENT -> IN_TRANSIT with a tracking number."""
    return lifecycle.ship_order(ctx(), str(order_id), principal_with_role("seller"),
                                body["tracking_number"])


@blp.route("/<uuid:order_id>/confirm-receipt", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, OrderSchema)
@problems(blp, 401, 403, 404, 409)
def confirm_receipt(order_id):
    """The buyer: IN_TRANSIT -> COMPLETED; the escrow is settled to the seller minus the
    platform fee and the commission of each creator whose content sold a line."""
    user = principal_with_role("buyer")
    return visible_order(lifecycle.confirm_receipt(ctx(), str(order_id), user), user)


@blp.route("/<uuid:order_id>/refund-account", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(RefundAccountRequestSchema(),
               example={"bank": "bca", "account_number": "1234567890",
                        "account_name": "Budi Santoso"})
@blp.response(200, OrderSchema)
@problems(blp, 401, 403, 404, 409, 422,
          s409="no-manual-refund: the order has no refund waiting for a bank account.",
          s422="Not a valid bank, account number (digits, the bank's length) or name.")
def give_refund_account(body, order_id):
    """The buyer: the bank account a manual refund (a bank-transfer payment the provider
    cannot refund) is sent to. May be given again until the admin has sent the money.
    The answer shows the account number masked."""
    user = principal_with_role("buyer")
    return visible_order(refunds.give_account(ctx(), str(order_id), user,
                                              bank=body["bank"],
                                              account_number=body["account_number"],
                                              account_name=body["account_name"]), user)
