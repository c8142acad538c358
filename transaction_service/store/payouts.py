"""Payouts: a shop withdrawing its available balance (DESIGN.md §8).

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
    "id", "shop_id", "amount", "currency", "status", "bank_account", "requested_by",
    "journal_entry_id", "created_at", "updated_at",
)


class InsufficientBalance(Exception):
    def __init__(self, requested: int, available: int):
        super().__init__(f"requested {requested}, available {available}")
        self.requested = requested
        self.available = available


def lock_shop(cursor, shop_id: str) -> None:
    """Serialise balance-reducing operations of one shop until the transaction ends."""
    cursor.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (PAYOUT_LOCK_CLASS, f"payout:{shop_id}")
    )


def create(
    cursor,
    *,
    shop_id: str,
    amount: int,
    requested_by: str,
    bank_account: dict | None = None,
) -> dict:
    """Create a payout of `amount` for the shop, or raise InsufficientBalance.

    Must run in the caller's transaction (commit after it returns)."""
    entry_amount = int(amount)
    lock_shop(cursor, shop_id)
    available = ledger_store.shop_available(cursor, shop_id)  # read under the lock
    if entry_amount > available:
        raise InsufficientBalance(entry_amount, available)
    cursor.execute("SELECT gen_random_uuid()::text AS id")
    payout_id = _value(cursor.fetchone(), "id", 0)
    entry = ledger.payout(shop_id, payout_id, entry_amount)
    entry_id = ledger_store.post(cursor, entry, actor=requested_by)
    if entry_id is None:  # cannot happen with a fresh uuid; never pay without an entry
        raise RuntimeError(f"payout entry {payout_id} already posted")
    cursor.execute(
        """
        INSERT INTO payouts (id, shop_id, amount, bank_account, requested_by, journal_entry_id)
        VALUES (%s, %s, %s, %s::jsonb, %s, %s)
        RETURNING id::text AS id, shop_id, amount, currency, status, bank_account, requested_by,
                  journal_entry_id::text AS journal_entry_id, created_at, updated_at
        """,
        (
            payout_id,
            shop_id,
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
            "shop_id": shop_id,
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
        SELECT id::text AS id, shop_id, amount, currency, status, bank_account, requested_by,
               journal_entry_id::text AS journal_entry_id, created_at, updated_at
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
    cursor.execute(
        """
        SELECT id::text AS id, shop_id, amount, currency, status, bank_account, requested_by,
               journal_entry_id::text AS journal_entry_id, created_at, updated_at
        FROM payouts
        WHERE shop_id = %(shop)s
          AND (%(first)s OR (created_at, id) < (%(at)s::timestamptz, %(id)s::uuid))
        ORDER BY created_at DESC, id DESC
        LIMIT %(limit)s
        """,
        {
            "shop": shop_id,
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
