"""The settlement ledger's tables (DESIGN.md §8): posting entries and reading balances.

`post` runs inside the caller's transaction (a psycopg2 cursor, RealDictCursor or plain),
so an order's state change, its ledger entry and their audit rows commit together.
Entries are unique per (kind, reference): posting the same real event twice (a duplicate
notification, a retried worker) is a no-op that returns None. Entries and lines are
immutable (database triggers), and the database re-checks at commit that every entry
balances.
"""

from __future__ import annotations

from typing import Any

from psycopg2.extras import execute_values

from ..domain import ledger
from ..domain.ledger import JournalEntry
from ..domain.money import CURRENCY
from . import audit as audit_store

AUDIT_ENTITY = "journal_entry"


def _value(row: Any, key: str, index: int) -> Any:
    return row[key] if isinstance(row, dict) else row[index]


def post(cursor, entry: JournalEntry, *, actor: str | None = None) -> str | None:
    """Insert `entry` and its lines; the new entry id, or None if it was already posted."""
    if not isinstance(entry, JournalEntry):
        raise TypeError("post() takes a ledger.JournalEntry (build it with the domain builders)")
    cursor.execute(
        """
        INSERT INTO journal_entries (kind, reference) VALUES (%s, %s)
        ON CONFLICT (kind, reference) DO NOTHING
        RETURNING id::text AS id, created_at
        """,
        (entry.kind, entry.reference),
    )
    row = cursor.fetchone()
    if row is None:
        return None
    entry_id = _value(row, "id", 0)
    execute_values(
        cursor,
        "INSERT INTO journal_lines (entry_id, account, amount) VALUES %s",
        [(entry_id, line.account, line.amount) for line in entry.lines],
    )
    audit_store.append(
        cursor,
        entity=AUDIT_ENTITY,
        entity_id=entry_id,
        action="posted",
        actor=actor,
        data=entry.to_dict(),
    )
    return entry_id


def find(cursor, kind: str, reference: str) -> dict | None:
    """The posted entry for (kind, reference) with its lines, or None."""
    cursor.execute(
        """
        SELECT e.id::text AS id, e.kind, e.reference, e.created_at,
               l.account, l.amount
        FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
        WHERE e.kind = %s AND e.reference = %s
        ORDER BY l.id
        """,
        (kind, reference),
    )
    rows = cursor.fetchall()
    if not rows:
        return None
    first = rows[0]
    return {
        "id": _value(first, "id", 0),
        "kind": _value(first, "kind", 1),
        "reference": _value(first, "reference", 2),
        "created_at": _value(first, "created_at", 3),
        "lines": [
            {"account": _value(r, "account", 4), "amount": int(_value(r, "amount", 5))}
            for r in rows
        ],
    }


def account_sum(cursor, account: str) -> int:
    """Signed sum of an account's lines (debit-normal balance)."""
    cursor.execute(
        "SELECT coalesce(sum(amount), 0) AS total FROM journal_lines WHERE account = %s",
        (account,),
    )
    return int(_value(cursor.fetchone(), "total", 0))


def shop_available(cursor, shop_id: str) -> int:
    """What the platform owes the shop now: its payable account's (credit) balance."""
    return -account_sum(cursor, ledger.shop_payable(shop_id))


def payee_available(cursor, payee: ledger.Payee) -> int:
    """What the platform owes the shop or creator now (its payable's credit balance)."""
    return -account_sum(cursor, payee.account)


def shop_paid_out(cursor, shop_id: str) -> int:
    """Total paid out to the shop: payout debits on its payable, net of reversed payouts."""
    return payee_paid_out(cursor, ledger.Payee(ledger.SHOP, shop_id))


def payee_paid_out(cursor, payee: ledger.Payee) -> int:
    """Total paid out to the payee: payout debits on its payable, net of reversed payouts."""
    cursor.execute(
        """
        SELECT coalesce(sum(l.amount), 0) AS total
        FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
        WHERE l.account = %s
          AND (e.kind = %s OR (e.kind = %s AND e.reference LIKE %s))
        """,
        (payee.account, ledger.PAYOUT, ledger.REVERSAL, ledger.PAYOUT + ":%"),
    )
    return int(_value(cursor.fetchone(), "total", 0))


PENDING_STATUSES = tuple(sorted(ledger.ESCROWED_STATUSES))


def shop_pending(cursor, shop_id: str) -> int:
    """Money in escrow for the shop's paid, not yet completed orders, net of the refunds
    that already left escrow (see store/invariants.POSTED_REFUND)."""
    cursor.execute(
        """
        SELECT coalesce(sum(o.total - coalesce((
                   SELECT sum(r.amount) FROM refunds r
                    WHERE r.order_id = o.id
                      AND ((r.method = 'provider' AND r.status = 'succeeded')
                           OR (r.method = 'manual' AND r.status <> 'failed'))), 0)), 0)
                   AS total
        FROM orders o WHERE o.shop_id = %s AND o.status = ANY(%s)
        """,
        (shop_id, list(PENDING_STATUSES)),
    )
    return int(_value(cursor.fetchone(), "total", 0))


def creator_pending(cursor, creator_id: str) -> int:
    """Commission on the creator's lines of paid, not yet completed orders."""
    cursor.execute(
        """
        SELECT coalesce(sum(i.commission), 0) AS total
        FROM order_items i JOIN orders o ON o.id = i.order_id
        WHERE i.creator_id = %s AND o.status = ANY(%s)
        """,
        (creator_id, list(PENDING_STATUSES)),
    )
    return int(_value(cursor.fetchone(), "total", 0))


_PENDING_OF = {ledger.SHOP: shop_pending, ledger.CREATOR: creator_pending}


def balance(cursor, shop_id: str) -> dict:
    return payee_balance(cursor, ledger.Payee(ledger.SHOP, shop_id))


def payee_balance(cursor, payee: ledger.Payee) -> dict:
    """`{<kind>_id, currency, pending, available, paid_out}` of a shop or a creator."""
    return {
        f"{payee.kind}_id": payee.id,
        "currency": CURRENCY,
        "pending": _PENDING_OF[payee.kind](cursor, payee.id),
        "available": payee_available(cursor, payee),
        "paid_out": payee_paid_out(cursor, payee),
    }


def account_lines(cursor, account: str, *, limit: int, before_id: int | None = None) -> list[dict]:
    """Up to `limit` lines of `account`, newest first, each with the account's signed
    running sum after it (`running_sum`); lines with id < `before_id` when given."""
    cursor.execute(
        """
        SELECT l.id, l.entry_id::text AS entry_id, e.kind, e.reference, l.amount,
               e.created_at
        FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
        WHERE l.account = %s AND (%s::bigint IS NULL OR l.id < %s::bigint)
        ORDER BY l.id DESC
        LIMIT %s
        """,
        (account, before_id, before_id, limit),
    )
    rows = [dict(r) if isinstance(r, dict) else _tuple_line(r) for r in cursor.fetchall()]
    if not rows:
        return rows
    cursor.execute(
        "SELECT coalesce(sum(amount), 0) AS total FROM journal_lines "
        "WHERE account = %s AND id <= %s",
        (account, rows[0]["id"]),
    )
    running = int(_value(cursor.fetchone(), "total", 0))
    for row in rows:
        row["amount"] = int(row["amount"])
        row["running_sum"] = running
        running -= row["amount"]
    return rows


def _tuple_line(row) -> dict:
    keys = ("id", "entry_id", "kind", "reference", "amount", "created_at")
    return dict(zip(keys, row, strict=True))
