"""The buyer's cart."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_smorest import Blueprint

from ..domain import attribution
from ..domain import cart as rules
from ..domain.errors import NotFound
from ..domain.money import line_total
from ..store import carts
from .common import BEARER, authenticated, caller, problems
from .context import ctx
from .schemas import CartItemPutSchema, CartSchema

blp = Blueprint("cart", __name__, url_prefix="/api/v1/cart", description="The buyer's cart.")


def _attribution_view(row: dict, now: datetime) -> dict | None:
    """Which content the item was added from, while that touch still counts."""
    window = ctx().config.attribution_window_seconds
    if row["content_id"] is None or not attribution.in_window(row["attributed_at"], now, window):
        return None
    return {
        "content_id": str(row["content_id"]),
        "content_kind": row["content_kind"],
        "content_title": row["content_title"],
        "creator": {"id": str(row["creator_id"]), "name": row["creator_name"]},
        "attributed_at": row["attributed_at"],
    }


def _cart_view(buyer_id: str) -> dict:
    items, lines = [], []
    now = datetime.now(UTC)
    for row in carts.cart_lines(ctx().database, buyer_id):
        line = rules.CartLine(
            product_id=str(row["product_id"]),
            quantity=row["quantity"],
            price_when_added=row["price_when_added"],
            current_price=row["price"],
            status=row["status"],
            stock=row["stock"],
        )
        lines.append(line)
        reason = rules.unavailable_reason(line.status, line.stock, line.quantity)
        items.append(
            {
                "product_id": line.product_id,
                "shop_id": row["shop_id"],
                "shop_name": row["shop_name"],
                "title": row["title"],
                "image": row["images"][0] if row["images"] else None,
                "quantity": line.quantity,
                "stock": line.stock,
                "unit_price": line.current_price,
                "price_when_added": line.price_when_added,
                "price_change": rules.price_change(line.price_when_added, line.current_price),
                "available": reason is None,
                "unavailable_reason": reason,
                "line_total": line_total(line.current_price, line.quantity),
                "attribution": _attribution_view(row, now),
            }
        )
    return {
        "buyer_id": buyer_id,
        "items": items,
        "subtotal": rules.subtotal(lines),
        "available_quantity": sum(i["quantity"] for i in items if i["available"]),
    }


@blp.route("", methods=["GET"])
@authenticated("buyer")
@blp.doc(security=BEARER)
@blp.response(200, CartSchema)
@problems(blp, 401, 403)
def get_cart():
    """The caller's cart with current prices, price changes and availability."""
    return _cart_view(caller("buyer").account_id)


@blp.route("/items/<uuid:product_id>", methods=["PUT"])
@authenticated("buyer")
@blp.doc(security=BEARER)
@blp.arguments(CartItemPutSchema(),
               example={"quantity": 2, "content_id": "8d1f7c2a-5b3e-4f60-9a71-2c4d5e6f7a80"})
@blp.response(200, CartSchema)
@problems(blp, 401, 403, 404, 409, 422)
def put_item(body, product_id):
    """Add a product or set its quantity (the price is remembered from the first add).

    `content_id`: the video or live session the buyer added it from. It must tag the
    product and be visible (422 `invalid-attribution`), and not be the buyer's own
    (422 `self-attribution`). The last content wins and counts at checkout for
    ATTRIBUTION_WINDOW_SECONDS (7 days); without `content_id` an earlier attribution
    stays."""
    buyer_id = caller("buyer").account_id
    content_id = body.get("content_id")
    carts.put_item(
        ctx().database, buyer_id=buyer_id, product_id=str(product_id), quantity=body["quantity"],
        content_id=None if content_id is None else str(content_id),
    )
    return _cart_view(buyer_id)


@blp.route("/items/<uuid:product_id>", methods=["DELETE"])
@authenticated("buyer")
@blp.doc(security=BEARER)
@blp.response(200, CartSchema)
@problems(blp, 401, 403, 404)
def delete_item(product_id):
    """Take a product out of the cart."""
    buyer_id = caller("buyer").account_id
    if not carts.remove_item(ctx().database, buyer_id=buyer_id, product_id=str(product_id)):
        raise NotFound("This product is not in your cart.")
    return _cart_view(buyer_id)
