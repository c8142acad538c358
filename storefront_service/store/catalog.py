"""Products: the seller's catalogue, public search and lookups."""

from __future__ import annotations

from servicekit.db import Database

from ..domain.errors import Conflict, NotFound, StaleVersion
from .paging import Keyset

_COLUMNS = """p.id, p.shop_id, s.name AS shop_name, p.title, p.description, p.price, p.stock,
    p.status, p.images, p.commission_rate_bps, p.created_at, p.updated_at, p.version"""

# What a seller may change with PATCH; keys are trusted column names, values parameters.
EDITABLE = ("title", "description", "price", "stock", "status", "images",
            "commission_rate_bps")


def create_product(db: Database, *, owner_id: str, title: str, description: str, price: int,
                   stock: int, status: str, images: list[str],
                   commission_rate_bps: int = 0) -> dict:
    """Create a product in the shop the seller owns, as recorded in the database (a token's
    shop_id claim alone is not trusted: it may predate the shop or be stale)."""
    with db.transaction() as cur:
        cur.execute(
            """
            WITH inserted AS (
                INSERT INTO products (shop_id, title, description, price, stock, status, images,
                                      commission_rate_bps)
                SELECT s.id, %s, %s, %s, %s, %s, %s, %s FROM shops s WHERE s.owner_id = %s
                RETURNING *
            )
            SELECT """ + _COLUMNS + " FROM inserted p JOIN shops s ON s.id = p.shop_id",
            (title, description, price, stock, status, images, commission_rate_bps,
             str(owner_id)),
        )
        row = cur.fetchone()
    if row is None:
        raise Conflict("Create your shop before adding products.", slug="shop-required")
    return row


def update_product(db: Database, *, product_id: str, owner_id: str, changes: dict,
                   expected_versions: list[int] | None = None) -> dict:
    """Apply `changes` if the product belongs to the seller's shop and, when
    `expected_versions` is given, is still at one of those versions (every write, a sale's stock
    decrement included, moves it on). Another seller's product is reported as not found,
    so product ownership is not disclosed."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    assignments = ", ".join(f"{column} = %s" for column in changes)
    with db.transaction() as cur:
        cur.execute(
            f"""
            WITH updated AS (
                UPDATE products p SET {assignments}
                FROM shops s
                WHERE p.id = %s AND s.id = p.shop_id AND s.owner_id = %s
                  AND (%s::bigint[] IS NULL OR p.version = ANY(%s::bigint[]))
                RETURNING p.*
            )
            SELECT {_COLUMNS} FROM updated p JOIN shops s ON s.id = p.shop_id
            """,
            list(changes.values())
            + [str(product_id), str(owner_id), expected_versions, expected_versions],
        )
        row = cur.fetchone()
        if row is None and expected_versions is not None:
            cur.execute(
                "SELECT p.version FROM products p JOIN shops s ON s.id = p.shop_id"
                " WHERE p.id = %s AND s.owner_id = %s",
                (str(product_id), str(owner_id)),
            )
            current = cur.fetchone()
            if current is not None:
                raise StaleVersion(
                    "The product changed since the version in If-Match; read it again.",
                    current_version=current["version"],
                )
    if row is None:
        raise NotFound("No such product in your shop.")
    return row


def get_product(db: Database, product_id: str) -> dict | None:
    """Any product, active or not (existing orders still show inactive ones)."""
    with db.read() as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM products p JOIN shops s ON s.id = p.shop_id WHERE p.id = %s",
            (str(product_id),),
        )
        return cur.fetchone()


def list_products(db: Database, keyset: Keyset, *, query: str | None = None,
                  shop_id: str | None = None, status: str = "active") -> list[dict]:
    """Products newest first (active ones unless told `inactive` or `all`), optionally
    matching a web-search style query."""
    where, params = keyset.sql("p")
    conditions = [where]
    if status != "all":
        conditions.append("p.status = %s")
        params.append(status)
    if query:
        conditions.append("p.search @@ websearch_to_tsquery('simple', %s)")
        params.append(query)
    if shop_id:
        conditions.append("p.shop_id = %s")
        params.append(str(shop_id))
    with db.read() as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM products p JOIN shops s ON s.id = p.shop_id"
            f" WHERE {' AND '.join(conditions)}"
            " ORDER BY p.created_at DESC, p.id DESC LIMIT %s",
            params + [keyset.fetch],
        )
        return cur.fetchall()


def shops_of(db: Database, product_ids: list[str]) -> list[dict]:
    """`{product_id, shop_id, status}` of each existing product among `product_ids`: the
    marketplace splits a cart into one order (one reservation) per shop with it."""
    with db.read() as cur:
        cur.execute(
            "SELECT id::text AS product_id, shop_id::text AS shop_id, status FROM products"
            " WHERE id = ANY(%s::uuid[]) ORDER BY id",
            (product_ids,),
        )
        return [dict(row) for row in cur.fetchall()]
