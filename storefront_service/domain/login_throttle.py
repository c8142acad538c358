"""How long an account must wait after failed logins (OWASP: throttle per account).

The first FREE_FAILURES failures in a row cost nothing (typos); each further one doubles
the wait, up to MAX_DELAY_SECONDS. A successful login resets the count. Waiting attempts
are refused before any password hashing, so a guessing run against one account costs
the showcase almost nothing.
"""

from __future__ import annotations

FREE_FAILURES = 5
MAX_DELAY_SECONDS = 900


def delay_after(failures: int) -> int:
    """Seconds to wait after `failures` failed logins in a row."""
    if failures < FREE_FAILURES:
        return 0
    return min(2 ** (failures - FREE_FAILURES), MAX_DELAY_SECONDS)


def email_key(email: str) -> str:
    return email.strip().lower()[:254]
