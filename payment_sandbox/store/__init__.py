"""SQLite storage: the only place with SQL.

Every unit of work opens its own connection (cheap for SQLite) so nothing crosses a
gunicorn fork or a thread. The database runs in WAL mode with a busy timeout, so several
gunicorn workers and the notifier processes share it; every write transaction starts with
`BEGIN IMMEDIATE`, which takes the write lock up front (no lock-upgrade deadlocks) and makes
read-then-write sequences such as "charge unless the order exists" or "claim the next due
delivery" atomic across processes.
"""

from __future__ import annotations

import sqlite3
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

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database write lock from its first statement."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read snapshot."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()

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
