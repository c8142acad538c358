"""Orders, their item snapshot and their payment (SQL only; rules live in domain/).

Queries interpolate only the constant column lists and fixed condition fragments below;
every value travels as a bound parameter.
"""
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from psycopg2.extras import Json

from . import refunds as refund_store
from .assignments import set_clause

ORDER_COLUMNS = """
    o.id::text AS id, o.buyer_id, o.shop_id, o.status, o.placed_at, o.checkout_failure,
    o.payment_method, o.shipping_address, o.currency, o.subtotal, o.shipping_fee, o.total,
    o.reservation_expires_at, o.payment_deadline, o.tracking_number, o.cancel_reason,
    o.created_at, o.updated_at, o.paid_at, o.shipped_at, o.completed_at, o.cancelled_at,
    o.expired_at, o.delivered_at, o.checkout_id::text AS checkout_id
"""

# Columns a state change may stamp; anything else passed to update_status is a bug.
_STAMPABLE = {
    "paid_at", "shipped_at", "completed_at", "cancelled_at", "expired_at", "tracking_number",
    "cancel_reason", "checkout_failure", "delivered_at",
}


def insert_order(cursor, *, buyer_id: str, payment_method: str, shipping_address: dict,
                 order_id: str | None = None, checkout_id: str | None = None) -> dict:
    cursor.execute(
        f"""
        INSERT INTO orders AS o (id, buyer_id, payment_method, shipping_address, checkout_id)
        VALUES (coalesce(%s::uuid, gen_random_uuid()), %s, %s, %s, %s)
        RETURNING {ORDER_COLUMNS}
        """,
        (order_id, buyer_id, payment_method, Json(shipping_address), checkout_id),
    )
    return cursor.fetchone()


def delete_unplaced_order(cursor, order_id: str) -> None:
    cursor.execute("DELETE FROM orders WHERE id = %s AND placed_at IS NULL", (order_id,))


def lock_order(cursor, order_id: str) -> dict | None:
    """The order row, locked until the end of the transaction."""
    cursor.execute(
        f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = %s FOR UPDATE", (order_id,)
    )
    return cursor.fetchone()


def save_snapshot(
    cursor,
    order_id: str,
    *,
    shop_id: str,
    items: list[dict],
    subtotal: int,
    shipping_fee: int,
    total: int,
    reservation_expires_at: datetime | None,
    payment_deadline: datetime,
) -> None:
    cursor.execute(
        """
        UPDATE orders SET shop_id = %s, subtotal = %s, shipping_fee = %s, total = %s,
               reservation_expires_at = %s, payment_deadline = %s, updated_at = now()
         WHERE id = %s
        """,
        (shop_id, subtotal, shipping_fee, total, reservation_expires_at, payment_deadline,
         order_id),
    )
    cursor.execute("DELETE FROM order_items WHERE order_id = %s", (order_id,))
    for position, item in enumerate(items):
        attribution = item.get("attribution") or {}
        cursor.execute(
            """
            INSERT INTO order_items
                (order_id, position, product_id, title, quantity, unit_price, line_total,
                 content_id, creator_id, commission_rate_bps, commission)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (order_id, position, item["product_id"], item["title"], item["quantity"],
             item["unit_price"], item["line_total"], attribution.get("content_id"),
             attribution.get("creator_id"), attribution.get("commission_rate_bps"),
             attribution.get("commission")),
        )


def mark_placed(cursor, order_id: str) -> None:
    cursor.execute(
        "UPDATE orders SET placed_at = now(), updated_at = now() WHERE id = %s", (order_id,)
    )


def update_status(cursor, order_id: str, status: str, stamp: dict | None = None) -> None:
    """Set the status (already checked by the state machine) and the columns it stamps.
    `stamp` maps column -> value; the value None means `now()`."""
    assignments = ["status = %s", "updated_at = now()"]
    values: list = [status]
    for column, value in (stamp or {}).items():
        if column not in _STAMPABLE:
            raise ValueError(f"not a stampable order column: {column}")
        if value is None:
            assignments.append(f"{column} = now()")
        else:
            assignments.append(f"{column} = %s")
            values.append(value)
    values.append(order_id)
    cursor.execute(f"UPDATE orders SET {', '.join(assignments)} WHERE id = %s", values)


def get_order(cursor, order_id: str, *, placed_only: bool = True) -> dict | None:
    """The order with `items` and `payment`, as the API shows it."""
    condition = "AND o.placed_at IS NOT NULL" if placed_only else ""
    cursor.execute(
        f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = %s {condition}", (order_id,)
    )
    order = cursor.fetchone()
    if order is None:
        return None
    _attach_details(cursor, [order])
    return order


def list_orders(
    cursor,
    *,
    buyer_id: str | None = None,
    shop_id: str | None = None,
    status: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 20,
) -> list[dict]:
    """Newest first, keyset-paginated on (created_at, id); returns up to limit+1 rows."""
    conditions = ["o.placed_at IS NOT NULL"]
    values: list = []
    if buyer_id is not None:
        conditions.append("o.buyer_id = %s")
        values.append(buyer_id)
    if shop_id is not None:
        conditions.append("o.shop_id = %s")
        values.append(shop_id)
    if status is not None:
        conditions.append("o.status = %s")
        values.append(status)
    if after is not None:
        conditions.append("(o.created_at, o.id) < (%s::timestamptz, %s::uuid)")
        values.extend(after)
    values.append(limit + 1)
    cursor.execute(
        f"""
        SELECT {ORDER_COLUMNS} FROM orders o
         WHERE {' AND '.join(conditions)}
         ORDER BY o.created_at DESC, o.id DESC
         LIMIT %s
        """,
        values,
    )
    orders = cursor.fetchall()
    _attach_details(cursor, orders)
    return orders


def _attach_details(cursor, orders: list[dict]) -> None:
    if not orders:
        return
    ids = [order["id"] for order in orders]
    cursor.execute(
        """
        SELECT order_id::text AS order_id, product_id, title, quantity, unit_price, line_total,
               content_id, creator_id, commission_rate_bps, commission
          FROM order_items WHERE order_id = ANY(%s::uuid[]) ORDER BY order_id, position
        """,
        (ids,),
    )
    items: dict[str, list] = {}
    for row in cursor.fetchall():
        items.setdefault(row.pop("order_id"), []).append(_with_attribution(row))
    cursor.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE order_id = ANY(%s::uuid[])", (ids,)
    )
    payments = {row["order_id"]: row for row in cursor.fetchall()}
    refunds = refund_store.for_orders(cursor, ids)
    for order in orders:
        order["items"] = items.get(order["id"], [])
        order["payment"] = payments.get(order["id"])
        order["refunds"] = refunds.get(order["id"], [])


def order_items(cursor, order_id: str) -> list[dict]:
    """One order's item snapshot with each line's `attribution`, in position order."""
    cursor.execute(
        """
        SELECT product_id, title, quantity, unit_price, line_total,
               content_id, creator_id, commission_rate_bps, commission
          FROM order_items WHERE order_id = %s ORDER BY position
        """,
        (order_id,),
    )
    return [_with_attribution(dict(row)) for row in cursor.fetchall()]


def _with_attribution(row: dict) -> dict:
    """Fold the attribution columns of an item row into `attribution` (None if none)."""
    keys = ("content_id", "creator_id", "commission_rate_bps", "commission")
    values = {key: row.pop(key) for key in keys}
    row["attribution"] = None if values["content_id"] is None else {
        **values, "commission": int(values["commission"]),
    }
    return row


# --- payments -------------------------------------------------------------------------

_PAYMENT_COLUMNS = """
    order_id::text AS order_id, provider, method, status, amount, provider_transaction_id,
    va_number, bank, deeplink, expires_at, paid_at, refund_key, refunded_at, refunded_amount
"""


def insert_payment(cursor, order_id: str, *, provider: str, method: str, amount: int) -> None:
    cursor.execute(
        """
        INSERT INTO payments (order_id, provider, method, amount) VALUES (%s, %s, %s, %s)
        ON CONFLICT (order_id) DO UPDATE
           SET provider = EXCLUDED.provider, method = EXCLUDED.method,
               amount = EXCLUDED.amount, updated_at = now()
        """,
        (order_id, provider, method, amount),
    )


def lock_payment(cursor, order_id: str) -> dict | None:
    cursor.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE order_id = %s FOR UPDATE", (order_id,)
    )
    return cursor.fetchone()


_PAYMENT_UPDATABLE = {
    "status", "provider_transaction_id", "va_number", "bank", "deeplink", "expires_at",
    "paid_at", "refund_key", "refunded_at",
}


def update_payment(cursor, order_id: str, **changes) -> None:
    """Set payment columns; a value of `"now()"` for a timestamp column means the DB clock."""
    assignments, values = set_clause(changes, _PAYMENT_UPDATABLE, "payment")
    cursor.execute(f"UPDATE payments SET {assignments} WHERE order_id = %s",
                   [*values, order_id])


# --- worker selections (each claims one row, skipping rows other workers hold) --------


def claim_overdue_unpaid(cursor) -> dict | None:
    cursor.execute(
        f"""
        SELECT {ORDER_COLUMNS} FROM orders o
         WHERE o.status = 'UNPAID' AND o.placed_at IS NOT NULL AND o.payment_deadline <= now()
           AND o.checkout_id IS NULL  -- a checkout's orders expire with their checkout
         ORDER BY o.payment_deadline
         LIMIT 1 FOR UPDATE SKIP LOCKED
        """
    )
    return cursor.fetchone()


def claim_abandoned_checkout(cursor, older_than_seconds: int) -> dict | None:
    cursor.execute(
        f"""
        SELECT {ORDER_COLUMNS} FROM orders o
         WHERE o.status = 'UNPAID' AND o.placed_at IS NULL
           AND o.created_at <= now() - make_interval(secs => %s)
         ORDER BY o.created_at
         LIMIT 1 FOR UPDATE SKIP LOCKED
        """,
        (older_than_seconds,),
    )
    return cursor.fetchone()


def claim_due_auto_deliver(cursor, after_seconds: int) -> dict | None:
    cursor.execute(
        f"""
        SELECT {ORDER_COLUMNS} FROM orders o
         WHERE o.status = 'IN_TRANSIT' AND o.shipped_at <= now() - make_interval(secs => %s)
         ORDER BY o.shipped_at
         LIMIT 1 FOR UPDATE SKIP LOCKED
        """,
        (after_seconds,),
    )
    return cursor.fetchone()


def claim_due_auto_complete(cursor, after_seconds: int) -> dict | None:
    """A DELIVERED order past the wait, counted from delivery, with no open return."""
    cursor.execute(
        f"""
        SELECT {ORDER_COLUMNS} FROM orders o
         WHERE o.status = 'DELIVERED' AND o.delivered_at <= now() - make_interval(secs => %s)
           AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.order_id = o.id
                            AND r.status NOT IN ('REFUNDED', 'CLOSED', 'CANCELLED'))
           -- A refund the provider has not confirmed yet still sits in escrow: settling
           -- now would pay the shop money that is on its way back to the buyer.
           AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.order_id = o.id
                            AND f.method = 'provider' AND f.status = 'pending')
         ORDER BY o.delivered_at
         LIMIT 1 FOR UPDATE OF o SKIP LOCKED
        """,
        (after_seconds,),
    )
    return cursor.fetchone()


def claim_unreconciled_payment(cursor, older_than_seconds: int) -> str | None:
    """A placed, unpaid order whose payment was not checked at the provider for
    `older_than_seconds` (or ever, once placed that long ago); stamped as checked now.
    Answers the provider's order_id for it: its checkout's id (the order's own id for a
    single-order checkout or an order placed before checkouts)."""
    cursor.execute(
        """
        SELECT p.order_id::text AS order_id,
               coalesce(o.checkout_id, o.id)::text AS provider_order_id
          FROM payments p JOIN orders o ON o.id = p.order_id
         WHERE p.status = 'pending' AND o.status = 'UNPAID' AND o.placed_at IS NOT NULL
           AND coalesce(p.provider_checked_at, o.placed_at)
               <= now() - make_interval(secs => %s)
         ORDER BY p.provider_checked_at NULLS FIRST
         LIMIT 1 FOR UPDATE OF p SKIP LOCKED
        """,
        (older_than_seconds,),
    )
    row = cursor.fetchone()
    if row is None:
        return None
    cursor.execute("UPDATE payments SET provider_checked_at = now() WHERE order_id = %s",
                   (row["order_id"],))
    return row["provider_order_id"]
# --- creators' view: only their own attributed lines -----------------------------------

# Orders whose lines count as sold for a creator: paid and neither cancelled nor expired.
_SOLD_STATUSES = ("AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED", "COMPLETED")


def creator_earnings(cursor, creator_id: str, *, pending_statuses: list[str], limit: int,
                     after_content_id: str | None = None) -> list[dict]:
    """Per content of the creator (content id order, up to limit+1 rows): paid orders,
    units, sales, commission earned (completed orders) and pending (paid, not completed)."""
    cursor.execute(
        """
        SELECT i.content_id, count(DISTINCT i.order_id) AS orders, sum(i.quantity) AS units,
               sum(i.line_total) AS sales,
               coalesce(sum(i.commission) FILTER (WHERE o.status = 'COMPLETED'), 0)
                   AS commission,
               coalesce(sum(i.commission) FILTER (WHERE o.status = ANY(%(pending)s)), 0)
                   AS pending_commission
          FROM order_items i JOIN orders o ON o.id = i.order_id
         WHERE i.creator_id = %(creator)s AND o.placed_at IS NOT NULL
           AND (o.status = ANY(%(sold)s) OR o.status = ANY(%(pending)s))
           AND (%(after)s::text IS NULL OR i.content_id > %(after)s::text)
         GROUP BY i.content_id
         ORDER BY i.content_id
         LIMIT %(limit)s
        """,
        {"creator": creator_id, "pending": pending_statuses, "sold": list(_SOLD_STATUSES),
         "after": after_content_id, "limit": limit},
    )
    return [
        {key: (int(value) if key != "content_id" else value) for key, value in row.items()}
        for row in cursor.fetchall()
    ]


def creator_orders(cursor, creator_id: str, *, limit: int,
                   after: tuple[datetime, str] | None = None) -> list[dict]:
    """Placed orders with a line attributed to the creator, newest first, each with only
    the creator's own lines and none of the buyer's details (up to limit+1 rows)."""
    cursor.execute(
        """
        SELECT o.id::text AS id, o.status, o.created_at, o.completed_at
          FROM orders o
         WHERE o.placed_at IS NOT NULL
           AND EXISTS (SELECT 1 FROM order_items i
                        WHERE i.order_id = o.id AND i.creator_id = %(creator)s)
           AND (%(first)s OR (o.created_at, o.id) < (%(at)s::timestamptz, %(id)s::uuid))
         ORDER BY o.created_at DESC, o.id DESC
         LIMIT %(limit)s
        """,
        {"creator": creator_id, "first": after is None, "at": after[0] if after else None,
         "id": after[1] if after else None, "limit": limit},
    )
    orders = [dict(row) for row in cursor.fetchall()]
    if not orders:
        return orders
    cursor.execute(
        """
        SELECT order_id::text AS order_id, product_id, title, quantity, unit_price, line_total,
               content_id, creator_id, commission_rate_bps, commission
          FROM order_items WHERE order_id = ANY(%s::uuid[]) AND creator_id = %s
         ORDER BY order_id, position
        """,
        ([o["id"] for o in orders], creator_id),
    )
    lines: dict[str, list] = {}
    for row in cursor.fetchall():
        lines.setdefault(row.pop("order_id"), []).append(_with_attribution(dict(row)))
    for order in orders:
        order["items"] = lines.get(order["id"], [])
    return orders
