"""Checkouts: one provider payment for one order per shop (SQL only).

Lock order, everywhere: the checkout row first, then its orders by id, so that a
settlement, an expiry and a cancel of the same checkout never deadlock.
"""
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from .assignments import set_clause

_COLUMNS = """
    c.id::text AS id, c.buyer_id, c.status, c.placed_at, c.payment_method, c.currency,
    c.total, c.provider, c.provider_transaction_id, c.va_number, c.bank, c.deeplink,
    c.expires_at, c.payment_deadline, c.created_at, c.updated_at, c.paid_at, c.closed_at
"""

_UPDATABLE = {
    "status", "total", "provider", "provider_transaction_id", "va_number", "bank", "deeplink",
    "expires_at", "payment_deadline", "placed_at", "paid_at", "closed_at",
}


def insert(cursor, checkout_id: str, *, buyer_id: str, payment_method: str) -> dict:
    cursor.execute(
        f"""
        INSERT INTO checkouts AS c (id, buyer_id, payment_method) VALUES (%s, %s, %s)
        RETURNING {_COLUMNS}
        """,
        (checkout_id, buyer_id, payment_method),
    )
    return cursor.fetchone()


def lock(cursor, checkout_id: str) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM checkouts c WHERE c.id = %s FOR UPDATE",
                   (checkout_id,))
    return cursor.fetchone()


def get(cursor, checkout_id: str) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM checkouts c WHERE c.id = %s", (checkout_id,))
    return cursor.fetchone()


def update(cursor, checkout_id: str, **changes) -> None:
    """Set columns; the value `"now()"` means the database clock."""
    assignments, values = set_clause(changes, _UPDATABLE, "checkout")
    cursor.execute(f"UPDATE checkouts SET {assignments} WHERE id = %s", [*values, checkout_id])


def order_ids(cursor, checkout_id: str) -> list[str]:
    cursor.execute("SELECT id::text AS id FROM orders WHERE checkout_id = %s ORDER BY id",
                   (checkout_id,))
    return [row["id"] for row in cursor.fetchall()]


def lock_orders(cursor, checkout_id: str) -> list[dict]:
    """The checkout's orders, locked in id order (after the checkout row): one statement,
    its rows locked in the order the sort returns them."""
    from .orders import ORDER_COLUMNS

    cursor.execute(f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.checkout_id = %s"
                   " ORDER BY o.id FOR UPDATE", (checkout_id,))
    return cursor.fetchall()


def delete_unplaced(cursor, checkout_id: str) -> None:
    """A checkout that never reserved anything: it and its orders never existed."""
    cursor.execute("DELETE FROM orders WHERE checkout_id = %s AND placed_at IS NULL",
                   (checkout_id,))
    cursor.execute("DELETE FROM checkouts WHERE id = %s AND placed_at IS NULL", (checkout_id,))


def claim_overdue_unpaid(cursor) -> dict | None:
    cursor.execute(
        f"""
        SELECT {_COLUMNS} FROM checkouts c
         WHERE c.status = 'UNPAID' AND c.placed_at IS NOT NULL
           AND (c.payment_deadline <= now() OR c.id IN (
                -- an order's deadline is its checkout's; either one passing expires all
                SELECT o.checkout_id FROM orders o
                 WHERE o.status = 'UNPAID' AND o.placed_at IS NOT NULL
                   AND o.payment_deadline <= now() AND o.checkout_id IS NOT NULL))
         ORDER BY c.payment_deadline
         LIMIT 1 FOR UPDATE SKIP LOCKED
        """
    )
    return cursor.fetchone()


def list_for_buyer(cursor, buyer_id: str, *, limit: int,
                   after: tuple[datetime, str] | None = None) -> list[dict]:
    cursor.execute(
        f"""
        SELECT {_COLUMNS} FROM checkouts c
         WHERE c.buyer_id = %(buyer)s AND c.placed_at IS NOT NULL
           AND (%(first)s OR (c.created_at, c.id) < (%(at)s::timestamptz, %(id)s::uuid))
         ORDER BY c.created_at DESC, c.id DESC LIMIT %(limit)s
        """,
        {"buyer": buyer_id, "first": after is None, "at": after[0] if after else None,
         "id": after[1] if after else None, "limit": limit + 1},
    )
    return cursor.fetchall()
