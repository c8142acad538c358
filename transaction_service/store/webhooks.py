"""Webhook endpoints, events, deliveries and attempts (SQL only; rules in domain/webhooks).

`record_event` is the one way a state change announces itself: call it with the cursor of
the transaction that makes the change, so the event exists exactly when the change does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ..domain import webhooks as rules
from .assignments import set_clause

Owner = tuple[str, str]  # (owner_kind, owner_id)

_ENDPOINT_COLUMNS = """
    e.id::text AS id, e.owner_kind, e.owner_id, e.created_by, e.url, e.events, e.description,
    e.disabled, e.disabled_reason, e.disabled_at, e.failing_since, e.created_at, e.updated_at,
    e.previous_secret_expires_at
"""
# Two-int advisory key space: (class, hashtext(owner)); never the migration runner's key.
_OWNER_LOCK_CLASS = 0x57484F4B & 0x7FFFFFFF  # "WHOK"


# --- events ---------------------------------------------------------------------------------


def record_event(cursor, event_type: str, data: dict | Callable[[], dict], *,
                 shop_id: str | None = None, creator_id: str | None = None) -> str | None:
    """Write the event and one pending delivery per enabled endpoint subscribed to it:
    the shop's (`shop_id`), the creator's (`creator_id`) and every admin's. `data` (the
    resource as its GET shows that owner) may be a callable, built only when some endpoint
    listens. Returns the event id (the `webhook-id`), or None when nobody listens."""
    cursor.execute(
        """
        SELECT e.id::text AS id FROM webhook_endpoints e
         WHERE NOT e.disabled
           AND (e.events @> ARRAY[%(type)s]::text[] OR e.events @> ARRAY['*']::text[])
           AND (e.owner_kind = 'admin'
                OR (e.owner_kind = 'shop' AND e.owner_id = %(shop)s)
                OR (e.owner_kind = 'creator' AND e.owner_id = %(creator)s))
           -- What the deliveries' foreign key takes anyway, taken now: an endpoint being
           -- deleted meanwhile is skipped instead of failing the caller's transaction.
           FOR KEY SHARE OF e
        """,
        {"type": event_type, "shop": shop_id, "creator": creator_id},
    )
    endpoint_ids = [row["id"] for row in cursor.fetchall()]
    if not endpoint_ids:
        return None
    payload = data() if callable(data) else data
    event_id = _insert_event(cursor, event_type, payload, shop_id=shop_id, creator_id=creator_id)
    cursor.execute(
        """
        INSERT INTO webhook_deliveries (event_id, endpoint_id)
        SELECT %s, unnest(%s::uuid[])
        """,
        (event_id, endpoint_ids),
    )
    return event_id


def record_test_event(cursor, endpoint_id: str, data: dict) -> tuple[str, str]:
    """A `webhook.test` event for one endpoint; returns (event id, delivery id)."""
    event_id = _insert_event(cursor, rules.TEST_EVENT, data, endpoint_id=endpoint_id)
    cursor.execute(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id) VALUES (%s, %s) "
        "RETURNING id::text AS id",
        (event_id, endpoint_id),
    )
    return event_id, cursor.fetchone()["id"]


def _insert_event(cursor, event_type: str, data: dict, *, shop_id=None, creator_id=None,
                  endpoint_id=None) -> str:
    now = datetime.now(UTC)
    cursor.execute(
        """
        INSERT INTO webhook_events (type, shop_id, creator_id, endpoint_id, body, created_at)
        VALUES (%s, %s, %s, %s, %s, %s) RETURNING id
        """,
        (event_type, shop_id, creator_id, endpoint_id, rules.event_body(event_type, now, data),
         now),
    )
    return cursor.fetchone()["id"]


def count_tests_since(cursor, endpoint_id: str, seconds: int) -> int:
    cursor.execute(
        """
        SELECT count(*) AS n FROM webhook_events
         WHERE endpoint_id = %s AND created_at > now() - make_interval(secs => %s)
        """,
        (endpoint_id, seconds),
    )
    return int(cursor.fetchone()["n"])


# --- endpoints ------------------------------------------------------------------------------


def lock_owner(cursor, owner: Owner) -> None:
    """Serialise an owner's registrations and test sends (the rate limits count rows)."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                   (_OWNER_LOCK_CLASS, f"{owner[0]}:{owner[1]}"))


def count_registrations_since(cursor, owner: Owner, seconds: int) -> int:
    cursor.execute(
        """
        SELECT count(*) AS n FROM webhook_registrations
         WHERE owner_kind = %s AND owner_id = %s
           AND created_at > now() - make_interval(secs => %s)
        """,
        (*owner, seconds),
    )
    return int(cursor.fetchone()["n"])


def count_endpoints(cursor, owner: Owner) -> int:
    cursor.execute(
        "SELECT count(*) AS n FROM webhook_endpoints WHERE owner_kind = %s AND owner_id = %s",
        owner,
    )
    return int(cursor.fetchone()["n"])


def insert_endpoint(cursor, owner: Owner, *, created_by: str, url: str, events: list[str],
                    description: str, secret_encrypted: str) -> dict:
    cursor.execute(
        "INSERT INTO webhook_registrations (owner_kind, owner_id) VALUES (%s, %s)", owner
    )
    cursor.execute(
        """
        INSERT INTO webhook_endpoints
            (owner_kind, owner_id, created_by, url, events, description, secret_encrypted)
        VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id::text AS id
        """,
        (*owner, created_by, url, events, description, secret_encrypted),
    )
    return get_endpoint(cursor, owner, cursor.fetchone()["id"])


def get_endpoint(cursor, owner: Owner, endpoint_id: str, *, lock: bool = False) -> dict | None:
    """The owner's endpoint, or None (another owner's endpoint is not theirs to see)."""
    cursor.execute(
        f"""
        SELECT {_ENDPOINT_COLUMNS}, e.secret_encrypted, e.previous_secret_encrypted
          FROM webhook_endpoints e
         WHERE e.id = %s AND e.owner_kind = %s AND e.owner_id = %s
         {"FOR UPDATE" if lock else ""}
        """,
        (endpoint_id, *owner),
    )
    return cursor.fetchone()


def list_endpoints(cursor, owner: Owner, *, limit: int,
                   after: tuple[datetime, str] | None = None) -> list[dict]:
    """Newest first; up to limit+1 rows."""
    cursor.execute(
        f"""
        SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints e
         WHERE e.owner_kind = %(kind)s AND e.owner_id = %(owner)s
           AND (%(first)s OR (e.created_at, e.id) < (%(at)s::timestamptz, %(id)s::uuid))
         ORDER BY e.created_at DESC, e.id DESC
         LIMIT %(limit)s
        """,
        {"kind": owner[0], "owner": owner[1], "first": after is None,
         "at": after[0] if after else None, "id": after[1] if after else None,
         "limit": limit + 1},
    )
    return cursor.fetchall()


_UPDATABLE = {"url", "events", "description", "disabled", "disabled_reason", "disabled_at",
              "failing_since", "secret_encrypted", "previous_secret_encrypted",
              "previous_secret_expires_at"}


def update_endpoint(cursor, endpoint_id: str, **changes) -> None:
    """Set columns; the value `"now()"` means the database clock."""
    assignments, values = set_clause(changes, _UPDATABLE, "endpoint")
    cursor.execute(f"UPDATE webhook_endpoints SET {assignments} WHERE id = %s",
                   [*values, endpoint_id])


def delete_endpoint(cursor, endpoint_id: str) -> None:
    cursor.execute("DELETE FROM webhook_endpoints WHERE id = %s", (endpoint_id,))


# --- deliveries -----------------------------------------------------------------------------

_DELIVERY_COLUMNS = """
    d.id::text AS id, d.event_id, d.endpoint_id::text AS endpoint_id, ev.type AS event_type,
    d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.delivered_at, d.created_at
"""


def list_deliveries(cursor, endpoint_id: str, *, limit: int,
                    after: tuple[datetime, str] | None = None) -> list[dict]:
    """Newest first with their attempts; up to limit+1 rows."""
    cursor.execute(
        f"""
        SELECT {_DELIVERY_COLUMNS}
          FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
         WHERE d.endpoint_id = %(endpoint)s
           AND (%(first)s OR (d.created_at, d.id) < (%(at)s::timestamptz, %(id)s::uuid))
         ORDER BY d.created_at DESC, d.id DESC
         LIMIT %(limit)s
        """,
        {"endpoint": endpoint_id, "first": after is None, "at": after[0] if after else None,
         "id": after[1] if after else None, "limit": limit + 1},
    )
    deliveries = cursor.fetchall()
    if deliveries:
        cursor.execute(
            """
            SELECT delivery_id::text AS delivery_id, attempted_at, status_code, duration_ms,
                   error, response_body
              FROM webhook_attempts WHERE delivery_id = ANY(%s::uuid[]) ORDER BY id
            """,
            ([d["id"] for d in deliveries],),
        )
        attempts: dict[str, list] = {}
        for row in cursor.fetchall():
            attempts.setdefault(row.pop("delivery_id"), []).append(row)
        for delivery in deliveries:
            delivery["attempt_log"] = attempts.get(delivery["id"], [])
    return deliveries


def lock_delivery_of_owner(cursor, owner: Owner, delivery_id: str) -> dict | None:
    cursor.execute(
        f"""
        SELECT {_DELIVERY_COLUMNS}
          FROM webhook_deliveries d
          JOIN webhook_events ev ON ev.id = d.event_id
          JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.id = %s AND e.owner_kind = %s AND e.owner_id = %s
         FOR UPDATE OF d
        """,
        (delivery_id, *owner),
    )
    return cursor.fetchone()


def requeue_delivery(cursor, delivery_id: str) -> None:
    """Attempt again now (a manual retry; the schedule restarts for it)."""
    cursor.execute(
        """
        UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), attempts = 0
         WHERE id = %s
        """,
        (delivery_id,),
    )


def get_delivery(cursor, delivery_id: str) -> dict | None:
    cursor.execute(
        f"""
        SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d
          JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = %s
        """,
        (delivery_id,),
    )
    row = cursor.fetchone()
    if row is not None:
        cursor.execute(
            """
            SELECT attempted_at, status_code, duration_ms, error, response_body
              FROM webhook_attempts WHERE delivery_id = %s ORDER BY id
            """,
            (delivery_id,),
        )
        row["attempt_log"] = cursor.fetchall()
    return row


# --- the dispatcher -------------------------------------------------------------------------


def claim_due(cursor) -> dict | None:
    """One due delivery of an enabled endpoint, locked until this transaction ends: other
    dispatchers skip it, so a delivery is never sent by two at once."""
    cursor.execute(
        """
        SELECT d.id::text AS id, d.event_id, d.attempts, d.endpoint_id::text AS endpoint_id,
               e.url, e.secret_encrypted, e.previous_secret_encrypted,
               e.previous_secret_expires_at, e.failing_since, ev.body, ev.type AS event_type
          FROM webhook_deliveries d
          JOIN webhook_endpoints e ON e.id = d.endpoint_id
          JOIN webhook_events ev ON ev.id = d.event_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND NOT e.disabled
         ORDER BY d.next_attempt_at
         LIMIT 1
         FOR UPDATE OF d SKIP LOCKED
        """
    )
    return cursor.fetchone()


def record_attempt(cursor, delivery_id: str, *, status_code: int | None, duration_ms: int,
                   error: str | None, response_body: str | None) -> None:
    cursor.execute(
        """
        INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms, error, response_body)
        VALUES (%s, %s, %s, %s, %s)
        """,
        (delivery_id, status_code, duration_ms, error, response_body),
    )


def finish_attempt(cursor, delivery_id: str, *, delivered: bool,
                   retry_in_seconds: float | None) -> None:
    """After an attempt: delivered, retried after a delay, or failed for good."""
    if delivered:
        status, delay = "delivered", 0.0
    elif retry_in_seconds is None:
        status, delay = "failed", 0.0
    else:
        status, delay = "pending", retry_in_seconds
    cursor.execute(
        """
        UPDATE webhook_deliveries
           SET status = %s, attempts = attempts + 1, last_attempt_at = now(),
               delivered_at = CASE WHEN %s THEN now() ELSE delivered_at END,
               next_attempt_at = now() + make_interval(secs => %s)
         WHERE id = %s
        """,
        (status, delivered, delay, delivery_id),
    )


def endpoint_succeeded(cursor, endpoint_id: str) -> None:
    cursor.execute(
        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = %s "
        "AND failing_since IS NOT NULL",
        (endpoint_id,),
    )


def endpoint_failed(cursor, endpoint_id: str) -> tuple[datetime | None, bool]:
    """Note a failed attempt; returns (since when the endpoint has failed everything,
    whether it is disabled already). A deleted endpoint gives (None, True)."""
    cursor.execute(
        """
        UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, now())
         WHERE id = %s RETURNING failing_since, disabled
        """,
        (endpoint_id,),
    )
    row = cursor.fetchone()
    return (row["failing_since"], row["disabled"]) if row else (None, True)


def db_now(cursor) -> datetime:
    cursor.execute("SELECT now() AS now")
    return cursor.fetchone()["now"]
