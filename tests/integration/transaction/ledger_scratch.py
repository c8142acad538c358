"""A throw-away, fully migrated marketplace database for the ledger/audit/payout tests.

Where the Postgres comes from:
- `ETALASE_TEST_PG_ADMIN_DSN` (a superuser DSN) and `ETALASE_TEST_PG_APP_DSN` (the
  marketplace role's DSN; its database name is replaced) when set — e.g. a scratch cluster:
      ETALASE_TEST_PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:55999/postgres
      ETALASE_TEST_PG_APP_DSN=postgresql://transaction:tx@127.0.0.1:55999/etalase_transaction
- otherwise the session's devstack `stack` (its superuser and `transaction` role).

Each `ScratchDatabase` is a new database owned by the app role, migrated with the
service's migrations, dropped afterwards. Tests connect as the app role (as the service
does) and as the superuser only to tamper.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import psycopg2
import psycopg2.extras
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from servicekit import migrations
from servicekit.db import Database
from transaction_service import MIGRATIONS_DIR


def dsns_from(request) -> tuple[str, str]:
    admin = os.environ.get("ETALASE_TEST_PG_ADMIN_DSN")
    app = os.environ.get("ETALASE_TEST_PG_APP_DSN")
    if admin and app:
        return admin, app
    stack = request.getfixturevalue("stack")
    return stack.dsn("superuser"), stack.dsn("transaction")


class ScratchDatabase:
    def __init__(self, admin_dsn: str, app_dsn: str, prefix: str = "etalase_tx_ledger_t"):
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.admin_maintenance_dsn = admin_dsn
        probe = psycopg2.connect(app_dsn)
        try:
            self.app_role = probe.info.user
        finally:
            probe.close()
        self.app_dsn = make_dsn(app_dsn, dbname=self.name)
        self.admin_dsn = make_dsn(admin_dsn, dbname=self.name)
        self.database: Database | None = None

    def create(self) -> ScratchDatabase:
        conn = psycopg2.connect(self.admin_maintenance_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(self.name), sql.Identifier(self.app_role)
                    )
                )
        finally:
            conn.close()
        self.database = Database(self.app_dsn, min_connections=1, max_connections=40)
        migrations.apply(self.database, MIGRATIONS_DIR)
        return self

    def drop(self) -> None:
        if self.database is not None:
            self.database.close()
        conn = psycopg2.connect(self.admin_maintenance_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.name)
                    )
                )
        finally:
            conn.close()

    def connect(self, *, admin: bool = False):
        """A fresh connection (not pooled) as the app role or the superuser."""
        return psycopg2.connect(self.admin_dsn if admin else self.app_dsn)

    @contextmanager
    def tamper(self):
        """A superuser cursor with triggers off (session_replication_role = replica),
        committed at the end: how an attacker with database access edits history."""
        conn = self.connect(admin=True)
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                cursor.execute("SET session_replication_role = replica")
                yield cursor
            conn.commit()
        finally:
            conn.close()

    def has_table(self, name: str) -> bool:
        with self.database.transaction() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (name,))
            return cursor.fetchone()["present"]
