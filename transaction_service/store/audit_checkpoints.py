"""Signed checkpoints of the audit log and what the witness said about each (DESIGN.md §9)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from servicekit import tlog

_COLUMNS = "tree_size, root_hash, note, cosigned_note, witness_error, created_at, cosigned_at"


def _row(row: Any) -> dict | None:
    if row is None:
        return None
    row = dict(row) if isinstance(row, dict) else dict(zip(_COLUMNS.split(", "), row,
                                                           strict=True))
    row["root_hash"] = bytes(row["root_hash"])
    return row


def all_sizes_and_roots(cursor) -> list[dict]:
    cursor.execute(f"SELECT {_COLUMNS} FROM audit_checkpoints ORDER BY tree_size")
    return [_row(r) for r in cursor.fetchall()]


def latest(cursor) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1")
    return _row(cursor.fetchone())


def latest_cosigned(cursor) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE cosigned_note IS NOT NULL"
                   " ORDER BY tree_size DESC LIMIT 1")
    return _row(cursor.fetchone())


def get(cursor, tree_size: int) -> dict | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE tree_size = %s",
                   (tree_size,))
    return _row(cursor.fetchone())


def insert(cursor, *, tree_size: int, root_hash: bytes, note: str) -> bool:
    cursor.execute(
        "INSERT INTO audit_checkpoints (tree_size, root_hash, note) VALUES (%s, %s, %s)"
        " ON CONFLICT (tree_size) DO NOTHING",
        (tree_size, root_hash, note),
    )
    return cursor.rowcount == 1


def record_cosigned(cursor, tree_size: int, cosigned_note: str) -> None:
    cursor.execute(
        "UPDATE audit_checkpoints SET cosigned_note = %s, cosigned_at = now(),"
        " witness_error = NULL WHERE tree_size = %s AND cosigned_note IS NULL",
        (cosigned_note, tree_size),
    )


def record_refusal(cursor, tree_size: int, error: str) -> None:
    cursor.execute(
        "UPDATE audit_checkpoints SET witness_error = %s WHERE tree_size = %s"
        " AND cosigned_note IS NULL",
        (error[:2000], tree_size),
    )


def note_problem(checkpoint: dict, verifiers: Iterable[tlog.Verifier]) -> str | None:
    """Why a stored checkpoint's note does not vouch for its row (None when it does)."""
    try:
        _, parsed = tlog.open_checkpoint(checkpoint["note"], verifiers)
    except tlog.NoteError as exc:
        return f"the checkpoint of size {checkpoint['tree_size']} is not signed by the log: {exc}"
    if (parsed.size, parsed.root_hash) != (checkpoint["tree_size"], checkpoint["root_hash"]):
        return f"the checkpoint of size {checkpoint['tree_size']} does not say what its row says"
    return None
