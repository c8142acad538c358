"""The witness catches what the marketplace's own database cannot (DESIGN.md §9).

Someone with full write access to the marketplace database *and* the log's signing key
rewrites history: edits an old entry, recomputes every leaf and node hash, and signs a
fresh checkpoint with the marketplace's own key. `audit-verify` on that database now
passes (every hash and signature is consistent, by construction); the showcase's witness,
which kept the last checkpoint it cosigned in its own database, refuses the rewritten one,
stores the refusal, logs it at ERROR and counts it in `witness_refusals_total`.

A stack of its own (no workers: the test drives `audit-checkpoint`), since it corrupts the
marketplace's log on purpose.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import psycopg2
import psycopg2.extras
import pytest
import requests

from servicekit import tlog
from transaction_service.store import audit as audit_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def witness_stack(new_stack):
    with new_stack(with_workers=False, web_concurrency=1) as stack:
        yield stack


def _cli(stack, *args) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "transaction_service", *args],
                          env=stack.env("audit-log"), capture_output=True, text=True,
                          timeout=120)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    assert lines, done.stdout + done.stderr
    return done.returncode, json.loads(lines[-1])


def _append(stack, count: int, start: int = 0) -> None:
    with psycopg2.connect(stack.dsn("transaction")) as conn, conn.cursor() as cursor:
        for i in range(start, start + count):
            audit_store.append(cursor, entity="order", entity_id=f"w{i}", action="paid",
                               actor="acc-1", data={"amount": 10_000 + i})
    conn.close()


def _refusals(stack) -> list[dict]:
    with psycopg2.connect(stack.dsn("storefront")) as conn, \
            conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        cursor.execute("SELECT * FROM witness_refusals ORDER BY id")
        rows = cursor.fetchall()
    conn.close()
    return rows


def _metric(stack, reason: str) -> float:
    text = requests.get(f"{stack.urls.storefront}/metrics", timeout=10).text
    pattern = r'^witness_refusals_total\{reason="' + re.escape(reason) + r'"\} ([0-9.e+]+)$'
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def test_whole_log_rewrite_resigned_with_the_logs_own_key_is_refused_by_the_witness(
        witness_stack):
    stack = witness_stack
    _append(stack, 9)
    code, out = _cli(stack, "audit-checkpoint")
    assert code == 0 and out["witness"] == "cosigned" and out["tree_size"] == 9, out
    _append(stack, 3, start=9)
    code, out = _cli(stack, "audit-checkpoint")
    assert code == 0 and out["tree_size"] == 12, out  # an honest append: cosigned again
    honest = requests.get(f"{stack.urls.gateway}/api/v1/audit/checkpoint", timeout=10).json()
    assert honest["tree_size"] == 12
    refused_before = _metric(stack, "inconsistent")

    # The attacker: superuser on the marketplace database, triggers off, every hash redone.
    admin = psycopg2.connect(stack.dsn("superuser", "etalase_transaction"))
    try:
        with admin.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("UPDATE audit_log SET data = '{\"amount\": 1}'"
                           " WHERE entity_id = 'w3'")
            cursor.execute("DELETE FROM audit_tree_nodes")
            cursor.execute("DELETE FROM audit_checkpoints")
            cursor.execute("UPDATE audit_log SET leaf_index = NULL")
            while audit_store.sequence(cursor):
                pass
        admin.commit()
    finally:
        admin.close()
    _append(stack, 2, start=12)  # and life goes on

    # The marketplace's own checks are satisfied: the rewrite is self-consistent.
    code, out = _cli(stack, "audit-verify")
    assert code == 0 and out["ok"], out

    # Signing the rewritten tree with the log's key and asking the witness to cosign it:
    # the log has forgotten what was cosigned (old 0), the witness says it cosigned 12
    # (409), the log proves 12 -> 14 from its rewritten tree, the witness refuses (422).
    code, out = _cli(stack, "audit-checkpoint")
    assert code == 1 and out["witness"] == "refused", out
    refusals = _refusals(stack)
    assert [r["reason"] for r in refusals][-2:] == ["old-size-mismatch", "inconsistent"]
    assert refusals[-1]["old_size"] == 12
    assert "not consistent with the one cosigned at size 12" in refusals[-1]["detail"]
    assert _metric(stack, "inconsistent") == refused_before + 1
    log_text = stack.log_path("storefront").read_text()
    assert re.search(r'"level": "ERROR".*"message": "witness refused a checkpoint".*'
                     r'"reason": "inconsistent"', log_text)

    # The rewritten checkpoint never becomes the public one, and a copied cosignature does
    # not verify on it.
    with psycopg2.connect(stack.dsn("transaction")) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT note, cosigned_note, witness_error FROM audit_checkpoints")
        (note, cosigned, error), = cursor.fetchall()
    conn.close()
    assert cosigned is None and "422" in error
    public = requests.get(f"{stack.urls.gateway}/api/v1/audit/checkpoint", timeout=10)
    assert public.status_code == 404
    keys = requests.get(f"{stack.urls.gateway}/api/v1/audit/keys", timeout=10).json()
    witness = tlog.Verifier.parse(keys["witnesses"][0])
    old_cosignature = honest["checkpoint"].rsplit("\n", 2)[-2] + "\n"
    with pytest.raises(tlog.NoteError):
        tlog.verify_cosignature(tlog.parse_note(note + old_cosignature), witness)

    # The witness kept the honest checkpoint: an auditor holding it sees the fork offline.
    proof = requests.get(f"{stack.urls.gateway}/api/v1/audit/consistency?from=12&to=14",
                         timeout=10).json()
    _, old_cp = tlog.open_checkpoint(honest["checkpoint"], [tlog.Verifier.parse(v)
                                                            for v in keys["log"]])
    _, new_cp = tlog.open_checkpoint(note, [tlog.Verifier.parse(v) for v in keys["log"]])
    with pytest.raises(tlog.ProofError):
        tlog.verify_consistency(12, 14, old_cp.root_hash, new_cp.root_hash,
                                [tlog.unb64(p) for p in proof["proof"]])


def test_witness_refuses_bad_requests_and_unsigned_checkpoints(witness_stack):
    stack = witness_stack
    url = f"{stack.urls.storefront}/internal/witness/add-checkpoint"
    token = {"X-Internal-Token": stack.secrets["internal_token"]}
    assert requests.post(url, data=b"old 0\n\nx", timeout=10).status_code == 401
    bodies = {
        b"garbage": 400,
        b"old x\n\nnote\n": 400,
        b"old 0\nnot-base64!\n\nnote\n": 400,
        b"\xff\xfe": 400,
        b"old 0\n\norigin\n1\nAAAA\n\n\xe2\x80\x94 someone AAAAAAAA\n": 403,
    }
    for body, status in bodies.items():
        resp = requests.post(url, data=body, headers=token, timeout=10)
        assert resp.status_code == status, (body, resp.text)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    # Through the gateway the witness does not exist.
    assert requests.post(f"{stack.urls.gateway}/internal/witness/add-checkpoint",
                         data=b"x", timeout=10).status_code == 404
