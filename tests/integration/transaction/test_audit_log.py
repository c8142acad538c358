"""The audit log's Merkle tree against a real Postgres (DESIGN.md §9): the migration of the
old hash chain, the sequencer, proofs served from stored nodes, and tampering detected by
`audit-verify` (edit, delete, reorder, truncate). The whole-log rewrite re-signed with the
log's own key passes these checks by construction; the witness catches it
(tests/integration/test_audit_witness.py)."""

from __future__ import annotations

import json
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scratch import ScratchDatabase, dsns_from

from servicekit import migrations, tlog
from transaction_service import MIGRATIONS_DIR
from transaction_service.domain.audit import GENESIS_HASH, leaf_bytes, make_record
from transaction_service.store import audit as audit_store
from transaction_service.store import audit_checkpoints, invariants

ORIGIN = "etalase.test/marketplace/audit"


@pytest.fixture(scope="module")
def dsns(request):
    return dsns_from(request)


@pytest.fixture
def scratch(dsns):
    db = ScratchDatabase(*dsns).create()
    yield db
    db.drop()


@pytest.fixture(scope="module")
def log_key():
    return tlog.Signer(ORIGIN, Ed25519PrivateKey.generate())


def _append(db, count: int, *, start: int = 0) -> None:
    with db.transaction() as cursor:
        for i in range(start, start + count):
            audit_store.append(cursor, entity="order", entity_id=f"o{i}", action="paid",
                               actor=f"acc-{i}", data={"amount": 1000 + i, "tags": ["a", i]})


def _sequence(db) -> int:
    with db.transaction() as cursor:
        return audit_store.sequence(cursor)


def _checkpoint(db, signer) -> dict:
    with db.transaction() as cursor:
        size = audit_store.tree_size(cursor)
        root = audit_store.root(cursor, size)
        note = signer.sign_note(tlog.Checkpoint(ORIGIN, size, root).body())
        audit_checkpoints.insert(cursor, tree_size=size, root_hash=root, note=note)
        return audit_checkpoints.get(cursor, size)


def _verify(db, signer=None, **kwargs):
    with db.transaction() as cursor:
        return audit_store.verify(cursor, log_verifiers=[signer.verifier] if signer else None,
                                  **kwargs)


def _leaves(db) -> list[bytes]:
    with db.transaction() as cursor:
        cursor.execute("SELECT * FROM audit_log WHERE leaf_index IS NOT NULL"
                       " ORDER BY leaf_index")
        return [leaf_bytes(seq=r["seq"], entity=r["entity"], entity_id=r["entity_id"],
                           action=r["action"], actor=r["actor"], data=r["data"],
                           created_at=r["created_at"]) for r in cursor.fetchall()]


# ----------------------------------------------------------------------------- migration


def _write_chain(cursor, count: int) -> list:
    """Rows exactly as the chain's append wrote them (and its head)."""
    from datetime import UTC, datetime, timedelta

    prev, records = GENESIS_HASH, []
    base = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    for seq in range(1, count + 1):
        record = make_record(seq=seq, prev_hash=prev, entity="order", entity_id=f"old{seq}",
                             action="paid", actor=None if seq % 2 else "acc-\u00e9",
                             data={"amount": seq * 10, "note": 'q"\\\n\u2014', "z": [1, {"b": 2,
                                   "a": None}], "AA": True},
                             created_at=base + timedelta(seconds=seq))
        cursor.execute(
            "INSERT INTO audit_log (seq, prev_hash, hash, entity, entity_id, action, actor,"
            " data, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
            (record.seq, record.prev_hash, record.hash, record.entity, record.entity_id,
             record.action, record.actor, json.dumps(record.data),
             record.created_at))
        prev = record.hash
        records.append(record)
    cursor.execute("ALTER TABLE audit_chain_head DISABLE TRIGGER audit_chain_head_forward")
    cursor.execute("UPDATE audit_chain_head SET seq = %s, hash = %s", (count, prev))
    cursor.execute("ALTER TABLE audit_chain_head ENABLE TRIGGER audit_chain_head_forward")
    return records


class _OldScratch(ScratchDatabase):
    """A scratch database migrated only up to 0004 (the chain schema)."""

    def create_old(self):
        real = migrations.discover

        def upto4(directory):
            return [m for m in real(directory) if m.version < 5]

        migrations.discover = upto4
        try:
            return self.create()
        finally:
            migrations.discover = real


def test_migration_verifies_the_old_chain_and_makes_its_rows_the_first_leaves(dsns):
    db = _OldScratch(*dsns).create_old()
    try:
        with db.database.transaction() as cursor:
            records = _write_chain(cursor, 5)
        applied = migrations.apply(db.database, MIGRATIONS_DIR)
        assert 5 in [m.version for m in applied]
        _append(db.database, 2)
        assert _sequence(db.database) == 8  # 5 old rows, the migration marker, 2 new
        with db.database.transaction() as cursor:
            cursor.execute("SELECT seq, leaf_index, hash, action, data FROM audit_log"
                           " ORDER BY leaf_index")
            rows = cursor.fetchall()
        assert [r["seq"] for r in rows[:5]] == [1, 2, 3, 4, 5]
        assert [r["leaf_index"] for r in rows] == list(range(8))
        assert [r["hash"] for r in rows[:5]] == [r.hash for r in records]  # kept as evidence
        assert rows[5]["action"] == "audit.chain_migrated"
        assert rows[5]["data"] == {"rows": 5, "head_hash": records[-1].hash}
        assert rows[6]["seq"] > 6
        assert _verify(db.database).ok
    finally:
        db.drop()


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_log SET data = '{\"amount\": 1}' WHERE seq = 3",
    "DELETE FROM audit_log WHERE seq = 2",
    "UPDATE audit_chain_head SET seq = 4",
])
def test_migration_refuses_a_broken_chain(dsns, tamper):
    db = _OldScratch(*dsns).create_old()
    try:
        with db.database.transaction() as cursor:
            _write_chain(cursor, 5)
        with db.tamper() as cursor:
            cursor.execute(tamper)
        with pytest.raises(Exception, match="audit chain broken"):
            migrations.apply(db.database, MIGRATIONS_DIR)
        assert db.has_table("audit_chain_head")  # nothing half-migrated
    finally:
        db.drop()


# ----------------------------------------------------------------------------- the tree


def test_sequenced_tree_matches_the_reference_and_serves_valid_proofs(scratch):
    _append(scratch.database, 13)
    assert _sequence(scratch.database) == 13
    _append(scratch.database, 8, start=13)
    assert _sequence(scratch.database) == 8
    leaves = _leaves(scratch.database)
    hashes = [tlog.leaf_hash(leaf) for leaf in leaves]
    with scratch.database.transaction() as cursor:
        for size in (1, 2, 7, 13, 16, 21):
            root = audit_store.root(cursor, size)
            assert root == tlog.root_from_leaf_hashes(hashes[:size])
            for index in range(size):
                proof = audit_store.inclusion_proof(cursor, index, size)
                tlog.verify_inclusion(index, size, hashes[index], proof, root)
            for old in range(1, size + 1):
                proof = audit_store.consistency_proof(cursor, old, size)
                tlog.verify_consistency(old, size, audit_store.root(cursor, old), root, proof)


def test_concurrent_sequencers_never_give_a_position_twice(scratch):
    _append(scratch.database, 300)
    errors = []

    def run():
        try:
            for _ in range(20):
                _sequence(scratch.database)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with scratch.database.transaction() as cursor:
        cursor.execute("SELECT count(*) AS n, max(leaf_index) AS top FROM audit_log"
                       " WHERE leaf_index IS NOT NULL")
        row = cursor.fetchone()
    assert (row["n"], row["top"]) == (300, 299)
    assert _verify(scratch.database).ok


def test_sequencer_leaves_rows_of_open_transactions_for_later(scratch):
    _append(scratch.database, 2)
    conn = scratch.connect()
    try:
        with conn.cursor() as cursor:
            audit_store.append(cursor, entity="order", entity_id="late", action="paid",
                               actor=None, data={})
            _append(scratch.database, 1, start=10)  # a later seq commits first
            assert _sequence(scratch.database) == 3
        conn.commit()
    finally:
        conn.close()
    assert _sequence(scratch.database) == 1
    with scratch.database.transaction() as cursor:
        cursor.execute("SELECT entity_id FROM audit_log ORDER BY leaf_index")
        assert [r["entity_id"] for r in cursor.fetchall()] == ["o0", "o1", "o10", "late"]
    assert _verify(scratch.database).ok


# ----------------------------------------------------------------------------- detection


@pytest.fixture
def signed_log(scratch, log_key):
    _append(scratch.database, 10)
    _sequence(scratch.database)
    _checkpoint(scratch.database, log_key)
    _append(scratch.database, 6, start=10)
    _sequence(scratch.database)
    _checkpoint(scratch.database, log_key)
    result = _verify(scratch.database, log_key)
    assert result.ok and result.checkpoints == 2 and result.tree_size == 16, result
    return scratch


def _rebuild_nodes(db, cursor) -> None:
    """What a careful attacker does after editing rows: recompute every stored node."""
    cursor.execute("DELETE FROM audit_tree_nodes")
    cursor.execute("SELECT * FROM audit_log WHERE leaf_index IS NOT NULL ORDER BY leaf_index")
    compact = tlog.CompactRange()
    for r in cursor.fetchall():
        leaf = leaf_bytes(seq=r["seq"], entity=r["entity"], entity_id=r["entity_id"],
                          action=r["action"], actor=r["actor"], data=r["data"],
                          created_at=r["created_at"])
        for level, index, value in compact.append(tlog.leaf_hash(leaf)):
            cursor.execute("INSERT INTO audit_tree_nodes VALUES (%s, %s, %s)",
                           (level, index, value))


def test_edited_entry_is_detected(signed_log, log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("UPDATE audit_log SET data = jsonb_set(data, '{amount}', '1')"
                       " WHERE leaf_index = 4")
    result = _verify(signed_log.database, log_key, batch_size=3)
    assert not result.ok and result.first_broken_index == 4
    assert "altered" in result.reason
    with signed_log.database.transaction() as cursor:
        assert any("audit chain broken" in v for v in invariants.check(cursor))


def test_edited_entry_with_recomputed_nodes_is_caught_by_the_signed_checkpoint(signed_log,
                                                                                log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("UPDATE audit_log SET actor = 'mallory' WHERE leaf_index = 12")
        _rebuild_nodes(signed_log, cursor)
    result = _verify(signed_log.database, log_key)
    assert not result.ok
    assert "checkpoint of size 16 does not match" in result.reason


def test_deleted_entry_is_detected(signed_log, log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("DELETE FROM audit_log WHERE leaf_index = 7")
    result = _verify(signed_log.database, log_key)
    assert not result.ok and result.first_broken_index == 7
    assert "missing" in result.reason


def test_deleted_entry_with_renumbered_positions_is_detected(signed_log, log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("DELETE FROM audit_log WHERE leaf_index = 7")
        cursor.execute("UPDATE audit_log SET leaf_index = leaf_index - 1 WHERE leaf_index > 7")
        _rebuild_nodes(signed_log, cursor)
    result = _verify(signed_log.database, log_key)
    assert not result.ok
    assert "signed checkpoint of size 10 does not match" in result.reason


def test_reordered_entries_are_detected(signed_log, log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("UPDATE audit_log SET leaf_index = 1000000 WHERE leaf_index = 2")
        cursor.execute("UPDATE audit_log SET leaf_index = 2 WHERE leaf_index = 3")
        cursor.execute("UPDATE audit_log SET leaf_index = 3 WHERE leaf_index = 1000000")
    result = _verify(signed_log.database, log_key)
    assert not result.ok and result.first_broken_index == 2
    assert "altered or moved" in result.reason


def test_reordered_entries_with_recomputed_nodes_are_detected(signed_log, log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("UPDATE audit_log SET leaf_index = 1000000 WHERE leaf_index = 2")
        cursor.execute("UPDATE audit_log SET leaf_index = 2 WHERE leaf_index = 3")
        cursor.execute("UPDATE audit_log SET leaf_index = 3 WHERE leaf_index = 1000000")
        _rebuild_nodes(signed_log, cursor)
    result = _verify(signed_log.database, log_key)
    assert not result.ok and "checkpoint of size 10 does not match" in result.reason


def test_truncated_log_is_detected(signed_log, log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("DELETE FROM audit_log WHERE leaf_index >= 12")
    result = _verify(signed_log.database, log_key)
    assert not result.ok
    assert "truncated" in result.reason and result.first_broken_index == 12


def test_forged_checkpoint_without_the_key_is_detected(signed_log, log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("UPDATE audit_log SET actor = 'mallory' WHERE leaf_index = 12")
        _rebuild_nodes(signed_log, cursor)
        cursor.execute("SELECT tree_size FROM audit_checkpoints WHERE tree_size = 16")
        root = audit_store.root(cursor, 16)
        forged = tlog.Signer(ORIGIN, Ed25519PrivateKey.generate()).sign_note(
            tlog.Checkpoint(ORIGIN, 16, root).body())
        cursor.execute("UPDATE audit_checkpoints SET root_hash = %s, note = %s"
                       " WHERE tree_size = 16", (root, forged))
    assert _verify(signed_log.database).ok  # without the log's public key: undetectable
    result = _verify(signed_log.database, log_key)
    assert not result.ok and "not signed by the log" in result.reason


def test_checkpoint_note_that_disagrees_with_its_row_is_detected(signed_log, log_key):
    with signed_log.tamper() as cursor:
        cursor.execute("SELECT note FROM audit_checkpoints WHERE tree_size = 10")
        note = cursor.fetchone()["note"]
        cursor.execute("UPDATE audit_checkpoints SET note = %s WHERE tree_size = 16", (note,))
    result = _verify(signed_log.database, log_key)
    assert not result.ok and "does not say what its row says" in result.reason


def test_public_proofs_from_a_damaged_tree_are_a_problem_not_a_500(signed_log):
    """A stored node deleted behind the app's back: the consistency proof that needs it is
    a 503 problem naming the damage (and audit-verify finds it)."""
    from transaction_service import create_app

    app = create_app({"database_url": signed_log.app_dsn, "db_pool_max": 2})
    try:
        client = app.test_client()
        assert client.get("/api/v1/audit/consistency?from=3&to=16").status_code == 200
        with signed_log.tamper() as cursor:
            cursor.execute("DELETE FROM audit_tree_nodes WHERE level = 0 AND index = 2")
        answer = client.get("/api/v1/audit/consistency?from=3&to=16")
        assert answer.status_code == 503, answer.text
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.json["type"].endswith("/audit-damaged")
        assert not _verify(signed_log.database).ok
    finally:
        app.extensions["database"].close()
