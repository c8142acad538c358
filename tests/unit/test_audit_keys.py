"""Transparency-log keys (devstack/keys.py): generated once, reused, and rotated like the
JWT keys, the retired verifier key kept so earlier checkpoints still verify; the witness's
rule (storefront_service/domain/witness.py) accepts a checkpoint signed by the new key that
extends one signed by the old."""

from __future__ import annotations

import pytest

from devstack import keys
from servicekit import tlog
from storefront_service.domain import witness

ORIGIN = keys.AUDIT_LOG_ORIGIN


def _verifiers(path):
    return [tlog.Verifier.parse(line) for line in path.read_text().splitlines() if line]


def _tree(n):
    compact, nodes = tlog.CompactRange(), {}
    for i in range(n):
        for level, index, value in compact.append(tlog.leaf_hash(f"leaf {i}".encode())):
            nodes[(level, index)] = value
    return compact.root(), (lambda level, index: nodes[(level, index)])


def test_keys_are_made_once_and_rotated_with_the_old_vkey_kept(tmp_path):
    made = keys.ensure_audit_keys(tmp_path / "log", tmp_path / "witness")
    assert made["log_key"].parent.name == "log" and made["witness_key"].parent.name == "witness"
    assert oct(made["log_key"].stat().st_mode & 0o777) == "0o600"
    first = made["log_key"].read_bytes()
    assert keys.ensure_audit_keys(tmp_path / "log", tmp_path / "witness")["log_key"
                                                                          ].read_bytes() == first
    old_signer = tlog.Signer.from_pem(ORIGIN, first)
    root8, node = _tree(8)
    old_note = old_signer.sign_note(tlog.Checkpoint(ORIGIN, 8, root8).body())

    private, vkeys = keys.ensure_note_key(tmp_path / "log", keys.AUDIT_LOG_STEM, ORIGIN,
                                          cosigner=False, rotate=True)
    assert private.read_bytes() != first
    new_signer = tlog.Signer.from_pem(ORIGIN, private.read_bytes())
    verifiers = _verifiers(vkeys)
    assert [v.vkey for v in verifiers] == [new_signer.verifier.vkey, old_signer.verifier.vkey]
    assert new_signer.verifier.key_id != old_signer.verifier.key_id  # the note says which

    # Checkpoints signed before the rotation still verify with the published keys...
    tlog.open_checkpoint(old_note, verifiers, ORIGIN)
    # ...not with the new key alone (the key id in the signature line names the old one).
    with pytest.raises(tlog.NoteError):
        tlog.open_checkpoint(old_note, verifiers[:1], ORIGIN)

    # The witness, given both keys, cosigns the new key's checkpoint that extends the old.
    root13, node13 = _tree(13)
    new_note = new_signer.sign_note(tlog.Checkpoint(ORIGIN, 13, root13).body())
    request = witness.AddCheckpoint(8, tuple(tlog.consistency_proof(8, 13, node13)), new_note)
    cosigned = witness.Cosigned(8, root8)
    checkpoint = witness.evaluate(request, origin=ORIGIN, log_verifiers=verifiers,
                                  cosigned=cosigned)
    assert checkpoint.size == 13


def test_witness_rule_refuses_rollback_fork_and_wrong_start(tmp_path):
    signer = tlog.Signer(ORIGIN, tlog.Ed25519PrivateKey.generate())
    root8, _ = _tree(8)
    root13, node13 = _tree(13)
    cosigned = witness.Cosigned(8, root8)

    def refusal(old, size, root, proof):
        note = signer.sign_note(tlog.Checkpoint(ORIGIN, size, root).body())
        with pytest.raises(witness.Refusal) as caught:
            witness.evaluate(witness.AddCheckpoint(old, tuple(proof), note), origin=ORIGIN,
                             log_verifiers=[signer.verifier], cosigned=cosigned)
        return caught.value

    assert refusal(5, 13, root13, []).status == 409  # proves from a size it never cosigned
    assert refusal(5, 13, root13, []).tree_size == 8
    assert refusal(8, 7, root13, []).reason == "rollback"
    assert refusal(8, 8, root13, []).reason == "inconsistent"  # same size, other root: fork
    forked_root, forked = _tree(14)
    assert refusal(8, 13, forked_root, tlog.consistency_proof(8, 13, forked)).reason == \
        "inconsistent"
    assert witness.evaluate(
        witness.AddCheckpoint(8, tuple(tlog.consistency_proof(8, 13, node13)),
                              signer.sign_note(tlog.Checkpoint(ORIGIN, 13, root13).body())),
        origin=ORIGIN, log_verifiers=[signer.verifier], cosigned=cosigned).size == 13


@pytest.mark.parametrize("body", ["", "old 1", "old -1\n\nx", "old 01\n\nx",
                                  "old 1\nAAAA\n\nx", "old 1\n" + "A" * 44 + "\n\nx"])
def test_witness_request_parsing_refuses_malformed_bodies(body):
    with pytest.raises(witness.Refusal) as caught:
        witness.parse_request(body)
    assert caught.value.status == 400
