"""servicekit.db.Database against a real Postgres: connections opened on demand, kept
warm, and a pool of dead sessions retired after the first failure, not one 503 each."""

from __future__ import annotations

import uuid
from contextlib import ExitStack

import psycopg2
import pytest

from servicekit.db import Database, DatabaseUnavailable


def backends(stack, application_name: str) -> int:
    conn = psycopg2.connect(stack.dsn("superuser"))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                           (application_name,))
            return cursor.fetchone()[0]
    finally:
        conn.close()


def terminate(stack, application_name: str) -> int:
    conn = psycopg2.connect(stack.dsn("superuser"))
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = %s", (application_name,))
            return cursor.fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def database(stack):
    name = f"pool-test-{uuid.uuid4().hex[:8]}"
    db = Database(stack.dsn("storefront"), min_connections=3, max_connections=5, service=name)
    yield db
    db.close()


def use_at_once(db: Database, count: int) -> None:
    with ExitStack() as held:
        for _ in range(count):
            held.enter_context(db.read()).execute("SELECT 1")


def test_connections_open_on_demand_and_stay_warm(stack, database):
    database._get_pool()
    assert backends(stack, database.service) == 0  # nothing opened before it is needed
    use_at_once(database, 5)
    # min_connections stay open for the next requests; the rest were closed on return.
    assert backends(stack, database.service) == 3


def test_sessions_dropped_by_the_server_cost_one_failure_not_one_each(stack, database):
    use_at_once(database, 3)
    assert terminate(stack, database.service) == 3

    with pytest.raises(DatabaseUnavailable), database.read() as cursor:
        cursor.execute("SELECT 1")
    # The two other pooled sessions were as dead; they are not handed out again.
    for _ in range(3):
        with database.read() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == {"?column?": 1}
