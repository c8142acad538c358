"""Returns and their lines (SQL only; the rules live in domain/returns.py).

Queries interpolate only the constant column list and fixed condition fragments below;
every value travels as a bound parameter.
"""
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from .assignments import set_clause

_COLUMNS = """
    r.id::text AS id, r.order_id::text AS order_id, r.buyer_id, r.shop_id, r.type, r.reason,
    r.note, r.status, r.lines_value, r.offer_amount, r.refund_amount,
    r.refund_id::text AS refund_id, r.reject_reason, r.tracking_number, r.resolution,
    r.resolution_note, r.restock_queued, r.created_at, r.updated_at, r.responded_at,
    r.shipped_at, r.received_at, r.refunded_at, r.closed_at
"""

_UPDATABLE = {
    "status", "offer_amount", "refund_amount", "refund_id", "reject_reason", "tracking_number",
    "resolution", "resolution_note", "restock_queued", "responded_at", "shipped_at",
    "received_at", "refunded_at", "closed_at",
}

# Returns not in a final state (mirrors domain.returns.OPEN and the unique index).
_FINAL = ("REFUNDED", "CLOSED", "CANCELLED")


def insert(cursor, *, order_id: str, buyer_id: str, shop_id: str, type_: str, reason: str,
           note: str | None, lines: list, lines_value: int) -> dict:
    cursor.execute(
        f"""
        INSERT INTO returns AS r (order_id, buyer_id, shop_id, type, reason, note, lines_value)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        RETURNING {_COLUMNS}
        """,
        (order_id, buyer_id, shop_id, type_, reason, note, lines_value),
    )
    row = cursor.fetchone()
    for line in lines:
        cursor.execute(
            "INSERT INTO return_items (return_id, product_id, quantity, unit_price)"
            " VALUES (%s, %s, %s, %s)",
            (row["id"], line.product_id, line.quantity, line.unit_price),
        )
    return row


def open_for_order(cursor, order_id: str) -> dict | None:
    cursor.execute(
        f"SELECT {_COLUMNS} FROM returns r WHERE r.order_id = %s AND r.status <> ALL(%s)",
        (order_id, list(_FINAL)),
    )
    return cursor.fetchone()


def claimed_quantities(cursor, order_id: str) -> dict[str, int]:
    """Units per product that returns of the order have claimed (not cancelled/closed)."""
    cursor.execute(
        """
        SELECT i.product_id, sum(i.quantity) AS quantity
          FROM return_items i JOIN returns r ON r.id = i.return_id
         WHERE r.order_id = %s AND r.status NOT IN ('CANCELLED', 'CLOSED')
         GROUP BY i.product_id
        """,
        (order_id,),
    )
    return {row["product_id"]: int(row["quantity"]) for row in cursor.fetchall()}


def get(cursor, return_id: str) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM returns r WHERE r.id = %s", (return_id,))
    row = cursor.fetchone()
    if row is not None:
        _attach_items(cursor, [row])
    return row


def lock(cursor, return_id: str) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM returns r WHERE r.id = %s FOR UPDATE", (return_id,))
    row = cursor.fetchone()
    if row is not None:
        _attach_items(cursor, [row])
    return row


def order_of(cursor, return_id: str) -> str | None:
    cursor.execute("SELECT order_id::text AS order_id FROM returns WHERE id = %s",
                   (return_id,))
    row = cursor.fetchone()
    return row["order_id"] if row else None


def update(cursor, return_id: str, **changes) -> None:
    """Set columns; a value of `"now()"` for a timestamp column means the DB clock."""
    assignments, values = set_clause(changes, _UPDATABLE, "return")
    cursor.execute(f"UPDATE returns SET {assignments} WHERE id = %s", [*values, return_id])


def set_line_refunds(cursor, return_id: str, shares: dict[str, int]) -> None:
    for product_id, amount in shares.items():
        cursor.execute(
            "UPDATE return_items SET refunded = %s WHERE return_id = %s AND product_id = %s",
            (amount, return_id, product_id),
        )


def refunded_per_product(cursor, order_id: str) -> dict[str, int]:
    """What the order's returns refunded (or are refunding) per product, for settlement."""
    cursor.execute(
        """
        SELECT i.product_id, sum(i.refunded) AS refunded
          FROM return_items i JOIN returns r ON r.id = i.return_id
         WHERE r.order_id = %s AND r.status = 'REFUNDED'
         GROUP BY i.product_id
        """,
        (order_id,),
    )
    return {row["product_id"]: int(row["refunded"]) for row in cursor.fetchall()}


def list_returns(cursor, *, buyer_id: str | None = None, shop_id: str | None = None,
                 status: str | None = None, order_id: str | None = None,
                 disputes_first: bool = False,
                 after: tuple | None = None, limit: int = 20) -> list[dict]:
    """Newest first (admins: disputes first, then newest), keyset-paginated; up to
    limit+1 rows. The keyset is (rank, created_at, id) where rank is 0 for disputes when
    `disputes_first`, else always 0."""
    rank = "(CASE WHEN r.status = 'DISPUTED' THEN 0 ELSE 1 END)" if disputes_first else "0"
    conditions = ["TRUE"]
    values: list = []
    if buyer_id is not None:
        conditions.append("r.buyer_id = %s")
        values.append(buyer_id)
    if shop_id is not None:
        conditions.append("r.shop_id = %s")
        values.append(shop_id)
    if status is not None:
        conditions.append("r.status = %s")
        values.append(status)
    if order_id is not None:
        conditions.append("r.order_id = %s")
        values.append(order_id)
    if after is not None:
        conditions.append(f"(({rank}) > %s OR (({rank}) = %s AND (r.created_at, r.id)"
                          " < (%s::timestamptz, %s::uuid)))")
        values.extend([after[0], after[0], after[1], after[2]])
    values.append(limit + 1)
    # (A bare constant in ORDER BY would be read as a column position.)
    order = f"{rank}, " if disputes_first else ""
    cursor.execute(
        f"""
        SELECT {_COLUMNS}, {rank} AS rank FROM returns r
         WHERE {' AND '.join(conditions)}
         ORDER BY {order}r.created_at DESC, r.id DESC
         LIMIT %s
        """,
        values,
    )
    rows = cursor.fetchall()
    _attach_items(cursor, rows)
    return rows


def for_order(cursor, order_id: str) -> list[dict]:
    cursor.execute(f"SELECT {_COLUMNS} FROM returns r WHERE r.order_id = %s"
                   " ORDER BY r.created_at", (order_id,))
    rows = cursor.fetchall()
    _attach_items(cursor, rows)
    return rows


def claim_unanswered(cursor, older_than_seconds: int) -> tuple[str, str] | None:
    """(return id, order id) of a REQUESTED return older than the seller's response time,
    its order row locked (order before return, as every move locks them; other workers
    skip it); the caller locks the return and checks again."""
    cursor.execute(
        """
        SELECT r.id::text AS id, r.order_id::text AS order_id
          FROM returns r JOIN orders o ON o.id = r.order_id
         WHERE r.status = 'REQUESTED' AND r.created_at <= now() - make_interval(secs => %s)
         ORDER BY r.created_at
         LIMIT 1 FOR UPDATE OF o SKIP LOCKED
        """,
        (older_than_seconds,),
    )
    row = cursor.fetchone()
    return (row["id"], row["order_id"]) if row else None


def _attach_items(cursor, rows: list[dict]) -> None:
    if not rows:
        return
    cursor.execute(
        """
        SELECT return_id::text AS return_id, product_id, quantity, unit_price, refunded
          FROM return_items WHERE return_id = ANY(%s::uuid[]) ORDER BY return_id, product_id
        """,
        ([row["id"] for row in rows],),
    )
    items: dict[str, list] = {}
    for item in cursor.fetchall():
        items.setdefault(item.pop("return_id"), []).append(dict(item))
    for row in rows:
        row["items"] = items.get(row["id"], [])


def page_key(row: dict) -> tuple[int, datetime, str]:
    return (int(row.get("rank", 0)), row["created_at"], row["id"])
