"""Outbound HTTP with explicit timeouts and bounded, quick retries.

Retries apply only to the methods a caller names, and a caller names only methods the
receiver treats idempotently (for example a POST carrying an order id or a refund key the
other side deduplicates on). `Retry-After` is deliberately not honoured: it could park a
buyer's checkout for as long as the other side asks, so retries stay few and short.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


def make_session(
    *,
    methods: frozenset[str],
    connect_retries: int = 2,
    read_retries: int = 1,
    backoff_factor: float = 0.1,
    pool_maxsize: int = 32,
    trust_env: bool = True,
) -> requests.Session:
    retry = Retry(
        total=connect_retries + read_retries,
        connect=connect_retries,
        read=read_retries,
        status=read_retries,
        other=0,
        backoff_factor=backoff_factor,
        backoff_max=1.0,
        status_forcelist=(502, 503, 504),
        allowed_methods=methods,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_maxsize)
    session = requests.Session()
    # trust_env=False: no proxy, .netrc or CA-bundle lookups in the environment on every
    # request (a measurable share of a checkout's CPU); for calls inside our own network.
    session.trust_env = trust_env
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def json_or_none(response: requests.Response):
    """The body as JSON, or None when the other side answered something else."""
    try:
        return response.json()
    except ValueError:
        return None
