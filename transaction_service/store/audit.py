"""The audit log's tables (DESIGN.md §9): appends, the sequencer, proofs and verification.

`append` is one INSERT in the caller's transaction, so the entry commits (or rolls back)
with the change it records, and it takes no lock anyone else waits on: `seq` comes from a
sequence (a rolled-back append leaves a gap, which is fine: `seq` only names the row).

`sequence` (the audit-log worker) gives committed entries their tree positions in seq
order and stores the perfect-subtree hashes, under a transaction-level advisory lock that
only sequencers take: several may run, one works at a time, the others skip the round. An
entry whose transaction commits after a later-numbered one was sequenced simply gets the
next position; positions are what the tree and its proofs are about.

The hashing, proofs and the tree walk are pure code (`servicekit.tlog`,
`transaction_service.domain.audit`); this module reads and writes rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from psycopg2.extras import execute_values

from servicekit import tlog

from ..domain.audit import (
    AuditDataError,
    ChainHead,
    LogVerifyResult,
    TreeVerifier,
    VerifyResult,
    leaf_bytes,
    normalize_data,
)

BATCH_SIZE = 1000
# pg_try_advisory_xact_lock key: "one sequencer at a time" (arbitrary, constant).
SEQUENCER_LOCK = 7_301_920

__all__ = ["append", "sequence", "verify", "head", "tree_size", "root", "inclusion_proof",
           "consistency_proof", "entry_at", "entries_for", "VerifyResult", "LogVerifyResult"]


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
    """Append one entry in the caller's transaction (one INSERT, no lock)."""
    entity_id = str(entity_id)
    for name, value in (("entity", entity), ("entity_id", entity_id), ("action", action)):
        if not isinstance(value, str) or not value:
            raise AuditDataError(f"{name} must be a non-empty string")
    if actor is not None and not isinstance(actor, str):
        raise AuditDataError("actor must be a string or None")
    cursor.execute(
        "INSERT INTO audit_log (entity, entity_id, action, actor, data)"
        " VALUES (%s, %s, %s, %s, %s::jsonb)",
        (entity, entity_id, action, actor,
         json.dumps(normalize_data(data), ensure_ascii=False)),
    )


def _row_leaf(row: Any) -> tuple[bytes | None, str | None]:
    data = _value(row, "data", 5)
    if isinstance(data, str):  # a cursor without the json type caster
        data = json.loads(data)
    try:
        return leaf_bytes(seq=_value(row, "seq", 0), entity=_value(row, "entity", 1),
                          entity_id=_value(row, "entity_id", 2),
                          action=_value(row, "action", 3), actor=_value(row, "actor", 4),
                          data=data, created_at=_value(row, "created_at", 6)), None
    except (AuditDataError, TypeError, ValueError) as exc:
        return None, str(exc)


_ROW_COLUMNS = "seq, entity, entity_id, action, actor, data, created_at, leaf_index"


# ----------------------------------------------------------------------------- the tree


def tree_size(cursor) -> int:
    cursor.execute("SELECT coalesce(max(leaf_index) + 1, 0) AS size FROM audit_log")
    return int(_value(cursor.fetchone(), "size", 0))


def load_nodes(cursor, ids: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    cursor.execute(
        "SELECT n.level, n.index, n.hash FROM audit_tree_nodes n"
        " JOIN unnest(%s::smallint[], %s::bigint[]) AS w(level, index)"
        " ON n.level = w.level AND n.index = w.index",
        ([level for level, _ in ids], [index for _, index in ids]),
    )
    return {(int(_value(r, "level", 0)), int(_value(r, "index", 1))): bytes(_value(r, "hash", 2))
            for r in cursor.fetchall()}


class MissingNode(LookupError):
    pass


def _with_nodes(cursor, produce):
    """Run a proof producer against stored nodes, fetched in one query."""
    nodes = load_nodes(cursor, tlog.nodes_needed(produce))

    def node(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise MissingNode(f"tree node ({level}, {index}) is missing") from None

    return produce(node)


def root(cursor, size: int) -> bytes:
    if size == 0:
        return tlog.EMPTY_ROOT
    return _with_nodes(cursor, lambda node: tlog.subtree_hash(0, size, node))


def inclusion_proof(cursor, index: int, size: int) -> list[bytes]:
    return _with_nodes(cursor, lambda node: tlog.inclusion_proof(index, size, node))


def consistency_proof(cursor, old_size: int, new_size: int) -> list[bytes]:
    return _with_nodes(cursor, lambda node: tlog.consistency_proof(old_size, new_size, node))


def head(cursor) -> ChainHead:
    """The tree as sequenced: `seq` is its size (leaves), `hash` its root in hex."""
    size = tree_size(cursor)
    return ChainHead(size, root(cursor, size).hex())


def sequence(cursor, *, batch_size: int = BATCH_SIZE) -> int:
    """Give up to `batch_size` committed entries their positions; returns how many. Returns
    0 at once when another sequencer holds the lock."""
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s) AS locked", (SEQUENCER_LOCK,))
    if not _value(cursor.fetchone(), "locked", 0):
        return 0
    cursor.execute(
        f"SELECT {_ROW_COLUMNS} FROM audit_log WHERE leaf_index IS NULL ORDER BY seq LIMIT %s",
        (batch_size,),
    )
    rows = cursor.fetchall()
    if not rows:
        return 0
    size = tree_size(cursor)
    frontier = tlog.perfect_nodes(size)
    stored = load_nodes(cursor, frontier)
    missing = [n for n in frontier if n not in stored]
    if missing:
        raise MissingNode(f"tree nodes {missing} are missing: the tree is damaged")
    compact = tlog.CompactRange(size, [stored[n] for n in frontier])
    positions, nodes = [], []
    for row in rows:
        leaf, error = _row_leaf(row)
        if leaf is None:
            # A row this code cannot hash was not written by `append`: refuse to build on
            # it (audit-verify reports it) rather than skip or invent a leaf.
            raise AuditDataError(f"audit row {_value(row, 'seq', 0)} cannot be hashed: "
                                 f"{error}")
        positions.append((int(_value(row, "seq", 0)), compact.size))
        nodes += compact.append(tlog.leaf_hash(leaf))
    execute_values(
        cursor,
        "UPDATE audit_log a SET leaf_index = v.leaf_index"
        " FROM (VALUES %s) AS v(seq, leaf_index) WHERE a.seq = v.seq",
        positions, template="(%s::bigint, %s::bigint)",
    )
    execute_values(cursor, "INSERT INTO audit_tree_nodes (level, index, hash) VALUES %s",
                   nodes, template="(%s, %s, %s)", page_size=1000)
    return len(positions)


# ----------------------------------------------------------------------------- entries


def _entry(row: Any) -> dict:
    leaf, error = _row_leaf(row)
    return {
        "seq": int(_value(row, "seq", 0)),
        "leaf_index": _value(row, "leaf_index", 7),
        "leaf": leaf,
        "error": error,
    }


def entry_at(cursor, index: int) -> dict | None:
    cursor.execute(f"SELECT {_ROW_COLUMNS} FROM audit_log WHERE leaf_index = %s", (index,))
    row = cursor.fetchone()
    return _entry(row) if row else None


def entries_for(cursor, entity: str, entity_id: str, *, limit: int = 500) -> list[dict]:
    cursor.execute(
        f"SELECT {_ROW_COLUMNS} FROM audit_log WHERE entity = %s AND entity_id = %s"
        " ORDER BY seq LIMIT %s",
        (entity, str(entity_id), limit),
    )
    return [_entry(row) for row in cursor.fetchall()]


def iter_leaves(cursor, *, batch_size: int = BATCH_SIZE) -> Iterator[tuple[Any, dict]]:
    """(row, stored nodes it completes) for every sequenced row in position order."""
    after = -1
    while True:
        cursor.execute(
            f"SELECT {_ROW_COLUMNS} FROM audit_log WHERE leaf_index > %s"
            " ORDER BY leaf_index LIMIT %s",
            (after, batch_size),
        )
        rows = cursor.fetchall()
        if not rows:
            return
        first = int(_value(rows[0], "leaf_index", 7))
        last = int(_value(rows[-1], "leaf_index", 7))
        # Nodes completed by leaves first..last: those whose last leaf lies in that range.
        wanted = []
        for level in range(0, 63):
            lo = ((first + 1) + (1 << level) - 1 >> level) - 1
            hi = ((last + 1) >> level) - 1
            if hi < 0:
                break
            wanted += [(level, i) for i in range(max(lo, 0), hi + 1)]
        stored = load_nodes(cursor, wanted)
        for row in rows:
            yield row, stored
        if len(rows) < batch_size:
            return
        after = last


# ----------------------------------------------------------------------------- verify


def verify(cursor, *, batch_size: int = BATCH_SIZE,
           log_verifiers: Iterable[tlog.Verifier] | None = None) -> LogVerifyResult:
    """Walk every sequenced row in position order, recompute the tree, compare it with the
    stored nodes and every signed checkpoint (their notes verified too when the log's keys
    are given). No lock is taken: rows sequenced during the walk are simply included."""
    from . import audit_checkpoints

    verifiers = list(log_verifiers) if log_verifiers is not None else None
    checkpoints = audit_checkpoints.all_sizes_and_roots(cursor)
    pending = iter(checkpoints)
    next_checkpoint = next(pending, None)
    walker = TreeVerifier()

    def check_due() -> bool:
        nonlocal next_checkpoint
        while next_checkpoint is not None and next_checkpoint["tree_size"] == walker.range.size:
            cp = next_checkpoint
            if verifiers is not None:
                problem = audit_checkpoints.note_problem(cp, verifiers)
                if problem:
                    return walker._break(None, cp["tree_size"] - 1, problem)
            if not walker.check_checkpoint(cp["tree_size"], bytes(cp["root_hash"])):
                return False
            next_checkpoint = next(pending, None)
        return True

    if check_due():
        for row, stored in iter_leaves(cursor, batch_size=batch_size):
            leaf, error = _row_leaf(row)
            if not walker.feed(leaf_index=int(_value(row, "leaf_index", 7)),
                               seq=int(_value(row, "seq", 0)), leaf=leaf, stored=stored,
                               error=error):
                break
            if not check_due():
                break
    cursor.execute("SELECT count(*) AS n FROM audit_log WHERE leaf_index IS NULL")
    unsequenced = int(_value(cursor.fetchone(), "n", 0))
    largest = checkpoints[-1]["tree_size"] if checkpoints else 0
    return walker.finish(largest_checkpoint=largest, unsequenced=unsequenced)
