"""SQLite storage: the only place with SQL.

Each thread keeps one connection (opened on first use, set up once, never shared across
threads or a gunicorn fork: the key is the process and the thread). The database runs in
WAL mode with a busy timeout, so several
gunicorn workers and the notifier processes share it; every write transaction starts with
`BEGIN IMMEDIATE`, which takes the write lock up front (no lock-upgrade deadlocks) and makes
read-then-write sequences such as "charge unless the order exists" or "claim the next due
delivery" atomic across processes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "schema.sql"
BUSY_TIMEOUT_MS = 10000


class Store:
    def __init__(self, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS):
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=True,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _thread_connection(self) -> sqlite3.Connection:
        """This thread's connection: opening one and setting its pragmas on every unit of
        work was most of the sandbox's time under load."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid() or local.conn is None:
            local.conn, local.pid = self._connect(), os.getpid()
        return local.conn

    def _discard(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            conn.close()

    @contextmanager
    def _transaction(self, begin: str, *, commit: bool) -> Iterator[sqlite3.Connection]:
        conn = self._thread_connection()
        try:
            conn.execute(begin)
        except sqlite3.Error:
            self._discard()
            raise
        try:
            yield conn
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                self._discard()
            raise
        try:
            conn.execute("COMMIT" if commit else "ROLLBACK")
        except sqlite3.Error:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            self._discard()
            raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database write lock from its first statement."""
        with self._transaction("BEGIN IMMEDIATE", commit=True) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read snapshot."""
        with self._transaction("BEGIN", commit=False) as conn:
            yield conn

    def initialize(self, attempts: int = 50) -> None:
        """Create the file, switch it to WAL and apply the schema; safe to run from many
        processes at once (each retries while another holds the lock)."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        last_error: Exception | None = None
        for _ in range(attempts):
            try:
                conn = self._connect()
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        version = conn.execute("PRAGMA user_version").fetchone()[0]
                        if version < SCHEMA_VERSION:
                            for statement in _statements(SCHEMA_FILE.read_text("utf-8")):
                                conn.execute(statement)
                            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return
                finally:
                    conn.close()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                last_error = exc
                time.sleep(0.1)
        raise RuntimeError(f"could not initialise {self.path}: {last_error}")

    def check(self) -> None:
        """Raise unless the database answers and holds the schema (readiness)."""
        with self.read() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                raise RuntimeError("sandbox schema not initialised")
            conn.execute("SELECT 1 FROM transactions LIMIT 1").fetchall()


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
