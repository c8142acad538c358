"""Carts: one per buyer, keyed by the buyer's account id."""

from __future__ import annotations

from servicekit.db import Database

from ..domain import attribution
from ..domain.errors import InsufficientStock, NotFound
from . import contents


def put_item(db: Database, *, buyer_id: str, product_id: str, quantity: int,
             content_id: str | None = None) -> None:
    """Add the product or change its quantity. The price is recorded on first add only, so
    the cart can later say whether it became cheaper or dearer since.

    With `content_id` (the buyer added it from a video or live session) the item is
    attributed to that content from now on: last touch wins. Without it an earlier
    attribution is kept (changing the quantity is not a new touch)."""
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
        if content_id is not None:
            attribution.require_valid_touch(
                contents.touch(cur, content_id=str(content_id), product_id=str(product_id)),
                content_id=str(content_id), product_id=str(product_id), buyer_id=str(buyer_id),
            )
        cur.execute(
            """
            INSERT INTO cart_items
                (buyer_id, product_id, quantity, price_when_added, content_id, attributed_at)
            VALUES (%s, %s, %s, %s, %s, CASE WHEN %s::uuid IS NULL THEN NULL ELSE now() END)
            ON CONFLICT (buyer_id, product_id)
            DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now(),
                content_id = coalesce(EXCLUDED.content_id, cart_items.content_id),
                attributed_at = coalesce(EXCLUDED.attributed_at, cart_items.attributed_at)
            """,
            (str(buyer_id), str(product_id), quantity, product["price"],
             None if content_id is None else str(content_id),
             None if content_id is None else str(content_id)),
        )


def remove_item(db: Database, *, buyer_id: str, product_id: str) -> bool:
    with db.transaction() as cur:
        cur.execute(
            "DELETE FROM cart_items WHERE buyer_id = %s AND product_id = %s",
            (str(buyer_id), str(product_id)),
        )
        return cur.rowcount > 0


def attributed_touches(cur, buyer_id: str, product_ids: list[str],
                       window_seconds: int) -> dict[str, attribution.Touch]:
    """The buyer's cart touches still inside the window, by product, whose content still
    tags the product (a re-tagged content no longer attributes). Caller's transaction."""
    cur.execute(
        """
        SELECT ci.product_id, c.id AS content_id, c.creator_id
        FROM cart_items ci
        JOIN contents c ON c.id = ci.content_id
        JOIN content_products cp ON cp.content_id = c.id AND cp.product_id = ci.product_id
        WHERE ci.buyer_id = %s AND ci.product_id = ANY(%s::uuid[])
          AND ci.attributed_at > now() - make_interval(secs => %s)
        """,
        (str(buyer_id), [str(p) for p in product_ids], window_seconds),
    )
    return {
        str(row["product_id"]): attribution.Touch(str(row["content_id"]), str(row["creator_id"]))
        for row in cur.fetchall()
    }


def cart_lines(db: Database, buyer_id: str) -> list[dict]:
    """The buyer's cart lines joined with the products' current state, oldest first."""
    with db.transaction() as cur:
        cur.execute(
            """
            SELECT ci.product_id, ci.quantity, ci.price_when_added, ci.added_at,
                   p.shop_id, s.name AS shop_name, p.title, p.price, p.stock, p.status,
                   p.images, ci.content_id, ci.attributed_at, c.kind AS content_kind,
                   c.title AS content_title, c.creator_id, a.name AS creator_name
            FROM cart_items ci
            JOIN products p ON p.id = ci.product_id
            JOIN shops s ON s.id = p.shop_id
            LEFT JOIN contents c ON c.id = ci.content_id
            LEFT JOIN accounts a ON a.id = c.creator_id
            WHERE ci.buyer_id = %s
            ORDER BY ci.added_at, ci.product_id
            """,
            (str(buyer_id),),
        )
        return cur.fetchall()
