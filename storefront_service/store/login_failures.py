"""Failed logins per account (see domain/login_throttle.py for the rule)."""

from __future__ import annotations

import math

from servicekit.db import Database

from ..domain.login_throttle import delay_after


def seconds_blocked(db: Database, email_key: str) -> int:
    """Seconds until this account may try again (0: now)."""
    with db.transaction() as cur:
        cur.execute(
            "SELECT extract(epoch FROM blocked_until - now()) AS left FROM login_failures "
            "WHERE email_key = %s AND blocked_until > now()",
            (email_key,),
        )
        row = cur.fetchone()
    return max(1, math.ceil(row["left"])) if row else 0


def record_failure(db: Database, email_key: str) -> int:
    """Count a failure; returns the seconds the account must now wait."""
    with db.transaction() as cur:
        cur.execute(
            """
            INSERT INTO login_failures AS f (email_key, failures) VALUES (%s, 1)
            ON CONFLICT (email_key) DO UPDATE
               SET failures = f.failures + 1, last_failed_at = now()
            RETURNING failures
            """,
            (email_key,),
        )
        delay = delay_after(cur.fetchone()["failures"])
        if delay:
            cur.execute(
                "UPDATE login_failures SET blocked_until = now() + make_interval(secs => %s) "
                "WHERE email_key = %s",
                (delay, email_key),
            )
    return delay


def reset(db: Database, email_key: str) -> None:
    with db.transaction() as cur:
        cur.execute("DELETE FROM login_failures WHERE email_key = %s", (email_key,))
