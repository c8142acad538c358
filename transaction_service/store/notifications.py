"""Provider notifications: stored once each; the UNIQUE constraint is the dedup."""

from __future__ import annotations

from psycopg2.extras import Json


def record(
    cursor,
    *,
    provider: str,
    transaction_id: str,
    transaction_status: str,
    order_id: str | None,
    status_code: str,
    gross_amount: int,
    payment_type: str | None,
    fraud_status: str | None,
    outcome: str,
    body: dict,
    refund_amount: int = 0,
    checkout_id: str | None = None,
) -> int | None:
    """The new row's id, or None when this (provider, transaction, status, refund total)
    was seen before (each further refund is a new notification of the same status)."""
    cursor.execute(
        """
        INSERT INTO payment_notifications
            (provider, transaction_id, transaction_status, order_id, status_code,
             gross_amount, payment_type, fraud_status, outcome, body, refund_amount,
             checkout_id)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (provider, transaction_id, transaction_status, refund_amount) DO NOTHING
        RETURNING id
        """,
        (provider, transaction_id, transaction_status, order_id, status_code, gross_amount,
         payment_type, fraud_status, outcome, Json(body), refund_amount, checkout_id),
    )
    row = cursor.fetchone()
    return row["id"] if row else None


def set_outcome(cursor, notification_id: int, outcome: str) -> None:
    cursor.execute(
        "UPDATE payment_notifications SET outcome = %s WHERE id = %s", (outcome, notification_id)
    )


def for_order(cursor, order_id: str) -> list[dict]:
    cursor.execute(
        """
        SELECT id, provider, transaction_id, transaction_status, status_code, gross_amount,
               outcome, received_at
          FROM payment_notifications WHERE order_id = %s ORDER BY id
        """,
        (order_id,),
    )
    return cursor.fetchall()
