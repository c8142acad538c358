"""Idempotency keys under real database faults (DESIGN.md §6): a key never runs twice,
and a 5xx that did nothing frees the key at once.

The fault is real: the service's own Postgres session is terminated
(`pg_terminate_backend`) at an exact point of the request. To stop the request at that
point, a trigger (filtered on this test's key or buyer, so other tests never meet it)
makes the statement wait on an advisory lock the test holds; the test then kills the
waiting backend, exactly as a database restart or a network cut would.
"""

from __future__ import annotations

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg2
from checkout_market import ADDRESS


def _body(product):
    return {"items": [{"product_id": product, "quantity": 1}],
            "shipping_address": ADDRESS, "payment_method": "bank_transfer"}


@contextmanager
def _trap(market, table: str, timing: str, condition: str):
    """A trigger on `table` that parks matching statements on an advisory lock held by
    the yielded connection until the block ends; dropped afterwards."""
    name = f"fault_{uuid.uuid4().hex[:10]}"
    lock = random.randrange(1, 2**31)
    market.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF {condition} THEN PERFORM pg_advisory_xact_lock({lock}); END IF; "
        f"RETURN COALESCE(NEW, OLD); END $$")
    market.execute(f"CREATE TRIGGER {name} {timing} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {name}()")
    holder = psycopg2.connect(market.dsn)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (lock,))
        holder.commit()
        yield holder
    finally:
        holder.close()  # frees the advisory lock
        market.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        market.execute(f"DROP FUNCTION IF EXISTS {name}()")


def _kill_the_waiting(market, statement: str, timeout: float = 20.0) -> None:
    """Terminate the service backend parked in a trap while running `statement`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = market.rows(
            "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND a.query ILIKE %s "
            "AND a.pid <> pg_backend_pid()", (f"%{statement}%",))
        if rows:
            for row in rows:
                market.execute("SELECT pg_terminate_backend(%s)", (row["pid"],))
            return
        time.sleep(0.05)
    raise AssertionError(f"no backend waited in {statement!r}")


def _buyer_id(market, token):
    me = market.get("/api/v1/auth/me", token=token).json()
    return me.get("id") or me.get("account_id")


def _placed_orders(market, buyer_id):
    return market.rows("SELECT id::text FROM orders WHERE buyer_id = %s "
                       "AND placed_at IS NOT NULL", (buyer_id,))


def test_response_lost_after_the_order_commit_is_replayed_never_a_second_order(market):
    buyer = market.new_buyer()
    buyer_id = _buyer_id(market, buyer)
    product = market.product(stock=5)
    key = f"fault-{uuid.uuid4()}"
    # The order commits; storing the response (`state = 'completed'`) is then killed.
    with _trap(market, "idempotency_keys", "BEFORE UPDATE",
               f"NEW.key = '{key}' AND NEW.state = 'completed'"):
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(market.post, "/api/v1/checkout", token=buyer, key=key,
                                json=_body(product))
            _kill_the_waiting(market, "UPDATE idempotency_keys")
            first = first.result(timeout=60)
    assert first.status_code == 201, first.text
    order_id = first.json()["order"]["id"]
    assert market.one("SELECT state FROM idempotency_keys WHERE account_id = %s AND key = %s",
                      (buyer_id, key))["state"] == "in_progress"

    # Worst case: the client retries only after the key's lock timed out.
    market.execute("UPDATE idempotency_keys SET locked_at = now() - interval '10 minutes' "
                   "WHERE account_id = %s AND key = %s", (buyer_id, key))
    retry = market.post("/api/v1/checkout", token=buyer, key=key, json=_body(product))
    assert retry.status_code == 201, retry.text
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json()["order"]["id"] == order_id
    assert [o["id"] for o in _placed_orders(market, buyer_id)] == [order_id]
    assert market.stock(product) == 4
    # ... and from now on it is an ordinary stored replay.
    again = market.post("/api/v1/checkout", token=buyer, key=key, json=_body(product))
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["order"]["id"] == order_id
    assert len(_placed_orders(market, buyer_id)) == 1


def test_a_503_that_did_nothing_frees_the_key_at_once(market):
    buyer = market.new_buyer()
    buyer_id = _buyer_id(market, buyer)
    product = market.product(stock=5)
    key = f"fault-{uuid.uuid4()}"
    # The database drops under the checkout's first write, and again under the release
    # of the key: the service cannot free the key while answering its 503.
    with _trap(market, "orders", "BEFORE INSERT", f"NEW.buyer_id = '{buyer_id}'"), \
         _trap(market, "idempotency_keys", "BEFORE DELETE", f"OLD.key = '{key}'"):
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(market.post, "/api/v1/checkout", token=buyer, key=key,
                                json=_body(product))
            _kill_the_waiting(market, "INSERT INTO orders")
            _kill_the_waiting(market, "DELETE FROM idempotency_keys")
            first = first.result(timeout=60)
    assert first.status_code == 503, first.text
    assert first.json()["type"].endswith("/database-unavailable")
    assert not _placed_orders(market, buyer_id)

    # The database is back: the retry the 503 asked for runs within a few seconds, not
    # after the 60 s lock timeout.
    deadline = time.monotonic() + 5
    while True:
        retry = market.post("/api/v1/checkout", token=buyer, key=key, json=_body(product))
        if retry.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(float(retry.headers.get("Retry-After", "1")) / 4)
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert len(_placed_orders(market, buyer_id)) == 1
