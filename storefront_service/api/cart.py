"""The buyer's cart."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..domain import cart as rules
from ..domain.errors import NotFound
from ..domain.money import line_total
from ..store import carts
from .common import BEARER, authenticated, caller, database, problem_doc
from .schemas import CartItemPutSchema, CartSchema

blp = Blueprint("cart", __name__, url_prefix="/api/v1/cart", description="The buyer's cart.")


def _cart_view(buyer_id: str) -> dict:
    items, lines = [], []
    for row in carts.cart_lines(database(), buyer_id):
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
@problem_doc(blp, 401, 403)
def get_cart():
    """The caller's cart with current prices, price changes and availability."""
    return _cart_view(caller("buyer").account_id)


@blp.route("/items/<uuid:product_id>", methods=["PUT"])
@authenticated("buyer")
@blp.doc(security=BEARER)
@blp.arguments(CartItemPutSchema(), example={"quantity": 2})
@blp.response(200, CartSchema)
@problem_doc(blp, 401, 403, 404, 409, 422)
def put_item(body, product_id):
    """Add a product or set its quantity (the price is remembered from the first add)."""
    buyer_id = caller("buyer").account_id
    carts.put_item(
        database(), buyer_id=buyer_id, product_id=str(product_id), quantity=body["quantity"]
    )
    return _cart_view(buyer_id)


@blp.route("/items/<uuid:product_id>", methods=["DELETE"])
@authenticated("buyer")
@blp.doc(security=BEARER)
@blp.response(200, CartSchema)
@problem_doc(blp, 401, 403, 404)
def delete_item(product_id):
    """Take a product out of the cart."""
    buyer_id = caller("buyer").account_id
    if not carts.remove_item(database(), buyer_id=buyer_id, product_id=str(product_id)):
        raise NotFound("This product is not in your cart.")
    return _cart_view(buyer_id)
