"""psycopg2 connection pool and the transaction helper every repository uses.

The pool is created lazily in each process (gunicorn forks workers after import, and a
libpq connection must never cross a fork). `transaction()` is the one way code talks to
the database: it checks a connection out, commits on success, rolls back on any error and
always returns the connection, so no request can leak a connection or half a write.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extras
import psycopg2.pool

from .observability import DB_POOL_IN_USE, DB_POOL_OPEN


class Database:
    def __init__(
        self,
        dsn: str,
        *,
        min_connections: int = 1,
        max_connections: int = 10,
        service: str = "app",
        connect_timeout: int = 5,
        statement_timeout_ms: int = 15000,
    ):
        self.dsn = dsn
        self.min_connections = min_connections
        self.max_connections = max_connections
        self.service = service
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = statement_timeout_ms
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._pool_pid: int | None = None
        self._lock = threading.Lock()
        self._in_use = 0
        self._open_reported: int | None = None
        self._in_use_gauge = DB_POOL_IN_USE.labels(service)

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        pid = os.getpid()
        if self._pool is None or self._pool_pid != pid:
            with self._lock:
                if self._pool is None or self._pool_pid != pid:
                    pool = psycopg2.pool.ThreadedConnectionPool(
                        0,
                        self.max_connections,
                        self.dsn,
                        connect_timeout=self.connect_timeout,
                        options=f"-c statement_timeout={self.statement_timeout_ms}",
                        application_name=self.service,
                    )
                    # psycopg2 opens `minconn` connections up front and keeps at most that
                    # many idle ones. Opened on demand instead, an idle process holds no
                    # Postgres backend it never needed, and a busy one keeps
                    # min_connections warm (no reconnect per request).
                    pool.minconn = self.min_connections
                    if self._pool_pid != pid:  # a forked child: nothing of ours is in use
                        self._in_use = 0
                    self._pool = pool
                    self._pool_pid = pid
                    self._open_reported = None
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        pool = self._get_pool()
        try:
            conn = pool.getconn()
        except psycopg2.pool.PoolError as exc:
            raise DatabaseUnavailable("connection pool exhausted") from exc
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        self._track(+1)
        broken = False
        try:
            yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            broken = True
            raise
        finally:
            if conn.closed:
                broken = True
                # The server dropped this session (a restart, a failover): the idle ones
                # in the pool are as dead, and each would cost a request its 503. Start a
                # fresh pool; the old one is dropped with its idle connections once the
                # requests still using it have returned theirs.
                self._retire(pool)
            if not broken:
                try:
                    conn.rollback()  # never hand back a connection mid-transaction
                except psycopg2.Error:
                    broken = True
            pool.putconn(conn, close=broken)
            self._track(-1)

    @contextmanager
    def transaction(
        self, *, isolation: str | None = None
    ) -> Iterator[psycopg2.extras.RealDictCursor]:
        """A cursor inside one database transaction (READ COMMITTED unless told otherwise)."""
        with self.connection() as conn:
            if isolation:
                conn.set_session(isolation_level=isolation)
            try:
                with _lost_connection_is_unavailable(conn):
                    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                        yield cursor
                    conn.commit()
            finally:
                if isolation and not conn.closed:
                    conn.set_session(isolation_level="READ COMMITTED")

    @contextmanager
    def read(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """A cursor for reads that need no transaction around them.

        Autocommit: each statement is one round trip and sees its own snapshot, instead of
        BEGIN + statement + COMMIT (three round trips) under `transaction()`. For the hot
        public reads (a product, the feed); anything that writes, or reads several rows
        that must agree with each other, uses `transaction()`.
        """
        with self.connection() as conn:
            conn.autocommit = True
            try:
                with _lost_connection_is_unavailable(conn):
                    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                        yield cursor
            finally:
                if not conn.closed:
                    conn.autocommit = False

    def _retire(self, pool: psycopg2.pool.ThreadedConnectionPool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None

    def _track(self, delta: int) -> None:
        with self._lock:
            self._in_use += delta
            in_use = self._in_use
        self._in_use_gauge.set(in_use)
        pool = self._pool
        if pool is not None:
            # _pool/_used are psycopg2's own bookkeeping; reading them is cheap and safe.
            # The open count rarely changes: write the (multiprocess, mmap) gauge only then.
            open_now = len(pool._pool) + len(pool._used)
            if open_now != self._open_reported:
                self._open_reported = open_now
                DB_POOL_OPEN.labels(self.service).set(open_now)

    def ping(self) -> None:
        with self.read() as cursor:
            cursor.execute("SELECT 1")

    def close(self) -> None:
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.closeall()
        self._pool = None


@contextmanager
def _lost_connection_is_unavailable(conn) -> Iterator[None]:
    """Roll back on any error; a connection the server dropped becomes DatabaseUnavailable."""
    try:
        yield
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        connection_lost = _is_connection_lost(conn, exc)
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg2.Error:
                connection_lost = True
        if not connection_lost:
            raise  # e.g. a serialization failure or a statement timeout
        # The server went away (restart, network): a rollback on the dead connection
        # would raise again and hide this; the client gets a 503 and can retry.
        raise DatabaseUnavailable(str(exc).strip() or "database connection lost") from exc
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise


def _is_connection_lost(conn, exc: Exception) -> bool:
    """Lost connections carry no SQLSTATE, or class 08 (connection) / 57P (shutdown)."""
    if conn.closed or isinstance(exc, psycopg2.InterfaceError):
        return True
    code = getattr(exc, "pgcode", None)
    return code is None or code.startswith(("08", "57P"))


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now (answered as 503 by the app)."""
