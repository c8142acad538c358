"""Carts: one per buyer, keyed by the buyer's account id."""

from __future__ import annotations

from servicekit.db import Database

from ..domain.errors import InsufficientStock, NotFound


def put_item(db: Database, *, buyer_id: str, product_id: str, quantity: int) -> None:
    """Add the product or change its quantity. The price is recorded on first add only, so
    the cart can later say whether it became cheaper or dearer since."""
    with db.transaction() as cur:
        cur.execute(
            "SELECT price, stock, status FROM products WHERE id = %s", (str(product_id),)
        )
        product = cur.fetchone()
        if product is None or product["status"] != "active":
            raise NotFound(
                f"Product {product_id} does not exist or is not for sale.",
                slug="product-unavailable",
                product_id=str(product_id),
            )
        if quantity > product["stock"]:
            raise InsufficientStock(str(product_id), quantity, product["stock"])
        cur.execute(
            """
            INSERT INTO cart_items (buyer_id, product_id, quantity, price_when_added)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (buyer_id, product_id)
            DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()
            """,
            (str(buyer_id), str(product_id), quantity, product["price"]),
        )


def remove_item(db: Database, *, buyer_id: str, product_id: str) -> bool:
    with db.transaction() as cur:
        cur.execute(
            "DELETE FROM cart_items WHERE buyer_id = %s AND product_id = %s",
            (str(buyer_id), str(product_id)),
        )
        return cur.rowcount > 0


def cart_lines(db: Database, buyer_id: str) -> list[dict]:
    """The buyer's cart lines joined with the products' current state, oldest first."""
    with db.transaction() as cur:
        cur.execute(
            """
            SELECT ci.product_id, ci.quantity, ci.price_when_added, ci.added_at,
                   p.shop_id, s.name AS shop_name, p.title, p.price, p.stock, p.status,
                   p.images
            FROM cart_items ci
            JOIN products p ON p.id = ci.product_id
            JOIN shops s ON s.id = p.shop_id
            WHERE ci.buyer_id = %s
            ORDER BY ci.added_at, ci.product_id
            """,
            (str(buyer_id),),
        )
        return cur.fetchall()
