"""The transactional outbox: rows written with the state change, relayed later."""

from __future__ import annotations

from psycopg2.extras import Json

# Kinds the relay knows how to deliver.
RESERVATION_COMMIT = "reservation_commit"
RESERVATION_RELEASE = "reservation_release"
# Give the stock back whether or not the reservation was committed meanwhile
# (release, or restock when the showcase says it is already committed).
RESERVATION_RETURN = "reservation_return"
PROVIDER_CANCEL = "provider_cancel"
PROVIDER_REFUND = "provider_refund"
# Put exactly the units a return brought back on the shelf (keyed on the return).
RETURN_RESTOCK = "return_restock"
KINDS = frozenset(
    {RESERVATION_COMMIT, RESERVATION_RELEASE, RESERVATION_RETURN, PROVIDER_CANCEL, PROVIDER_REFUND,
     RETURN_RESTOCK}
)


def enqueue(cursor, kind: str, payload: dict, *, order_id: str | None = None) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind}")
    cursor.execute(
        "INSERT INTO outbox (kind, order_id, payload) VALUES (%s, %s, %s) RETURNING id",
        (kind, order_id, Json(payload)),
    )
    return cursor.fetchone()["id"]


def supersede_pending(cursor, order_id: str, kind: str, reason: str) -> int:
    """Mark undelivered rows of a kind as no longer needed; returns how many.

    Blocks on a row the relay is delivering right now, so after this returns the row was
    either delivered or will never be."""
    cursor.execute(
        """
        UPDATE outbox SET processed_at = now(), outcome = 'superseded', last_error = %s
         WHERE order_id = %s AND kind = %s AND processed_at IS NULL
        """,
        (reason, order_id, kind),
    )
    return cursor.rowcount


def claim_next(cursor) -> dict | None:
    """One due row, locked for this transaction; other relays skip it."""
    cursor.execute(
        """
        SELECT id, kind, order_id::text AS order_id, payload, attempts, created_at
          FROM outbox
         WHERE processed_at IS NULL AND next_attempt_at <= now()
         ORDER BY next_attempt_at, id
         LIMIT 1 FOR UPDATE SKIP LOCKED
        """
    )
    return cursor.fetchone()


def mark_done(cursor, row_id: int, outcome: str = "done", note: str | None = None) -> None:
    cursor.execute(
        """
        UPDATE outbox SET processed_at = now(), outcome = %s, attempts = attempts + 1,
               last_error = COALESCE(%s, last_error)
         WHERE id = %s
        """,
        (outcome, note, row_id),
    )


def schedule_retry(cursor, row_id: int, delay_seconds: float, error: str) -> None:
    cursor.execute(
        """
        UPDATE outbox SET attempts = attempts + 1, last_error = %s,
               next_attempt_at = now() + make_interval(secs => %s)
         WHERE id = %s
        """,
        (error[:2000], delay_seconds, row_id),
    )


def for_order(cursor, order_id: str) -> list[dict]:
    cursor.execute(
        """
        SELECT id, kind, payload, attempts, processed_at, outcome, last_error
          FROM outbox WHERE order_id = %s ORDER BY id
        """,
        (order_id,),
    )
    return cursor.fetchall()


def supersede_refund(cursor, refund_id: str, reason: str) -> int:
    """Mark the undelivered provider call of one refund as no longer needed."""
    cursor.execute(
        """
        UPDATE outbox SET processed_at = now(), outcome = 'superseded', last_error = %s
         WHERE kind = %s AND payload->>'refund_id' = %s AND processed_at IS NULL
        """,
        (reason, PROVIDER_REFUND, refund_id),
    )
    return cursor.rowcount
