"""Accounts: registration, lookup by email (case-insensitive), password upgrades."""

from __future__ import annotations

import uuid

import psycopg2.errors

from servicekit.db import Database

from ..domain.errors import Conflict

_COLUMNS = "a.id, a.email, a.name, a.role, a.created_at, a.disabled_at"


def create_account(db: Database, *, email: str, password_hash: str, name: str, role: str) -> dict:
    try:
        with db.transaction() as cur:
            cur.execute(
                """
                INSERT INTO accounts AS a (email, password_hash, name, role)
                VALUES (%s, %s, %s, %s)
                RETURNING """ + _COLUMNS + ", NULL::uuid AS shop_id",
                (email, password_hash, name, role),
            )
            return cur.fetchone()
    except psycopg2.errors.UniqueViolation:
        raise Conflict(
            "An account with this email already exists.", slug="email-taken"
        ) from None


def find_for_login(db: Database, email: str) -> dict | None:
    """The account with its password hash and shop (sellers), by email in any case."""
    with db.transaction() as cur:
        cur.execute(
            "SELECT " + _COLUMNS + """, a.password_hash, s.id AS shop_id
            FROM accounts a LEFT JOIN shops s ON s.owner_id = a.id
            WHERE lower(a.email) = lower(%s)""",
            (email,),
        )
        return cur.fetchone()


def get_account(db: Database, account_id: str) -> dict | None:
    with db.transaction() as cur:
        cur.execute(
            "SELECT " + _COLUMNS + """, s.id AS shop_id
            FROM accounts a LEFT JOIN shops s ON s.owner_id = a.id
            WHERE a.id = %s""",
            (str(account_id),),
        )
        return cur.fetchone()


def update_password_hash(db: Database, account_id: str, password_hash: str) -> None:
    with db.transaction() as cur:
        cur.execute(
            "UPDATE accounts SET password_hash = %s WHERE id = %s", (password_hash, account_id)
        )


def as_account_id(value) -> str | None:
    """`value` as an account id (a UUID), or None when it cannot be one (so lookups use
    the primary key and a malformed token subject is simply an unknown account)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def is_active(db: Database, account_id: str) -> bool:
    """The account exists and is not disabled (checked for every signed-in request)."""
    account_id = as_account_id(account_id)
    if account_id is None:
        return False
    with db.transaction() as cur:
        cur.execute(
            "SELECT 1 FROM accounts WHERE id = %s AND disabled_at IS NULL", (account_id,)
        )
        return cur.fetchone() is not None


def account_status(db: Database, account_id: str) -> dict | None:
    """`{id, role, active}` for the marketplace's status check; None when unknown."""
    account_id = as_account_id(account_id)
    if account_id is None:
        return None
    with db.transaction() as cur:
        cur.execute(
            "SELECT id, role, disabled_at IS NULL AS active FROM accounts WHERE id = %s",
            (account_id,),
        )
        return cur.fetchone()


def disable(db: Database, account_id: str) -> dict | None:
    """Disable the account (idempotent: the first time stays recorded); None if unknown."""
    account_id = as_account_id(account_id)
    if account_id is None:
        return None
    with db.transaction() as cur:
        cur.execute(
            "UPDATE accounts SET disabled_at = coalesce(disabled_at, now()) "
            "WHERE id = %s RETURNING id",
            (account_id,),
        )
        if cur.fetchone() is None:
            return None
    return get_account(db, account_id)
