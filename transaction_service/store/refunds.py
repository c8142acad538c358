"""Refunds of payments (SQL only; the rules live in operations/refunds.py and the
database's own checks in migration 0004: Σ refunds <= paid, per payment and per order)."""
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from .assignments import set_clause

_COLUMNS = """
    r.id::text AS id, r.payment_id::text AS payment_id, r.order_id::text AS order_id,
    r.return_id::text AS return_id, r.refund_key, r.amount, r.currency, r.reason, r.method,
    r.status, r.requested_by, r.provider_refund_id, r.destination_bank,
    r.destination_account_number, r.destination_account_name, r.account_given_at,
    r.transfer_reference, r.completed_by, r.created_at, r.updated_at, r.succeeded_at
"""

# A refund whose money has left escrow (see store/invariants.POSTED_REFUND).
_POSTED = ("(r.method = 'provider' AND r.status = 'succeeded') "
           "OR (r.method = 'manual' AND r.status <> 'failed')")

OPEN_MANUAL = ("awaiting_account", "awaiting_transfer")

_UPDATABLE = {
    "status", "method", "provider_refund_id", "destination_bank",
    "destination_account_number", "destination_account_name", "account_given_at",
    "transfer_reference", "completed_by", "succeeded_at",
}


def insert(cursor, *, payment_id: str, order_id: str, refund_key: str, amount: int,
           reason: str, method: str, status: str, requested_by: str | None,
           return_id: str | None = None) -> dict:
    cursor.execute(
        f"""
        INSERT INTO refunds AS r (payment_id, order_id, return_id, refund_key, amount, reason,
                                  method, status, requested_by)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING {_COLUMNS}
        """,
        (payment_id, order_id, return_id, refund_key, amount, reason, method, status,
         requested_by),
    )
    return cursor.fetchone()


def find_by_key(cursor, refund_key: str) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM refunds r WHERE r.refund_key = %s", (refund_key,))
    return cursor.fetchone()


def lock(cursor, refund_id: str) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM refunds r WHERE r.id = %s FOR UPDATE",
                   (refund_id,))
    return cursor.fetchone()


def lock_by_key(cursor, refund_key: str) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM refunds r WHERE r.refund_key = %s FOR UPDATE",
                   (refund_key,))
    return cursor.fetchone()


def update(cursor, refund_id: str, **changes) -> dict:
    """Set refund columns; a value of `"now()"` for a timestamp column means the DB clock."""
    assignments, values = set_clause(changes, _UPDATABLE, "refund")
    cursor.execute(
        f"UPDATE refunds r SET {assignments} WHERE r.id = %s RETURNING {_COLUMNS}",
        [*values, refund_id],
    )
    return cursor.fetchone()


def for_orders(cursor, order_ids: list[str]) -> dict[str, list[dict]]:
    """Each order's refunds, oldest first."""
    if not order_ids:
        return {}
    cursor.execute(
        f"""
        SELECT {_COLUMNS} FROM refunds r WHERE r.order_id = ANY(%s::uuid[])
         ORDER BY r.order_id, r.created_at, r.id
        """,
        (list(order_ids),),
    )
    result: dict[str, list[dict]] = {}
    for row in cursor.fetchall():
        result.setdefault(row["order_id"], []).append(row)
    return result


def for_payment(cursor, payment_id: str) -> list[dict]:
    cursor.execute(
        f"SELECT {_COLUMNS} FROM refunds r WHERE r.payment_id = %s ORDER BY r.created_at, r.id",
        (payment_id,),
    )
    return cursor.fetchall()


def requested_total(cursor, order_id: str) -> int:
    """What the order's refunds take (requested or made, not failed)."""
    cursor.execute(
        "SELECT coalesce(sum(amount), 0) AS total FROM refunds "
        "WHERE order_id = %s AND status <> 'failed'",
        (order_id,),
    )
    return int(cursor.fetchone()["total"])


def posted_total(cursor, order_id: str) -> int:
    """What the order's refunds released from escrow."""
    cursor.execute(
        f"SELECT coalesce(sum(r.amount), 0) AS total FROM refunds r "
        f"WHERE r.order_id = %s AND ({_POSTED})",
        (order_id,),
    )
    return int(cursor.fetchone()["total"])


def pending_provider_total(cursor, order_id: str) -> int:
    """What the order's provider refunds still awaiting the provider will take from escrow."""
    cursor.execute(
        "SELECT coalesce(sum(amount), 0) AS total FROM refunds "
        "WHERE order_id = %s AND method = 'provider' AND status = 'pending'",
        (order_id,),
    )
    return int(cursor.fetchone()["total"])


def list_manual(cursor, *, statuses: tuple[str, ...], after: tuple[datetime, str] | None,
                limit: int) -> list[dict]:
    """Manual refunds newest first, keyset-paginated on (created_at, id); limit+1 rows."""
    conditions = ["r.method = 'manual'", "r.status = ANY(%s)"]
    values: list = [list(statuses)]
    if after is not None:
        conditions.append("(r.created_at, r.id) < (%s::timestamptz, %s::uuid)")
        values.extend(after)
    values.append(limit + 1)
    cursor.execute(
        f"""
        SELECT {_COLUMNS} FROM refunds r WHERE {' AND '.join(conditions)}
         ORDER BY r.created_at DESC, r.id DESC LIMIT %s
        """,
        values,
    )
    return cursor.fetchall()
