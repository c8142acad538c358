"""Payouts: a shop or a creator withdrawing its available balance (DESIGN.md §8, §11).

A payout never exceeds the available balance, whatever the concurrency: requests for one
shop are serialised by a transaction-scoped advisory lock, the balance is read *after*
the lock is granted (a fresh READ COMMITTED snapshot that includes every earlier payout),
and the ledger entry, the payout row and the audit row are written in the same
transaction before the lock is released at commit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..domain import ledger
from . import audit as audit_store
from . import ledger as ledger_store

# Two-int advisory key space (class id, object id): never collides with the single-bigint
# key used by the migration runner.
PAYOUT_LOCK_CLASS = 0x50594F55 & 0x7FFFFFFF  # "PYOU"

# Every query below returns these columns, in this order (see _row for plain cursors).
_KEYS = (
    "id", "shop_id", "creator_id", "amount", "currency", "status", "bank_account", "requested_by",
    "journal_entry_id", "created_at", "updated_at",
)


class InsufficientBalance(Exception):
    def __init__(self, requested: int, available: int):
        super().__init__(f"requested {requested}, available {available}")
        self.requested = requested
        self.available = available


def lock_shop(cursor, shop_id: str) -> None:
    """Serialise balance-reducing operations of one shop until the transaction ends."""
    lock_payee(cursor, ledger.Payee(ledger.SHOP, shop_id))


def lock_payee(cursor, payee: ledger.Payee) -> None:
    """Serialise balance-reducing operations of one shop or creator until commit."""
    key = f"payout:{payee.id}" if payee.kind == ledger.SHOP else f"payout:{payee.kind}:{payee.id}"
    cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (PAYOUT_LOCK_CLASS, key))


def create(
    cursor,
    *,
    amount: int,
    requested_by: str,
    shop_id: str | None = None,
    payee: ledger.Payee | None = None,
    bank_account: dict | None = None,
) -> dict:
    """Create a payout of `amount` for the payee (or the shop `shop_id`), or raise
    InsufficientBalance.

    Must run in the caller's transaction (commit after it returns)."""
    if payee is None:
        payee = ledger.Payee(ledger.SHOP, shop_id)
    entry_amount = int(amount)
    lock_payee(cursor, payee)
    available = ledger_store.payee_available(cursor, payee)  # read under the lock
    if entry_amount > available:
        raise InsufficientBalance(entry_amount, available)
    cursor.execute("SELECT gen_random_uuid()::text AS id")
    payout_id = _value(cursor.fetchone(), "id", 0)
    entry = ledger.payee_payout(payee, payout_id, entry_amount)
    entry_id = ledger_store.post(cursor, entry, actor=requested_by)
    if entry_id is None:  # cannot happen with a fresh uuid; never pay without an entry
        raise RuntimeError(f"payout entry {payout_id} already posted")
    cursor.execute(
        """
        INSERT INTO payouts
            (id, shop_id, creator_id, amount, bank_account, requested_by, journal_entry_id)
        VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s)
        RETURNING id::text AS id, shop_id, creator_id, amount, currency, status, bank_account,
                  requested_by, journal_entry_id::text AS journal_entry_id, created_at,
                  updated_at
        """,
        (
            payout_id,
            payee.id if payee.kind == ledger.SHOP else None,
            payee.id if payee.kind == ledger.CREATOR else None,
            entry_amount,
            json.dumps(bank_account) if bank_account is not None else None,
            requested_by,
            entry_id,
        ),
    )
    payout = _row(cursor.fetchone())
    audit_store.append(
        cursor,
        entity="payout",
        entity_id=payout_id,
        action="requested",
        actor=requested_by,
        data={
            f"{payee.kind}_id": payee.id,
            "amount": entry_amount,
            "currency": "IDR",
            "journal_entry_id": entry_id,
            "available_before": available,
        },
    )
    return payout


def get(cursor, payout_id: str) -> dict | None:
    cursor.execute(
        """
        SELECT id::text AS id, shop_id, creator_id, amount, currency, status, bank_account,
               requested_by, journal_entry_id::text AS journal_entry_id, created_at, updated_at
        FROM payouts WHERE id = %s
        """,
        (payout_id,),
    )
    row = cursor.fetchone()
    return _row(row) if row else None


def list_for_shop(
    cursor, shop_id: str, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[dict]:
    """Newest first; `after` is the (created_at, id) of the last row of the previous page."""
    return list_for_payee(cursor, ledger.Payee(ledger.SHOP, shop_id), limit=limit, after=after)


# The payee's column in `payouts`, by kind (trusted constants, never input).
_PAYEE_COLUMN = {ledger.SHOP: "shop_id", ledger.CREATOR: "creator_id"}


def list_for_payee(
    cursor, payee: ledger.Payee, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[dict]:
    """Newest first; `after` is the (created_at, id) of the last row of the previous page."""
    cursor.execute(
        f"""
        SELECT id::text AS id, shop_id, creator_id, amount, currency, status, bank_account,
               requested_by, journal_entry_id::text AS journal_entry_id, created_at, updated_at
        FROM payouts
        WHERE {_PAYEE_COLUMN[payee.kind]} = %(shop)s
          AND (%(first)s OR (created_at, id) < (%(at)s::timestamptz, %(id)s::uuid))
        ORDER BY created_at DESC, id DESC
        LIMIT %(limit)s
        """,
        {
            "shop": payee.id,
            "first": after is None,
            "at": after[0] if after else None,
            "id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [_row(r) for r in cursor.fetchall()]


def _value(row: Any, key: str, index: int) -> Any:
    return row[key] if isinstance(row, dict) else row[index]


def _row(row: Any) -> dict:
    if not isinstance(row, dict):
        row = dict(zip(_KEYS, row, strict=True))
    result = dict(row)
    result["amount"] = int(result["amount"])
    return result
