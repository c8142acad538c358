"""Creators' content and the feed built from it."""

from __future__ import annotations

from collections import defaultdict

from servicekit.db import Database

from ..domain.attribution import Touch
from ..domain.errors import Invalid
from .paging import Keyset

_CONTENT_COLUMNS = """c.id, c.kind, c.title, c.media_url, c.created_at,
    c.creator_id, a.name AS creator_name"""


def create_content(db: Database, *, creator_id: str, kind: str, title: str, media_url: str,
                   product_ids: list[str]) -> dict:
    with db.transaction() as cur:
        # Share-lock the tagged products so none is deactivated between the check and
        # the insert of the tags.
        cur.execute(
            "SELECT id FROM products WHERE id = ANY(%s::uuid[]) AND status = 'active'"
            " ORDER BY id FOR SHARE",
            ([str(p) for p in product_ids],),
        )
        found = {str(row["id"]) for row in cur.fetchall()}
        missing = [str(p) for p in product_ids if str(p) not in found]
        if missing:
            raise Invalid(
                "Tagged products must exist and be for sale.",
                errors={"product_ids": [f"Unknown or inactive product: {p}" for p in missing]},
            )
        cur.execute(
            "INSERT INTO contents (creator_id, kind, title, media_url) VALUES (%s, %s, %s, %s)"
            " RETURNING id",
            (str(creator_id), kind, title, media_url),
        )
        content_id = cur.fetchone()["id"]
        cur.executemany(
            "INSERT INTO content_products (content_id, product_id, position) VALUES (%s, %s, %s)",
            [(content_id, str(p), position) for position, p in enumerate(product_ids)],
        )
        return _with_products(cur, _contents_where(cur, "c.id = %s", [content_id], 1))[0]


def get_content(db: Database, content_id: str) -> dict | None:
    with db.read() as cur:
        rows = _contents_where(cur, "c.id = %s", [str(content_id)], 1)
        return _with_products(cur, rows)[0] if rows else None


def feed(db: Database, keyset: Keyset) -> list[dict]:
    """Content newest first, each with its tagged products that are still for sale."""
    where, params = keyset.sql("c")
    with db.read() as cur:
        rows = _contents_where(cur, where, params, keyset.fetch)
        return _with_products(cur, rows)


def _contents_where(cur, where: str, params: list, limit: int) -> list[dict]:
    cur.execute(
        f"SELECT {_CONTENT_COLUMNS} FROM contents c JOIN accounts a ON a.id = c.creator_id"
        f" WHERE {where} ORDER BY c.created_at DESC, c.id DESC LIMIT %s",
        params + [limit],
    )
    return cur.fetchall()


def _with_products(cur, contents: list[dict]) -> list[dict]:
    """Attach the active tagged products to each content row (one query for the page)."""
    if not contents:
        return contents
    cur.execute(
        """
        SELECT cp.content_id, p.id, p.shop_id, s.name AS shop_name, p.title, p.price, p.stock,
               p.images
        FROM content_products cp
        JOIN products p ON p.id = cp.product_id
        JOIN shops s ON s.id = p.shop_id
        WHERE cp.content_id = ANY(%s::uuid[]) AND p.status = 'active'
        ORDER BY cp.content_id, cp.position
        """,
        ([str(c["id"]) for c in contents],),
    )
    by_content = defaultdict(list)
    for row in cur.fetchall():
        by_content[row.pop("content_id")].append(row)
    for content in contents:
        content["products"] = by_content.get(content["id"], [])
    return contents


def touch(cur, *, content_id: str, product_id: str):
    """The content as a touch of the product (its creator), or None when the content does
    not exist or does not tag the product. Runs in the caller's transaction."""
    cur.execute(
        """
        SELECT c.id, c.creator_id FROM contents c
        JOIN content_products cp ON cp.content_id = c.id AND cp.product_id = %s
        WHERE c.id = %s
        """,
        (str(product_id), str(content_id)),
    )
    row = cur.fetchone()
    return Touch(str(row["id"]), str(row["creator_id"])) if row else None
