"""Outbound HTTP with explicit timeouts and bounded retries.

Retries apply only to idempotent methods unless a caller opts in for a request it knows is
idempotent (for example a POST carrying an idempotency key the other side honours).
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_TIMEOUT = (2.0, 5.0)  # (connect, read) seconds


def make_session(
    *,
    retries: int = 2,
    backoff_factor: float = 0.2,
    retry_methods: frozenset[str] = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
    pool_maxsize: int = 20,
) -> requests.Session:
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_factor,
        status_forcelist=(502, 503, 504),
        allowed_methods=retry_methods,
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_maxsize)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
