"""The audit log table (DESIGN.md §9): appends and chain verification.

`append` runs inside the caller's transaction, so the audit row commits (or rolls back)
together with the change it records. Appends are serialised by the row lock on the chain
head: `SELECT ... FOR UPDATE` waits for the previous appender to commit and then reads the
head it left (READ COMMITTED re-reads a row it had to wait for), so the chain is linear
however many processes write. The lock is held until the caller commits; take row locks
(e.g. `SELECT ... FOR UPDATE` on the order) *before* appending, and append as late in the
transaction as convenient. Two round trips per append: every order and payment change
goes through this one lock.

The hashing and chain walking are in `transaction_service.domain.audit`; this module only
reads and writes rows, streaming them in batches for verification.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..domain.audit import (
    AuditRecord,
    ChainHead,
    VerifyResult,
    make_record,
    verify_chain,
)

BATCH_SIZE = 1000

__all__ = ["append", "verify", "head", "iter_records", "VerifyResult"]


def _value(row: Any, key: str, index: int) -> Any:
    """A column from a RealDictCursor row or a plain tuple row."""
    return row[key] if isinstance(row, dict) else row[index]


def append(
    cursor,
    *,
    entity: str,
    entity_id: str,
    action: str,
    actor: str | None,
    data: dict,
) -> None:
    """Append one hash-chained row in the caller's transaction."""
    cursor.execute(
        "SELECT seq, hash, clock_timestamp() AS now FROM audit_chain_head WHERE id = 1"
        " FOR UPDATE"
    )
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("audit_chain_head is missing; the audit log is damaged")
    last_seq, last_hash, now = _value(row, "seq", 0), _value(row, "hash", 1), _value(row, "now", 2)
    record = make_record(
        seq=last_seq + 1,
        prev_hash=last_hash,
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        actor=actor,
        data=data,
        created_at=now,
    )
    cursor.execute(
        """
        WITH appended AS (
            INSERT INTO audit_log
                (seq, prev_hash, hash, entity, entity_id, action, actor, data, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)
            RETURNING seq, hash
        )
        UPDATE audit_chain_head h SET seq = a.seq, hash = a.hash FROM appended a WHERE h.id = 1
        """,
        (
            record.seq,
            record.prev_hash,
            record.hash,
            record.entity,
            record.entity_id,
            record.action,
            record.actor,
            json.dumps(record.data, ensure_ascii=False),
            record.created_at,
        ),
    )


def head(cursor) -> ChainHead | None:
    cursor.execute("SELECT seq, hash FROM audit_chain_head WHERE id = 1")
    row = cursor.fetchone()
    if row is None:
        return None
    return ChainHead(int(_value(row, "seq", 0)), _value(row, "hash", 1))


def iter_records(cursor, *, up_to_seq: int | None = None, batch_size: int = BATCH_SIZE) -> (
    Iterator[AuditRecord]
):
    """Every row in seq order (up to `up_to_seq`), fetched `batch_size` rows at a time."""
    after = None
    while True:
        cursor.execute(
            """
            SELECT seq, prev_hash, hash, entity, entity_id, action, actor, data, created_at
            FROM audit_log
            WHERE (%(after)s::bigint IS NULL OR seq > %(after)s::bigint)
              AND (%(up_to)s::bigint IS NULL OR seq <= %(up_to)s::bigint)
            ORDER BY seq
            LIMIT %(limit)s
            """,
            {"after": after, "up_to": up_to_seq, "limit": batch_size},
        )
        rows = cursor.fetchall()
        for row in rows:
            data = _value(row, "data", 7)
            if isinstance(data, str):  # a cursor without the json type caster
                data = json.loads(data)
            yield AuditRecord(
                seq=int(_value(row, "seq", 0)),
                prev_hash=_value(row, "prev_hash", 1),
                hash=_value(row, "hash", 2),
                entity=_value(row, "entity", 3),
                entity_id=_value(row, "entity_id", 4),
                action=_value(row, "action", 5),
                actor=_value(row, "actor", 6),
                data=data,
                created_at=_value(row, "created_at", 8),
            )
        if len(rows) < batch_size:
            return
        after = int(_value(rows[-1], "seq", 0))


def verify(cursor, *, batch_size: int = BATCH_SIZE) -> VerifyResult:
    """Walk the whole chain (streamed) and report the first broken link, if any.

    The head is read first and only rows up to it are checked, so appends committed while
    the walk runs are ignored rather than reported (no lock is taken; writers go on)."""
    current = head(cursor)
    if current is None:
        return VerifyResult(False, 0, None, "the audit chain head row is missing")
    records = iter_records(cursor, up_to_seq=current.seq, batch_size=batch_size)
    return verify_chain(records, current)
