"""The audit log's Merkle-tree leaves and the walk that verifies them (DESIGN.md §9, since
migration 0005; see the second half of this module), and the format of the hash chain the
rows before 0005 were written in (the first half), as pure functions.

The chain is the definition migration 0005 re-checks in SQL before those rows become the
first leaves, and what their kept `prev_hash`/`hash` columns mean; nothing appends to it
any more. `ChainHead` now also names the tree's size and root (store/audit.py `head`).

Each chain row stores the hash of the row before it (`prev_hash`) and its own `hash`:

    hash = sha256(canonical_json({"seq", "prev_hash", "entity", "entity_id", "action",
                                  "actor", "data", "created_at"}))

`seq` runs 1, 2, 3, ... without gaps; the first row's `prev_hash` is `GENESIS_HASH`.
Canonical JSON is UTF-8, keys sorted, no insignificant whitespace; `created_at` is UTC
ISO-8601 with microseconds (`2024-05-01T10:00:00.123456Z`), the precision Postgres keeps.

Altering any hashed field of a row breaks that row's hash; removing a row leaves a gap in
`seq` (or, if the rows after it were renumbered, a `prev_hash` that no longer matches);
moving or inserting a row breaks `seq` order or the links. `ChainVerifier` walks rows in
`seq` order, one at a time, so a store can stream them in batches.

The chain showed that rows were changed *after* they were written, but someone able to
rewrite the whole tail and recompute every hash (the database owner) was caught only by
comparing the head against an earlier copy: what the tree's signed checkpoints and the
showcase's witness now do (docs/audit.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from servicekit.tlog import CompactRange, leaf_hash

GENESIS_HASH = "0" * 64


class AuditDataError(ValueError):
    """Audit data that cannot be stored and re-read exactly (so could not be verified)."""


def _jsonable(value: Any, path: str = "data") -> Any:
    """A copy of `value` with only JSON types whose text survives a jsonb round trip.

    Floats are refused: jsonb may print them differently (1e100 comes back as an integer),
    which would make an honest row fail verification; money is integer rupiah anyway.
    UUIDs, datetimes, Decimals and other scalars become strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        raise AuditDataError(f"{path}: floats are not allowed in audit data ({value!r})")
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditDataError(f"{path}: keys must be strings, got {key!r}")
            result[key] = _jsonable(item, f"{path}.{key}")
        return result
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, datetime):
        return format_timestamp(value)
    return str(value)


def normalize_data(data: Mapping[str, Any] | None) -> dict:
    """The exact JSON object that will be stored (and hashed) for `data`."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise AuditDataError("data must be a JSON object")
    normalized = _jsonable(data)
    for text in _strings(normalized):
        if "\x00" in text:
            raise AuditDataError("data must not contain NUL characters")
    return normalized


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise AuditDataError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True)
class AuditRecord:
    """One audit row as stored."""

    seq: int
    prev_hash: str
    entity: str
    entity_id: str
    action: str
    actor: str | None
    data: dict
    created_at: datetime
    hash: str = ""

    def payload(self) -> dict:
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "action": self.action,
            "actor": self.actor,
            "data": self.data,
            "created_at": format_timestamp(self.created_at),
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.payload())).hexdigest()


def make_record(
    *,
    seq: int,
    prev_hash: str,
    entity: str,
    entity_id: str,
    action: str,
    actor: str | None,
    data: Mapping[str, Any] | None,
    created_at: datetime,
) -> AuditRecord:
    """The next row of the chain, with its hash filled in."""
    for name, value in (("entity", entity), ("entity_id", entity_id), ("action", action)):
        if not isinstance(value, str) or not value:
            raise AuditDataError(f"{name} must be a non-empty string")
    if actor is not None and not isinstance(actor, str):
        raise AuditDataError("actor must be a string or None")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise AuditDataError("seq must be a positive integer")
    record = AuditRecord(
        seq=seq,
        prev_hash=prev_hash,
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor=actor,
        data=normalize_data(data),
        created_at=created_at,
    )
    return AuditRecord(**{**record.__dict__, "hash": record.compute_hash()})


@dataclass(frozen=True)
class ChainHead:
    """The last link of the chain as recorded beside it (seq 0 / genesis when empty)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
        }


class ChainVerifier:
    """Feed rows in ascending `seq` order; stops at the first broken link.

    A row is broken when its seq is not the next one (a removed row: the first missing seq
    is reported; a moved or duplicated row), when its `prev_hash` is not the previous
    row's hash, or when its hash does not match its contents.
    """

    def __init__(self) -> None:
        self.checked = 0
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.broken: VerifyResult | None = None

    def feed(self, record: AuditRecord) -> bool:
        """Check one row; False once the chain is broken (stop feeding)."""
        if self.broken is not None:
            return False
        if record.seq != self.expected_seq:
            if record.seq > self.expected_seq:
                missing = (
                    f"row {self.expected_seq} is missing"
                    if record.seq == self.expected_seq + 1
                    else f"rows {self.expected_seq}..{record.seq - 1} are missing"
                )
                reason = f"{missing} (seq jumps from {self.expected_seq - 1} to {record.seq})"
            else:
                reason = f"row {record.seq} is out of order (expected seq {self.expected_seq})"
            return self._break(self.expected_seq, reason)
        if record.prev_hash != self.prev_hash:
            return self._break(
                record.seq,
                f"row {record.seq} does not link to row {record.seq - 1} "
                "(prev_hash mismatch: a row before it was removed, replaced or re-hashed)",
            )
        try:
            actual = record.compute_hash()
        except (AuditDataError, TypeError, ValueError) as exc:
            return self._break(record.seq, f"row {record.seq} cannot be hashed: {exc}")
        if actual != record.hash:
            return self._break(
                record.seq, f"row {record.seq} was altered (hash does not match its contents)"
            )
        self.checked += 1
        self.expected_seq += 1
        self.prev_hash = record.hash
        return True

    def _break(self, seq: int, reason: str) -> bool:
        self.broken = VerifyResult(False, self.checked, seq, reason)
        return False

    def finish(self, head: ChainHead | None = None) -> VerifyResult:
        """The result; with `head`, also checks the chain ends where the head says."""
        if self.broken is not None:
            return self.broken
        last_seq = self.expected_seq - 1
        if head is not None:
            if head.seq > last_seq:
                missing = last_seq + 1
                return VerifyResult(
                    False,
                    self.checked,
                    missing,
                    f"rows {missing}..{head.seq} are missing (the head records seq {head.seq})",
                )
            if head.seq == last_seq and head.hash != self.prev_hash:
                return VerifyResult(
                    False,
                    self.checked,
                    last_seq or None,
                    f"the last row {last_seq} does not match the recorded head hash",
                )
        return VerifyResult(True, self.checked)


def verify_chain(records: Iterable[AuditRecord], head: ChainHead | None = None) -> VerifyResult:
    """Verify rows given in ascending seq order (rows past `head.seq` are not checked)."""
    verifier = ChainVerifier()
    for record in records:
        if head is not None and record.seq > head.seq:
            break  # appended after the head was read
        if not verifier.feed(record):
            break
    return verifier.finish(head)


# ----------------------------------------------------------------------------- the tree
#
# Since migration 0005 the log is an RFC 9162 Merkle tree (servicekit.tlog): each row is a
# leaf once the sequencer has given it a position. A leaf's bytes are the canonical JSON of
# the row's recorded fields; `seq` (the append number) makes every leaf distinct.

LEAF_FIELDS = ("seq", "entity", "entity_id", "action", "actor", "data", "created_at")


def leaf_bytes(*, seq: int, entity: str, entity_id: str, action: str, actor: str | None,
               data: Mapping[str, Any] | None, created_at: datetime) -> bytes:
    """The leaf an audit row becomes: what the inclusion proofs are about."""
    return canonical_json({
        "seq": int(seq),
        "entity": entity,
        "entity_id": entity_id,
        "action": action,
        "actor": actor,
        "data": normalize_data(data),
        "created_at": format_timestamp(created_at),
    })


def decode_leaf(leaf: bytes) -> dict:
    """The fields of a leaf (what a verifier reads after checking the leaf's proof)."""
    value = json.loads(leaf.decode("utf-8"))
    if not isinstance(value, dict) or set(value) != set(LEAF_FIELDS):
        raise AuditDataError("not an audit leaf")
    if canonical_json(value) != leaf:
        raise AuditDataError("the leaf is not in canonical form")
    return value


@dataclass(frozen=True)
class LogVerifyResult(VerifyResult):
    """VerifyResult of the tree walk: `checked` leaves; `first_broken_seq` the row (seq)
    where it broke, `first_broken_index` its position; `tree_size` leaves in the tree;
    `checkpoints` the signed checkpoints checked against the recomputed roots."""

    first_broken_index: int | None = None
    tree_size: int = 0
    checkpoints: int = 0
    unsequenced: int = 0

    def to_dict(self) -> dict:
        return {
            **super().to_dict(),
            "first_broken_index": self.first_broken_index,
            "tree_size": self.tree_size,
            "checkpoints": self.checkpoints,
            "unsequenced": self.unsequenced,
        }


class TreeVerifier:
    """Recomputes the tree from the rows' own fields, leaf by leaf in position order, and
    compares every perfect-subtree hash the store holds (what proofs are served from) and
    every signed checkpoint's root with the recomputed ones.

    Catches: an edited row (its leaf hash changes), a deleted row (a gap in positions), a
    reordering (a leaf at the wrong position), a truncation (a checkpoint larger than the
    tree), and stored nodes that do not match the rows. A rewrite that also recomputes the
    nodes and re-signs the checkpoints with the log's key passes here; only a witness that
    kept an earlier checkpoint catches that (servicekit.tlog, storefront witness)."""

    def __init__(self) -> None:
        self.range = CompactRange()
        self.checked = 0
        self.checkpoints = 0
        self.broken: LogVerifyResult | None = None

    def _break(self, seq: int | None, index: int | None, reason: str) -> bool:
        self.broken = LogVerifyResult(False, self.checked, seq, reason,
                                      first_broken_index=index, tree_size=self.range.size,
                                      checkpoints=self.checkpoints)
        return False

    def feed(self, *, leaf_index: int, seq: int, leaf: bytes | None,
             stored: Mapping[tuple[int, int], bytes], error: str | None = None) -> bool:
        if self.broken is not None:
            return False
        expected = self.range.size
        if leaf_index != expected:
            if leaf_index > expected:
                return self._break(seq, expected, f"leaves {expected}..{leaf_index - 1} are "
                                   f"missing (positions jump to {leaf_index} at seq {seq})")
            return self._break(seq, leaf_index, f"position {leaf_index} is taken twice")
        if leaf is None:
            return self._break(seq, leaf_index, f"row {seq} cannot be hashed: {error}")
        for level, index, value in self.range.append(leaf_hash(leaf)):
            if bytes(stored.get((level, index)) or b"") != value:
                what = (f"row {seq} (leaf {leaf_index}) was altered or moved: its leaf hash "
                        "does not match the tree" if level == 0 else
                        f"the tree node at level {level}, index {index} does not match the "
                        "rows below it")
                return self._break(seq, leaf_index, what)
        self.checked += 1
        return True

    def check_checkpoint(self, size: int, root: bytes, seq: int | None = None) -> bool:
        """Call when exactly `size` leaves have been fed."""
        if self.broken is not None:
            return False
        if self.range.root() != root:
            return self._break(seq, size - 1 if size else None,
                               f"the signed checkpoint of size {size} does not match the "
                               "tree recomputed from the rows")
        self.checkpoints += 1
        return True

    def finish(self, *, largest_checkpoint: int = 0, unsequenced: int = 0) -> LogVerifyResult:
        if self.broken is not None:
            return LogVerifyResult(**{**self.broken.__dict__, "unsequenced": unsequenced})
        if largest_checkpoint > self.range.size:
            return LogVerifyResult(
                False, self.checked, None,
                f"leaves {self.range.size}..{largest_checkpoint - 1} are missing (a signed "
                f"checkpoint covers {largest_checkpoint} leaves; the log was truncated)",
                first_broken_index=self.range.size, tree_size=self.range.size,
                checkpoints=self.checkpoints, unsequenced=unsequenced)
        return LogVerifyResult(True, self.checked, tree_size=self.range.size,
                               checkpoints=self.checkpoints, unsequenced=unsequenced)
