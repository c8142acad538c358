"""The audit hash chain (DESIGN.md §9): hashing, and detecting altered, removed, moved rows."""

import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from transaction_service.domain import audit
from transaction_service.domain.audit import (
    GENESIS_HASH,
    AuditDataError,
    ChainHead,
    ChainVerifier,
    make_record,
    verify_chain,
)

T0 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def build_chain(n: int) -> list[audit.AuditRecord]:
    records = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        record = make_record(
            seq=i,
            prev_hash=prev,
            entity="order",
            entity_id=f"o{i}",
            action="paid",
            actor=None if i % 2 else f"acc-{i}",
            data={"amount": 1000 * i, "status": "AWAITING_SHIPMENT", "nested": {"b": 1, "a": [i]}},
            created_at=T0 + timedelta(seconds=i),
        )
        records.append(record)
        prev = record.hash
    return records


def head_of(records):
    return ChainHead(records[-1].seq, records[-1].hash) if records else ChainHead(0, GENESIS_HASH)


def replace(record, **changes):
    return dataclasses.replace(record, **changes)


def rehash(record):
    return replace(record, hash=record.compute_hash())


# --- hashing ------------------------------------------------------------------------------


def test_hash_is_sha256_of_canonical_json():
    record = build_chain(1)[0]
    payload = {
        "action": "paid",
        "actor": None,
        "created_at": "2024-05-01T10:00:01.123456Z",
        "data": {"amount": 1000, "nested": {"a": [1], "b": 1}, "status": "AWAITING_SHIPMENT"},
        "entity": "order",
        "entity_id": "o1",
        "prev_hash": GENESIS_HASH,
        "seq": 1,
    }
    expected = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert record.hash == expected
    assert len(record.hash) == 64


def test_hash_ignores_key_order_and_timezone_representation():
    a = make_record(
        seq=1, prev_hash=GENESIS_HASH, entity="e", entity_id="1", action="x", actor=None,
        data={"a": 1, "b": 2}, created_at=T0,
    )
    jakarta = timezone(timedelta(hours=7))
    b = make_record(
        seq=1, prev_hash=GENESIS_HASH, entity="e", entity_id="1", action="x", actor=None,
        data={"b": 2, "a": 1}, created_at=T0.astimezone(jakarta),
    )
    assert a.hash == b.hash


def test_every_field_is_covered_by_the_hash():
    record = build_chain(1)[0]
    for change in (
        {"seq": 2},
        {"prev_hash": "1" * 64},
        {"entity": "payout"},
        {"entity_id": "o2"},
        {"action": "refunded"},
        {"actor": "someone"},
        {"data": {**record.data, "amount": 1}},
        {"created_at": record.created_at + timedelta(microseconds=1)},
    ):
        assert replace(record, **change).compute_hash() != record.hash, change


def test_data_is_normalised_to_json_types():
    ident = uuid.uuid4()
    record = make_record(
        seq=1, prev_hash=GENESIS_HASH, entity="e", entity_id="1", action="x", actor=None,
        data={"id": ident, "at": T0, "d": Decimal("1.50"), "t": (1, 2)}, created_at=T0,
    )
    assert record.data == {
        "id": str(ident), "at": "2024-05-01T10:00:00.123456Z", "d": "1.50", "t": [1, 2],
    }


@pytest.mark.parametrize(
    "data",
    [{"x": 1.5}, {"x": float("nan")}, {"x": 1.0}, {1: "a"}, {"x": "nul\x00"}, ["not", "dict"]],
)
def test_unverifiable_data_is_refused(data):
    with pytest.raises(AuditDataError):
        make_record(
            seq=1, prev_hash=GENESIS_HASH, entity="e", entity_id="1", action="x", actor=None,
            data=data, created_at=T0,
        )


def test_naive_timestamps_are_refused():
    with pytest.raises(AuditDataError):
        make_record(
            seq=1, prev_hash=GENESIS_HASH, entity="e", entity_id="1", action="x", actor=None,
            data={}, created_at=datetime(2024, 1, 1),  # noqa: DTZ001
        )


# --- verification -------------------------------------------------------------------------


def test_intact_chain_verifies():
    records = build_chain(10)
    result = verify_chain(records, head_of(records))
    assert result.ok and result.checked == 10
    assert result.first_broken_seq is None and result.reason is None
    assert result.to_dict() == {"ok": True, "checked": 10, "first_broken_seq": None, "reason": None}


def test_empty_chain_verifies():
    assert verify_chain([], ChainHead(0, GENESIS_HASH)).ok


def test_altered_row_is_named():
    records = build_chain(10)
    records[4] = replace(records[4], data={**records[4].data, "amount": 1})
    result = verify_chain(records, head_of(records))
    assert not result.ok
    assert result.first_broken_seq == 5
    assert result.checked == 4
    assert "altered" in result.reason


def test_altered_and_rehashed_row_breaks_the_next_link():
    records = build_chain(10)
    records[4] = rehash(replace(records[4], actor="mallory"))
    result = verify_chain(records, head_of(build_chain(10)))
    assert result.first_broken_seq == 6
    assert "prev_hash" in result.reason


def test_removed_row_is_named():
    records = build_chain(10)
    del records[3]  # seq 4
    result = verify_chain(records, head_of(records))
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "missing" in result.reason


def test_removed_first_row_is_named():
    records = build_chain(5)[1:]
    result = verify_chain(records, head_of(records))
    assert result.first_broken_seq == 1


def test_removed_row_with_renumbering_is_caught():
    records = build_chain(10)
    del records[3]
    renumbered = records[:3] + [replace(r, seq=r.seq - 1) for r in records[3:]]
    result = verify_chain(renumbered, head_of(renumbered))
    assert result.first_broken_seq == 4
    assert not result.ok


def test_removed_tail_is_caught_by_the_head():
    full = build_chain(10)
    result = verify_chain(full[:8], head_of(full))
    assert not result.ok
    assert result.first_broken_seq == 9
    assert "missing" in result.reason


def test_head_mismatch_is_caught():
    records = build_chain(3)
    result = verify_chain(records, ChainHead(3, "f" * 64))
    assert not result.ok and result.first_broken_seq == 3


def test_rows_past_the_head_are_ignored():
    records = build_chain(6)
    assert verify_chain(records, head_of(records[:4])).ok


def test_reordered_rows_are_caught():
    records = build_chain(10)
    records[3], records[4] = records[4], records[3]
    result = verify_chain(records, head_of(build_chain(10)))
    assert not result.ok
    assert result.first_broken_seq == 4


def test_swapped_contents_keeping_seq_are_caught():
    records = build_chain(10)
    a, b = records[3], records[4]
    records[3] = replace(b, seq=a.seq, prev_hash=a.prev_hash, hash=a.hash)
    records[4] = replace(a, seq=b.seq, prev_hash=b.prev_hash, hash=b.hash)
    result = verify_chain(records, head_of(records))
    assert result.first_broken_seq == 4


def test_inserted_row_is_caught():
    records = build_chain(10)
    forged = make_record(
        seq=5, prev_hash=records[3].hash, entity="payout", entity_id="p", action="requested",
        actor="mallory", data={"amount": 10**9}, created_at=T0,
    )
    tampered = records[:4] + [forged] + records[4:]
    result = verify_chain(tampered, head_of(records))
    # seq 5 appears twice: the original 5 no longer links to the forged one.
    assert not result.ok
    assert result.first_broken_seq in (5, 6)


def test_duplicate_seq_is_caught():
    records = build_chain(5)
    tampered = records[:3] + [records[2]] + records[3:]
    result = verify_chain(tampered, head_of(records))
    assert not result.ok and result.first_broken_seq == 4
    assert "out of order" in result.reason


def test_verifier_streams_and_stops_at_first_break():
    records = build_chain(5)
    records[1] = replace(records[1], entity="x")
    verifier = ChainVerifier()
    assert verifier.feed(records[0]) is True
    assert verifier.feed(records[1]) is False
    assert verifier.feed(records[2]) is False  # stays broken
    assert verifier.finish().first_broken_seq == 2
