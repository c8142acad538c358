"""A requests session tuned for calls whose retries are safe.

servicekit's `make_session` honours `Retry-After`, which could park a buyer's checkout for
as long as the other side asks; here retries are few, quick and never sleep on the other
side's say-so. Only pass methods the receiver treats idempotently.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


def retrying_session(
    *, connect_retries: int = 2, read_retries: int = 1, methods: frozenset[str],
    backoff_factor: float = 0.1, pool_maxsize: int = 32,
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
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def json_or_none(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None
