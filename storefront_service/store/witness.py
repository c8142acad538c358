"""The witness's tables: checkpoints it cosigned, checkpoints it refused."""

from __future__ import annotations

from ..domain.witness import Cosigned

# pg_advisory_xact_lock namespace: one add-checkpoint per log at a time.
_LOCK_NAMESPACE = 7_301_921


def lock_log(cursor, origin: str) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_NAMESPACE, origin))


def largest_cosigned(cursor, origin: str) -> Cosigned | None:
    cursor.execute(
        "SELECT tree_size, root_hash FROM witness_checkpoints WHERE origin = %s"
        " ORDER BY tree_size DESC LIMIT 1",
        (origin,),
    )
    row = cursor.fetchone()
    return Cosigned(int(row["tree_size"]), bytes(row["root_hash"])) if row else None


def record_cosigned(cursor, *, origin: str, tree_size: int, root_hash: bytes, note: str,
                    cosignature: str) -> None:
    cursor.execute(
        "INSERT INTO witness_checkpoints (origin, tree_size, root_hash, note, cosignature)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (origin, tree_size) DO NOTHING",
        (origin, tree_size, root_hash, note, cosignature),
    )


def record_refusal(cursor, *, origin: str | None, old_size: int | None,
                   tree_size: int | None, reason: str, detail: str, note: str | None) -> None:
    cursor.execute(
        "INSERT INTO witness_refusals (origin, old_size, tree_size, reason, detail, note)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (origin, old_size, tree_size, reason, detail[:2000], (note or "")[:10000] or None),
    )


def refusals(cursor, *, limit: int = 20) -> list[dict]:
    cursor.execute("SELECT * FROM witness_refusals ORDER BY id DESC LIMIT %s", (limit,))
    return [dict(r) for r in cursor.fetchall()]
