"""Idempotency keys in the database (Stripe semantics).

`claim` runs in its own committed transaction so that exactly one request wins a key
(INSERT ... ON CONFLICT DO NOTHING decides); the winner runs the operation and `complete`
stores its response; a loser sees the stored response, a different request (422) or a key
still in progress (409). A holder that crashed leaves an `in_progress` row whose lock can
be retaken after `lock_timeout_seconds`.

An operation that creates something (the checkout's order) records it on the key with
`record_order` in the same transaction that creates it. From then on the key's outcome is
known even if its response never gets stored: `claim` answers RECOVER with the order, and
`release` no longer forgets the key, so the key can never run a second time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from servicekit.db import Database

NEW = "new"
REPLAY = "replay"
MISMATCH = "mismatch"
IN_PROGRESS = "in_progress"
RECOVER = "recover"  # the first attempt created `order_id` but its response was not stored


@dataclass(frozen=True)
class Claim:
    outcome: str
    lock_token: str | None = None
    status: int | None = None
    body: str | None = None
    content_type: str | None = None
    order_id: str | None = None


@dataclass(frozen=True)
class Hold:
    """The key a running request holds: what `record_order` needs to tie its result to it."""

    account_id: str
    key: str
    lock_token: str


def claim(
    database: Database,
    *,
    account_id: str,
    key: str,
    request_hash: str,
    method: str,
    path: str,
    lock_timeout_seconds: int = 60,
) -> Claim:
    token = str(uuid.uuid4())
    with database.transaction() as cursor:
        cursor.execute(
            """
            INSERT INTO idempotency_keys
                (account_id, key, request_hash, method, path, state, lock_token)
            VALUES (%s, %s, %s, %s, %s, 'in_progress', %s)
            ON CONFLICT (account_id, key) DO NOTHING
            RETURNING lock_token
            """,
            (account_id, key, request_hash, method, path, token),
        )
        if cursor.fetchone():
            return Claim(NEW, lock_token=token)
        cursor.execute(
            """
            SELECT request_hash, state, response_status, response_body, response_content_type,
                   order_id::text, locked_at <= now() - make_interval(secs => %s) AS stale
              FROM idempotency_keys WHERE account_id = %s AND key = %s
            """,
            (lock_timeout_seconds, account_id, key),
        )
        row = cursor.fetchone()
        if row is None:
            # Deleted between our insert and select (released or purged): the caller may
            # simply try again.
            return Claim(IN_PROGRESS)
        if row["request_hash"] != request_hash:
            return Claim(MISMATCH)
        if row["state"] == "completed":
            return Claim(
                REPLAY,
                status=row["response_status"],
                body=row["response_body"],
                content_type=row["response_content_type"],
            )
        if row["order_id"] is not None:
            # The first attempt placed its order and then lost its response: the outcome is
            # known, so answer with it now (the new token lets this request store it).
            cursor.execute(
                "UPDATE idempotency_keys SET lock_token = %s, locked_at = now() "
                "WHERE account_id = %s AND key = %s AND state = 'in_progress'",
                (token, account_id, key),
            )
            return Claim(RECOVER, lock_token=token, order_id=row["order_id"])
        if not row["stale"]:
            return Claim(IN_PROGRESS)
        # The holder crashed (or is hopelessly slow): take the lock over. The conditional
        # update lets only one of several concurrent retakers win.
        cursor.execute(
            """
            UPDATE idempotency_keys SET lock_token = %s, locked_at = now()
             WHERE account_id = %s AND key = %s AND state = 'in_progress'
               AND locked_at <= now() - make_interval(secs => %s)
            RETURNING lock_token
            """,
            (token, account_id, key, lock_timeout_seconds),
        )
        if cursor.fetchone():
            return Claim(NEW, lock_token=token)
        return Claim(IN_PROGRESS)


def complete(
    database: Database,
    *,
    account_id: str,
    key: str,
    lock_token: str,
    status: int,
    body: str,
    content_type: str,
) -> bool:
    with database.transaction() as cursor:
        cursor.execute(
            """
            UPDATE idempotency_keys
               SET state = 'completed', response_status = %s, response_body = %s,
                   response_content_type = %s, completed_at = now()
             WHERE account_id = %s AND key = %s AND lock_token = %s AND state = 'in_progress'
            """,
            (status, body, content_type, account_id, key, lock_token),
        )
        return cursor.rowcount == 1


def record_order(cursor, hold: Hold, order_id: str) -> bool:
    """Tie `order_id` to the held key, inside the transaction that creates the order.
    False when the key is no longer ours (its lock was retaken): the caller must then
    roll back, so that a key never places two orders."""
    cursor.execute(
        """
        UPDATE idempotency_keys SET order_id = %s
         WHERE account_id = %s AND key = %s AND lock_token = %s AND state = 'in_progress'
           AND order_id IS NULL
        """,
        (order_id, hold.account_id, hold.key, hold.lock_token),
    )
    return cursor.rowcount == 1


def release(database: Database, *, account_id: str, key: str, lock_token: str) -> None:
    """Forget a key whose request did not run to a result worth replaying (validation
    failure, 5xx), so the client can retry with the same key. A key that recorded an
    order is never forgotten (its commit may have succeeded although the caller saw an
    error)."""
    with database.transaction() as cursor:
        cursor.execute(
            """
            DELETE FROM idempotency_keys
             WHERE account_id = %s AND key = %s AND lock_token = %s AND state = 'in_progress'
               AND order_id IS NULL
            """,
            (account_id, key, lock_token),
        )


def purge_older_than(database: Database, seconds: int) -> int:
    with database.transaction() as cursor:
        cursor.execute(
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => %s)",
            (seconds,),
        )
        return cursor.rowcount
