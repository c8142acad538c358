"""Money invariants of the marketplace database, checked after every integration test.

`check(cursor)` returns a list of human-readable violations (empty when all hold):

1. every journal entry has at least two lines and its lines sum to zero (debits == credits);
2. all lines ever posted sum to zero;
3. escrow equals the total of paid, unsettled orders: per order, settled gross − completed
   gross − refunded (from the ledger, reversals included) is never negative, the per-order
   amounts add up to the escrow account's balance, and, where the `orders` table exists,
   each order's escrow agrees with its status (AWAITING_SHIPMENT / IN_TRANSIT hold exactly
   the order total; UNPAID / COMPLETED hold nothing; CANCELLED / EXPIRED hold the total
   until the refund is posted, then nothing); no escrow for an unknown order;
4. no shop's available balance (payable) is negative, and every payout row has its entry;
5. the audit log verifies: the Merkle tree recomputed from the rows matches every stored
   node and every signed checkpoint's root, no position is missing, no checkpoint is
   larger than the tree (store/audit.py `verify`); `check(cursor, log_verifiers=...)`
   also checks each checkpoint's signature.
6. refunds: escrow per order is net of the refunds the refunds table says were posted
   (provider refunds that succeeded, manual refunds once created), each such refund has
   exactly its entry, and `manual_refunds_payable` holds exactly the manual refunds not
   yet transferred.
7. creators' commission: no order line's commission exceeds its line total or differs
   from line_total x rate // 10000; no creator payable is overdrawn, and each equals what
   the creator earned (completed orders) minus what was paid out; no completed order
   credits a creator more than that creator's lines of the order carry.

The escrow rules are pure functions in `transaction_service.domain.ledger`.
"""

from __future__ import annotations

from typing import Any

from ..domain import ledger
from . import audit as audit_store


def _value(row: Any, key: str, index: int) -> Any:
    return row[key] if isinstance(row, dict) else row[index]


def _table_exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (name,))
    return bool(_value(cursor.fetchone(), "present", 0))


def check(cursor, log_verifiers=None) -> list[str]:
    violations: list[str] = []

    # 1. each entry balances
    cursor.execute(
        """
        SELECT e.id::text AS id, e.kind, e.reference,
               count(l.id) AS line_count, coalesce(sum(l.amount), 0) AS total
        FROM journal_entries e LEFT JOIN journal_lines l ON l.entry_id = e.id
        GROUP BY e.id, e.kind, e.reference
        HAVING count(l.id) < 2 OR coalesce(sum(l.amount), 0) <> 0
        ORDER BY e.id
        LIMIT 50
        """
    )
    for row in cursor.fetchall():
        violations.append(
            f"journal entry {_value(row, 'id', 0)} ({_value(row, 'kind', 1)} "
            f"{_value(row, 'reference', 2)}) is unbalanced: "
            f"{_value(row, 'line_count', 3)} lines summing to {_value(row, 'total', 4)}"
        )
    cursor.execute(
        """
        SELECT count(*) AS n FROM journal_lines l
        WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = l.entry_id)
        """
    )
    orphans = int(_value(cursor.fetchone(), "n", 0))
    if orphans:
        violations.append(f"{orphans} journal line(s) belong to no entry")

    # 2. the whole ledger balances
    cursor.execute("SELECT coalesce(sum(amount), 0) AS total FROM journal_lines")
    total = int(_value(cursor.fetchone(), "total", 0))
    if total != 0:
        violations.append(f"all journal lines sum to {total}, not 0")

    # 3. escrow == paid, unsettled orders
    violations.extend(_escrow_violations(cursor))

    # 4. shop balances and payouts
    cursor.execute(
        """
        SELECT account, -sum(amount) AS available FROM journal_lines
        WHERE account LIKE 'shop:%:payable'
        GROUP BY account HAVING sum(amount) > 0
        ORDER BY account
        """
    )
    for row in cursor.fetchall():
        violations.append(
            f"{_value(row, 'account', 0)} is overdrawn: available {_value(row, 'available', 1)}"
        )
    if _table_exists(cursor, "payouts"):
        cursor.execute(
            """
            SELECT p.id::text AS id FROM payouts p
            LEFT JOIN journal_entries e
              ON e.id = p.journal_entry_id AND e.kind = %s AND e.reference = p.id::text
            WHERE e.id IS NULL
            ORDER BY p.id LIMIT 50
            """,
            (ledger.PAYOUT,),
        )
        for row in cursor.fetchall():
            violations.append(f"payout {_value(row, 'id', 0)} has no matching ledger entry")

    # 5. audit log (Merkle tree and signed checkpoints)
    result = audit_store.verify(cursor, log_verifiers=log_verifiers)
    if not result.ok:
        violations.append(
            f"audit chain broken at seq {result.first_broken_seq}: {result.reason}"
        )

    # 7. creators' commission
    violations.extend(_commission_violations(cursor))
    return violations


def _commission_violations(cursor) -> list[str]:
    problems: list[str] = []
    if _table_exists(cursor, "order_items"):
        cursor.execute(
            """
            SELECT order_id::text AS order_id, product_id, line_total, commission_rate_bps,
                   commission FROM order_items
            WHERE commission IS NOT NULL
              AND (commission > line_total
                   OR commission <> line_total * commission_rate_bps / %s)
            LIMIT 50
            """,
            (ledger.BPS_DENOMINATOR,),
        )
        for row in cursor.fetchall():
            problems.append(
                f"order {_value(row, 'order_id', 0)} line {_value(row, 'product_id', 1)}: "
                f"commission {_value(row, 'commission', 4)} is not "
                f"{_value(row, 'line_total', 2)} x {_value(row, 'commission_rate_bps', 3)} bps"
            )
    # payable = earned - paid out: only completion credits, payouts and their reversals
    # ever touch a creator's payable, and it is never negative.
    cursor.execute(
        """
        SELECT l.account,
               -sum(l.amount) AS available,
               -sum(l.amount) FILTER (WHERE e.kind = %(completed)s
                   OR (e.kind = %(reversal)s AND e.reference LIKE %(completed_ref)s)) AS earned,
               sum(l.amount) FILTER (WHERE e.kind = %(payout)s
                   OR (e.kind = %(reversal)s AND e.reference LIKE %(payout_ref)s)) AS paid_out
        FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
        WHERE l.account LIKE 'creator:%%:payable'
        GROUP BY l.account ORDER BY l.account
        """,
        {"completed": ledger.ORDER_COMPLETED, "payout": ledger.PAYOUT,
         "reversal": ledger.REVERSAL, "completed_ref": ledger.ORDER_COMPLETED + ":%",
         "payout_ref": ledger.PAYOUT + ":%"},
    )
    for row in cursor.fetchall():
        account = _value(row, "account", 0)
        available = int(_value(row, "available", 1))
        earned = int(_value(row, "earned", 2) or 0)
        paid_out = int(_value(row, "paid_out", 3) or 0)
        if available < 0:
            problems.append(f"{account} is overdrawn: available {available}")
        if available != earned - paid_out:
            problems.append(
                f"{account}: available {available} != earned {earned} - paid out {paid_out}"
            )
    if _table_exists(cursor, "order_items"):
        cursor.execute(
            """
            WITH credited AS (
                SELECT e.reference AS order_id,
                       split_part(l.account, ':', 2) AS creator_id, -sum(l.amount) AS amount
                FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
                WHERE e.kind = %s AND l.account LIKE 'creator:%%:payable'
                GROUP BY 1, 2
            ), carried AS (
                SELECT order_id::text AS order_id, creator_id, sum(commission) AS amount
                FROM order_items WHERE creator_id IS NOT NULL GROUP BY 1, 2
            )
            SELECT c.order_id, c.creator_id, c.amount AS credited,
                   coalesce(k.amount, 0) AS carried
            FROM credited c LEFT JOIN carried k USING (order_id, creator_id)
            WHERE c.amount > coalesce(k.amount, 0)
            LIMIT 50
            """,
            (ledger.ORDER_COMPLETED,),
        )
        for row in cursor.fetchall():
            problems.append(
                f"order {_value(row, 'order_id', 0)} credits creator "
                f"{_value(row, 'creator_id', 1)} {_value(row, 'credited', 2)}, more than "
                f"the commission its lines carry ({_value(row, 'carried', 3)})"
            )
    return problems


def _escrow_violations(cursor) -> list[str]:
    cursor.execute(
        """
        SELECT CASE WHEN e.kind = %(reversal)s THEN split_part(e.reference, ':', 2)
                    ELSE split_part(e.reference, ':', 1) END AS order_id,
               -sum(l.amount) AS held
        FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
        WHERE l.account = %(escrow)s
          AND (e.kind = ANY(%(kinds)s)
               OR (e.kind = %(reversal)s AND split_part(e.reference, ':', 1) = ANY(%(kinds)s)))
        GROUP BY 1
        """,
        {
            "escrow": ledger.ESCROW,
            "kinds": sorted(ledger.ORDER_KINDS),
            "reversal": ledger.REVERSAL,
        },
    )
    escrow_by_order = {
        _value(r, "order_id", 0): int(_value(r, "held", 1)) for r in cursor.fetchall()
    }
    cursor.execute(
        "SELECT coalesce(-sum(amount), 0) AS held FROM journal_lines WHERE account = %s",
        (ledger.ESCROW,),
    )
    escrow_balance = int(_value(cursor.fetchone(), "held", 0))

    orders = None
    if _table_exists(cursor, "orders"):
        refunded_sql = "0"
        if _table_exists(cursor, "refunds"):
            refunded_sql = f"""coalesce((SELECT sum(r.amount) FROM refunds r
                 WHERE r.order_id = o.id AND ({POSTED_REFUND})), 0)"""
        # Only orders that matter: anything not UNPAID, plus any order the ledger mentions.
        cursor.execute(
            f"""
            SELECT o.id::text AS id, o.status, o.total, {refunded_sql} AS refunded
            FROM orders o
            WHERE o.status <> 'UNPAID' OR o.id::text = ANY(%s)
            """,  # noqa: S608 - fixed fragments
            (list(escrow_by_order),),
        )
        orders = {
            _value(r, "id", 0): ledger.OrderState(
                _value(r, "status", 1), int(_value(r, "total", 2) or 0),
                int(_value(r, "refunded", 3) or 0),
            )
            for r in cursor.fetchall()
        }
    violations = ledger.escrow_violations(escrow_by_order, escrow_balance, orders)
    if _table_exists(cursor, "refunds"):
        violations.extend(_refund_violations(cursor))
    return violations


# A refund whose money has left escrow: the provider confirmed it, or it became a manual
# refund (escrow -> manual_refunds_payable at creation).
POSTED_REFUND = ("(r.method = 'provider' AND r.status = 'succeeded') "
                 "OR (r.method = 'manual' AND r.status <> 'failed')")


def _refund_violations(cursor) -> list[str]:
    problems: list[str] = []
    cursor.execute(
        f"""
        SELECT r.id::text AS id, r.method, r.status, r.amount,
               (SELECT count(*) FROM journal_entries e
                 WHERE e.kind = CASE WHEN r.method = 'provider' THEN %(issued)s
                                     ELSE %(owed)s END
                   AND e.reference = r.order_id::text || ':' || r.id::text) AS posted,
               (SELECT count(*) FROM journal_entries e
                 WHERE e.kind = %(paid)s AND e.reference = r.id::text) AS paid
        FROM refunds r
        WHERE ({POSTED_REFUND}) <> (SELECT count(*) > 0 FROM journal_entries e
                 WHERE e.kind = CASE WHEN r.method = 'provider' THEN %(issued)s
                                     ELSE %(owed)s END
                   AND e.reference = r.order_id::text || ':' || r.id::text)
           OR (r.method = 'manual' AND (r.status = 'succeeded') <> (SELECT count(*) > 0
                 FROM journal_entries e WHERE e.kind = %(paid)s AND e.reference = r.id::text))
        ORDER BY r.id LIMIT 50
        """,  # noqa: S608 - fixed fragments
        {"issued": ledger.REFUND_ISSUED, "owed": ledger.MANUAL_REFUND_OWED,
         "paid": ledger.MANUAL_REFUND_PAID},
    )
    for row in cursor.fetchall():
        problems.append(
            f"refund {_value(row, 'id', 0)} ({_value(row, 'method', 1)}, "
            f"{_value(row, 'status', 2)}, {_value(row, 'amount', 3)}) disagrees with the "
            f"ledger: {_value(row, 'posted', 4)} release entr(ies), "
            f"{_value(row, 'paid', 5)} transfer entr(ies)"
        )
    cursor.execute(
        """
        SELECT coalesce((SELECT -sum(amount) FROM journal_lines WHERE account = %s), 0)
                   AS payable,
               coalesce((SELECT sum(amount) FROM refunds
                          WHERE method = 'manual'
                            AND status IN ('awaiting_account', 'awaiting_transfer')), 0)
                   AS open_manual
        """,
        (ledger.MANUAL_REFUNDS_PAYABLE,),
    )
    row = cursor.fetchone()
    payable, open_manual = int(_value(row, "payable", 0)), int(_value(row, "open_manual", 1))
    if payable != open_manual:
        problems.append(
            f"{ledger.MANUAL_REFUNDS_PAYABLE} holds {payable} but open manual refunds "
            f"total {open_manual}"
        )
    return problems
