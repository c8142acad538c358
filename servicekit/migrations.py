"""Numbered SQL migrations: `NNNN_description.sql`, applied in order, each in its own
transaction, recorded in `schema_migrations`. An advisory lock makes concurrent starts
(several gunicorn masters or compose replicas) apply each file exactly once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .db import Database

_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 7_301_245  # arbitrary, constant: one migration runner at a time per database


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover(directory: Path) -> list[Migration]:
    migrations = []
    for path in sorted(directory.iterdir()):
        match = _MIGRATION_FILE.match(path.name)
        if match:
            migrations.append(Migration(int(match.group(1)), path.stem, path))
        elif path.suffix == ".sql":
            raise ValueError(f"migration file {path.name} must be named NNNN_description.sql")
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return migrations


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def applied_versions(db: Database) -> set[int]:
    with db.transaction() as cursor:
        cursor.execute("SELECT to_regclass('schema_migrations') AS present")
        if cursor.fetchone()["present"] is None:
            return set()
        cursor.execute("SELECT version FROM schema_migrations")
        return {row["version"] for row in cursor.fetchall()}


def apply(db: Database, directory: Path) -> list[Migration]:
    """Apply every pending migration; returns what was applied."""
    applied: list[Migration] = []
    with db.connection() as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.autocommit = False
            with conn.cursor() as cursor:
                cursor.execute(_CREATE_TABLE)
                cursor.execute("SELECT version FROM schema_migrations")
                done = {row[0] for row in cursor.fetchall()}
            conn.commit()
            for migration in discover(directory):
                if migration.version in done:
                    continue
                with conn.cursor() as cursor:
                    cursor.execute(migration.path.read_text(encoding="utf-8"))
                    cursor.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                conn.commit()
                applied.append(migration)
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
            conn.autocommit = False
    return applied
