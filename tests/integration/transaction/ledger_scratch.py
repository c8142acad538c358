"""A throw-away, fully migrated marketplace database for the ledger/audit/payout tests.

Where the Postgres comes from:
- `ETALASE_TEST_PG_ADMIN_DSN` (a superuser DSN) and `ETALASE_TEST_PG_APP_DSN` (the
  marketplace role's DSN; its database name is replaced) when set — e.g. a scratch cluster:
      ETALASE_TEST_PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:55999/postgres
      ETALASE_TEST_PG_APP_DSN=postgresql://transaction:tx@127.0.0.1:55999/etalase_transaction
- otherwise the session's devstack `stack` (its superuser and `transaction` role).

Each `ScratchDatabase` is a new database owned by the app role, migrated with the
service's migrations, dropped afterwards. Tests connect as the app role (as the service
does) and as the superuser only to tamper. The migrations run once per set of migrations
(per process), into a template database; each scratch database is a copy of it (CREATE
DATABASE ... TEMPLATE: the same tables, functions, triggers and grants, in a fraction of the
time; nothing in the migrations is database-level).
"""

from __future__ import annotations

import atexit
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


# (superuser DSN, app role, migration versions) -> the migrated template database's name.
_TEMPLATES: dict[tuple, str] = {}


def _admin_execute(admin_dsn: str, statement: sql.Composable) -> None:
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def _drop_database(admin_dsn: str, name: str) -> None:
    _admin_execute(admin_dsn, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(name)))


def _drop_template_quietly(admin_dsn: str, name: str) -> None:
    try:
        _drop_database(admin_dsn, name)
    except psycopg2.Error:  # the stack's cluster (and the template with it) is gone already
        pass


class ScratchDatabase:
    def __init__(self, admin_dsn: str, app_dsn: str, prefix: str = "etalase_tx_ledger_t"):
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.admin_maintenance_dsn = admin_dsn
        probe = psycopg2.connect(app_dsn)
        try:
            self.app_role = probe.info.user
            self.server_version = probe.info.server_version
        finally:
            probe.close()
        self.app_dsn = make_dsn(app_dsn, dbname=self.name)
        self.admin_dsn = make_dsn(admin_dsn, dbname=self.name)
        self.database: Database | None = None

    def _create_database(self, name: str, template: str | None = None) -> None:
        statement = sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(self.app_role))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            if self.server_version >= 150000:
                # Copying the files of a small database is ~10x faster than PostgreSQL 15's
                # default (writing all of it to the WAL).
                statement += sql.SQL(" STRATEGY FILE_COPY")
        _admin_execute(self.admin_maintenance_dsn, statement)

    def _template(self) -> str:
        """The migrated template for the migrations `migrations.discover` finds now (a test
        of the migrations themselves may narrow them)."""
        versions = tuple(m.version for m in migrations.discover(MIGRATIONS_DIR))
        key = (self.admin_maintenance_dsn, self.app_role, versions)
        if key not in _TEMPLATES:
            name = f"etalase_tx_template_{uuid.uuid4().hex[:10]}"
            self._create_database(name)
            template = Database(make_dsn(self.app_dsn, dbname=name), min_connections=1,
                                max_connections=2)
            try:
                migrations.apply(template, MIGRATIONS_DIR)
            finally:
                template.close()  # a template must have no connections while it is copied
            _TEMPLATES[key] = name
            atexit.register(_drop_template_quietly, self.admin_maintenance_dsn, name)
        return _TEMPLATES[key]

    def create(self) -> ScratchDatabase:
        self._create_database(self.name, template=self._template())
        self.database = Database(self.app_dsn, min_connections=1, max_connections=40)
        migrations.apply(self.database, MIGRATIONS_DIR)  # nothing left to apply: a no-op
        return self

    def drop(self) -> None:
        if self.database is not None:
            self.database.close()
        _drop_database(self.admin_maintenance_dsn, self.name)

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
