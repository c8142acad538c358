"""Queries over one open connection (the caller owns the transaction)."""

from __future__ import annotations

import json
import sqlite3
import uuid

Row = sqlite3.Row


# Transactions ---------------------------------------------------------------------------


def find_transaction(conn: sqlite3.Connection, ref: str) -> Row | None:
    """By order id, or by transaction id (Midtrans accepts either in the path)."""
    row = conn.execute("SELECT * FROM transactions WHERE order_id = ?", (ref,)).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT * FROM transactions WHERE transaction_id = ?", (ref,)
        ).fetchone()
    return row


def insert_transaction(conn: sqlite3.Connection, values: dict) -> Row:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.execute(
        f"INSERT INTO transactions ({columns}) VALUES ({marks})",  # noqa: S608 - fixed keys
        tuple(values.values()),
    )
    return find_transaction(conn, values["order_id"])


def update_status(conn: sqlite3.Connection, transaction_id: str, *, from_status: str,
                  to_status: str, now: float, settled: bool = False,
                  refunded_amount: int | None = None) -> Row | None:
    """Compare-and-set the status; None when the row was not in `from_status`."""
    sets = ["status = ?", "updated_at = ?"]
    params: list = [to_status, now]
    if settled:
        sets.append("settled_at = ?")
        params.append(now)
    if refunded_amount is not None:
        sets.append("refunded_amount = ?")
        params.append(refunded_amount)
    params += [transaction_id, from_status]
    return conn.execute(
        f"UPDATE transactions SET {', '.join(sets)} "  # noqa: S608 - fixed fragments
        "WHERE transaction_id = ? AND status = ? RETURNING *",
        params,
    ).fetchone()


def due_expiries(conn: sqlite3.Connection, now: float, limit: int = 100) -> list[Row]:
    return conn.execute(
        "SELECT * FROM transactions WHERE status = 'pending' AND expiry_at <= ? "
        "ORDER BY expiry_at LIMIT ?",
        (now, limit),
    ).fetchall()


# Refunds --------------------------------------------------------------------------------


def find_refund(conn: sqlite3.Connection, transaction_id: str, refund_key: str) -> Row | None:
    return conn.execute(
        "SELECT * FROM refunds WHERE transaction_id = ? AND refund_key = ?",
        (transaction_id, refund_key),
    ).fetchone()


def list_refunds(conn: sqlite3.Connection, transaction_id: str) -> list[Row]:
    return conn.execute(
        "SELECT * FROM refunds WHERE transaction_id = ? ORDER BY id", (transaction_id,)
    ).fetchall()


def insert_refund(conn: sqlite3.Connection, *, transaction_id: str, refund_key: str,
                  amount: int, reason: str, now: float) -> int:
    cursor = conn.execute(
        "INSERT INTO refunds (transaction_id, refund_key, amount, reason, response, created_at)"
        " VALUES (?, ?, ?, ?, '{}', ?)",
        (transaction_id, refund_key, amount, reason, now),
    )
    return int(cursor.lastrowid)


def store_refund_response(conn: sqlite3.Connection, refund_id: int, response: dict) -> None:
    conn.execute(
        "UPDATE refunds SET response = ? WHERE id = ?", (json.dumps(response), refund_id)
    )


# Deliveries -----------------------------------------------------------------------------


def enqueue_delivery(conn: sqlite3.Connection, *, payload: dict, kind: str, now: float,
                     after_id: int | None = None, resend_of: int | None = None) -> int:
    cursor = conn.execute(
        "INSERT INTO deliveries (order_id, transaction_id, transaction_status, payload,"
        " request_id, kind, after_id, resend_of, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            payload["order_id"],
            payload["transaction_id"],
            payload["transaction_status"],
            json.dumps(payload),
            uuid.uuid4().hex,
            kind,
            after_id,
            resend_of,
            now,
            now,
        ),
    )
    return int(cursor.lastrowid)


def deliveries_for_order(conn: sqlite3.Connection, order_id: str) -> list[Row]:
    return conn.execute(
        "SELECT * FROM deliveries WHERE order_id = ? ORDER BY id", (order_id,)
    ).fetchall()


def attempts_for_deliveries(conn: sqlite3.Connection, ids: list[int]) -> list[Row]:
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    return conn.execute(
        f"SELECT * FROM delivery_attempts WHERE delivery_id IN ({marks})"  # noqa: S608
        " ORDER BY delivery_id, attempt",
        ids,
    ).fetchall()


def claim_next_delivery(conn: sqlite3.Connection, *, notifier: str, now: float,
                        lease_until: float) -> Row | None:
    """Atomically take the oldest due delivery (or one whose claimant's lease ran out).

    A delivery with `after_id` waits until that delivery is delivered or failed; none is
    taken while another delivery of its order is being sent (concurrent notifiers keep
    one order's notifications in sequence).
    """
    return conn.execute(
        """
        UPDATE deliveries
           SET state = 'sending', claimed_by = ?, claimed_until = ?, attempts = attempts + 1
         WHERE id = (
            SELECT d.id FROM deliveries d
             WHERE ((d.state = 'queued' AND d.next_attempt_at <= ?)
                    OR (d.state = 'sending' AND d.claimed_until < ?))
               AND (d.after_id IS NULL OR EXISTS (
                        SELECT 1 FROM deliveries p
                         WHERE p.id = d.after_id AND p.state IN ('delivered', 'failed')))
               AND NOT EXISTS (
                        SELECT 1 FROM deliveries o
                         WHERE o.order_id = d.order_id AND o.id <> d.id
                           AND o.state = 'sending' AND o.claimed_until >= ?)
             ORDER BY d.id
             LIMIT 1)
        RETURNING *
        """,
        (notifier, lease_until, now, now, now),
    ).fetchone()


def finish_delivery(conn: sqlite3.Connection, *, delivery_id: int, notifier: str,
                    state: str, next_attempt_at: float | None, response_status: int | None,
                    error: str | None, now: float) -> bool:
    """Record the outcome if this notifier still holds the claim (fencing)."""
    cursor = conn.execute(
        """
        UPDATE deliveries
           SET state = ?, next_attempt_at = COALESCE(?, next_attempt_at),
               last_response_status = ?, last_error = ?,
               delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END,
               claimed_by = NULL, claimed_until = NULL
         WHERE id = ? AND claimed_by = ? AND state = 'sending'
        """,
        (state, next_attempt_at, response_status, error, state, now, delivery_id, notifier),
    )
    return cursor.rowcount == 1


def record_attempt(conn: sqlite3.Connection, *, delivery_id: int, attempt: int, notifier: str,
                   started_at: float, duration_ms: float, response_status: int | None,
                   error: str | None) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO delivery_attempts (delivery_id, attempt, notifier, started_at,"
        " duration_ms, response_status, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (delivery_id, attempt, notifier, started_at, duration_ms, response_status, error),
    )
