"""Logins cannot take the showcase down (issue 12, item 5): failed attempts back off per
account (OWASP), and password hashing runs in a bounded number of slots, so a flood of
wrong-password logins is refused (429) instead of holding every thread."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter


class _FromAddress(HTTPAdapter):
    """Connects from another loopback address: the reader is someone else than the flood,
    so the gateway's per-address limit (which the flood may well reach) is not theirs."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = ("127.0.0.2", 0)
        super().init_poolmanager(*args, **kwargs)


def _login(storefront, email, password):
    return storefront.api.post("/api/v1/auth/login", json={"email": email, "password": password})


def _attempt(storefront, email, password):
    """A login attempt, retried while the showcase is busy hashing for someone else."""
    response = _login(storefront, email, password)
    while response.status_code == 429 and response.json()["type"].endswith("/login-busy"):
        time.sleep(0.2)
        response = _login(storefront, email, password)
    return response


def _throttled(response, most: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/login-throttled")
    assert 1 <= int(response.headers["Retry-After"]) <= most


def test_failed_logins_back_off_per_account_known_or_not(storefront, make_actor):
    actor = make_actor("buyer")
    for email in (actor.email, f"nobody-{uuid.uuid4().hex[:8]}@etalase.test"):
        answers = [_attempt(storefront, email, "wrong-password").status_code for _ in range(5)]
        assert answers == [401] * 5, (email, answers)
        # Five failures in a row: the account waits 1 s, whatever password is tried
        # (nothing is hashed meanwhile), then 2 s after the next failure, and so on.
        _throttled(_attempt(storefront, email, "correct-horse-battery"), 1)
        time.sleep(1.1)
        assert _attempt(storefront, email, "wrong-password").status_code == 401
        _throttled(_attempt(storefront, email, "correct-horse-battery"), 2)
    time.sleep(2.1)
    assert _attempt(storefront, actor.email, "correct-horse-battery").status_code == 200
    # a success resets the count: five more typos are free again
    assert [_attempt(storefront, actor.email, "typo").status_code
            for _ in range(5)] == [401] * 5


def test_a_login_flood_is_refused_not_queued_and_reads_keep_working(storefront, make_actor):
    reader = make_actor("buyer")
    stop = threading.Event()
    flood_answers: list[int] = []

    def flood(n):
        http = requests.Session()
        while not stop.is_set():
            email = f"flood-{n}-{uuid.uuid4().hex[:8]}@etalase.test"  # never throttled
            response = http.post(storefront.api.base_url + "/api/v1/auth/login", timeout=30,
                                 json={"email": email, "password": "wrong-password"})
            flood_answers.append(response.status_code)

    reads: list[tuple[int, float, str]] = []
    reader_http = requests.Session()
    reader_http.mount("http://", _FromAddress())
    with ThreadPoolExecutor(16) as pool:
        for n in range(16):
            pool.submit(flood, n)
        try:
            time.sleep(1)
            for _ in range(40):
                started = time.monotonic()
                response = reader_http.get(storefront.api.base_url + "/api/v1/cart", timeout=30,
                                           headers={"Authorization": f"Bearer {reader.token}"})
                reads.append((response.status_code, time.monotonic() - started,
                              response.text[:200]))
        finally:
            stop.set()
    assert {status for status, _, _ in reads} == {200}, [r for r in reads if r[0] != 200]
    assert set(flood_answers) <= {401, 429} and 429 in flood_answers, set(flood_answers)
    slowest = max(seconds for _, seconds, _ in reads)
    assert slowest < 10, f"a signed-in read took {slowest:.1f}s during the flood"
