"""The transparency log's public API through the gateway (DESIGN.md §9): who may read
what (buyer, seller, other seller, other buyer, creator, admin, anonymous), bad input as
problems, and the answers checked end to end by the offline verifier."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import pytest
from security_client import SELLER2, assert_problem

from servicekit import tlog

CREATOR = "creator@etalase.test"
ADMIN = "admin@etalase.test"


def _wait_cosigned(client, covering: int, timeout: float = 60.0) -> dict:
    """The latest cosigned checkpoint once it covers `covering` leaves."""
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get("/api/v1/audit/checkpoint")
        if resp.status_code == 200 and resp.json()["tree_size"] >= covering:
            return resp.json()
        assert time.monotonic() < deadline, f"no cosigned checkpoint of {covering}: {resp.text}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def audited_order(client, buyer, seller):
    product = client.create_product(seller, stock=3)
    order = client.checkout(buyer, product["id"])
    admin = client.token(ADMIN)
    # Every committed entry gets a position within a tick; wait until a cosigned
    # checkpoint covers this order's entries.
    deadline = time.monotonic() + 60
    while True:
        body = client.get(f"/api/v1/orders/{order['id']}/audit", token=admin).json()
        if body["entries"] and all(e["inclusion_proof"] is not None for e in body["entries"]):
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.5)
    return order


def test_order_audit_is_for_its_buyer_its_seller_and_admins(client, audited_order, buyer,
                                                            seller):
    path = f"/api/v1/orders/{audited_order['id']}/audit"
    for token in (buyer, seller, client.token(ADMIN)):
        resp = client.get(path, token=token)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["order_id"] == audited_order["id"]
        actions = [e["entry"]["action"] for e in body["entries"]]
        assert actions and all(e["entry"]["entity_id"] == audited_order["id"]
                               for e in body["entries"]), actions
    _, other_buyer = client.register("buyer")
    for token in (client.token(SELLER2), other_buyer, client.token(CREATOR)):
        assert_problem(client.get(path, token=token), 404)
    assert_problem(client.get(path), 401)
    assert_problem(client.get("/api/v1/orders/not-a-uuid/audit", token=buyer), 404)


def test_entries_are_for_admins_only(client, audited_order, buyer, seller):
    cp = _wait_cosigned(client, 1)
    path = "/api/v1/audit/entries/0"
    resp = client.get(path, token=client.token(ADMIN))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["index"] == 0 and body["tree_size"] >= cp["tree_size"]
    assert json.loads(base64.b64decode(body["leaf"])) == body["entry"]
    _, other_buyer = client.register("buyer")
    for token in (buyer, seller, client.token(CREATOR), other_buyer):
        assert_problem(client.get(path, token=token), 403)
    assert_problem(client.get(path), 401)


def test_checkpoint_keys_and_consistency_are_public(client, audited_order, buyer):
    cp = _wait_cosigned(client, 1)
    keys = client.get("/api/v1/audit/keys").json()
    log_keys = [tlog.Verifier.parse(v) for v in keys["log"]]
    witnesses = [tlog.Verifier.parse(v) for v in keys["witnesses"]]
    assert log_keys and witnesses and keys["origin"]
    note, checkpoint = tlog.open_checkpoint(cp["checkpoint"], log_keys, keys["origin"])
    assert checkpoint.size == cp["tree_size"]
    tlog.verify_cosignature(note, witnesses[0])
    for token in (None, buyer, client.token(CREATOR), client.token(ADMIN)):
        for path in ("/api/v1/audit/checkpoint", "/api/v1/audit/keys",
                     f"/api/v1/audit/consistency?from=1&to={cp['tree_size']}"):
            assert client.get(path, token=token).status_code == 200, path


@pytest.mark.parametrize("query", [
    "", "from=1", "to=1", "from=x&to=2", "from=0&to=1", "from=3&to=2", "from=1&to=99999999",
    "from=-1&to=2", "from=1&to=1e3",
])
def test_bad_consistency_queries_are_problems(client, audited_order, query):
    body = assert_problem(client.get(f"/api/v1/audit/consistency?{query}"), 422)
    assert body.get("errors") or body.get("detail")


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v1/audit/entries/99999999", 404),
    ("/api/v1/audit/entries/-1", 404),
    ("/api/v1/audit/entries/abc", 404),
    ("/api/v1/audit/entries/0?tree_size=0", 422),
    ("/api/v1/audit/entries/0?tree_size=99999999", 422),
    ("/api/v1/audit/entries/0?tree_size=x", 422),
])
def test_bad_entry_requests_are_problems(client, audited_order, path, status):
    assert_problem(client.get(path, token=client.token(ADMIN)), status)


def _verify_offline(tmp_path, *, checkpoint, keys, entries=(), previous=None,
                    consistency=None) -> tuple[int, dict]:
    files = {"checkpoint": checkpoint, "keys": keys, "previous": previous,
             "consistency": consistency}
    argv = [sys.executable, "-m", "transaction_service", "audit-verify"]
    for name, answer in files.items():
        if answer is not None:
            path = tmp_path / f"{name}.json"
            path.write_text(json.dumps(answer))
            argv += [f"--{name}", str(path)]
    if entries:
        argv.append("--entries")
        for n, answer in enumerate(entries):
            path = tmp_path / f"entries-{n}.json"
            path.write_text(json.dumps(answer))
            argv.append(str(path))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(_repo())})
    return done.returncode, json.loads(done.stdout)


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def test_offline_verifier_checks_the_saved_answers(client, audited_order, buyer, seller,
                                                   tmp_path):
    """A buyer saves their order's trail, the checkpoint and the keys; later, a larger
    checkpoint and the consistency proof between the two. No database, no network, no
    configuration: only those answers."""
    keys = client.get("/api/v1/audit/keys").json()
    trail = client.get(f"/api/v1/orders/{audited_order['id']}/audit", token=buyer).json()
    old = _wait_cosigned(client, trail["tree_size"])
    old = {"checkpoint": trail["checkpoint"], "tree_size": trail["tree_size"]}
    client.checkout(buyer, client.create_product(seller, stock=1)["id"])  # the log grows
    new = _wait_cosigned(client, old["tree_size"] + 1)
    proof = client.get(f"/api/v1/audit/consistency?from={old['tree_size']}"
                       f"&to={new['tree_size']}").json()

    code, report = _verify_offline(tmp_path, checkpoint=old, keys=keys, entries=[trail])
    assert code == 0, report
    assert len([c for c in report["checks"] if "is in the tree" in c]) == len(trail["entries"])
    code, report = _verify_offline(tmp_path, checkpoint=new, keys=keys, previous=old,
                                   consistency=proof)
    assert code == 0 and any("append-only" in c for c in report["checks"]), report

    # Each lie is caught: an edited entry, a proof against another tree, a forged note,
    # a consistency proof that does not connect the two, no witness key.
    edited = json.loads(json.dumps(trail))
    entry = edited["entries"][0]
    entry["entry"]["actor"] = "mallory"
    entry["leaf"] = base64.b64encode(json.dumps(entry["entry"], sort_keys=True,
                                                separators=(",", ":")).encode()).decode()
    code, report = _verify_offline(tmp_path, checkpoint=old, keys=keys, entries=[edited])
    assert code == 1 and "does not lead to the root" in " ".join(report["problems"]), report
    code, report = _verify_offline(tmp_path, checkpoint=new, keys=keys, entries=[trail])
    assert code == 1 and "not the checkpoint's" in " ".join(report["problems"]), report
    forged = dict(new, checkpoint=new["checkpoint"].replace(f"\n{new['tree_size']}\n",
                                                            f"\n{new['tree_size'] + 5}\n", 1))
    code, report = _verify_offline(tmp_path, checkpoint=forged, keys=keys)
    assert code == 1 and "does not verify" in " ".join(report["problems"]), report
    bad_proof = dict(proof, proof=list(reversed(proof["proof"])) + [proof["proof"][0]])
    code, report = _verify_offline(tmp_path, checkpoint=new, keys=keys, previous=old,
                                   consistency=bad_proof)
    assert code == 1 and report["problems"][0].startswith("consistency"), report
    code, report = _verify_offline(tmp_path, checkpoint=old, keys=dict(keys, witnesses=[]))
    assert code == 1 and "no witness key" in " ".join(report["problems"]), report
