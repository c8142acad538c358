"""Shops: at most one per seller (a UNIQUE constraint, so it holds under races)."""

from __future__ import annotations

import psycopg2.errors

from servicekit.db import Database

from ..domain.errors import Conflict
from .paging import Keyset

_COLUMNS = """s.id, s.owner_id, a.name AS owner_name, s.name, s.description, s.city,
    s.created_at"""


def create_shop(db: Database, *, owner_id: str, name: str, description: str,
                city: str | None) -> dict:
    try:
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO shops (owner_id, name, description, city) VALUES (%s, %s, %s, %s)"
                " RETURNING id",
                (str(owner_id), name, description, city),
            )
            shop_id = cur.fetchone()["id"]
            cur.execute(
                f"SELECT {_COLUMNS} FROM shops s JOIN accounts a ON a.id = s.owner_id"
                " WHERE s.id = %s",
                (shop_id,),
            )
            return cur.fetchone()
    except psycopg2.errors.UniqueViolation:
        raise Conflict("This seller already has a shop.", slug="shop-exists") from None


def get_shop(db: Database, shop_id: str) -> dict | None:
    with db.read() as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM shops s JOIN accounts a ON a.id = s.owner_id"
            " WHERE s.id = %s",
            (str(shop_id),),
        )
        return cur.fetchone()


def shop_id_of_owner(db: Database, owner_id: str) -> str | None:
    with db.read() as cur:
        cur.execute("SELECT id FROM shops WHERE owner_id = %s", (str(owner_id),))
        row = cur.fetchone()
        return str(row["id"]) if row else None


def list_shops(db: Database, keyset: Keyset) -> list[dict]:
    where, params = keyset.sql("s")
    with db.read() as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM shops s JOIN accounts a ON a.id = s.owner_id"
            f" WHERE {where} ORDER BY s.created_at DESC, s.id DESC LIMIT %s",
            params + [keyset.fetch],
        )
        return cur.fetchall()
