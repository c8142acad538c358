"""servicekit.tlog against published vectors: RFC 6962/9162 Merkle trees (the vectors of
transparency-dev/merkle, which come from Certificate Transparency's reference
implementation), and C2SP signed-note / tlog-checkpoint / tlog-cosignature shapes."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit import tlog

h = bytes.fromhex

LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f")]
ROOTS = [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (leaf index 0-based, tree size, proof)
INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def _tree(leaves):
    """Every perfect node of the tree over `leaves`, as the log's store keeps them."""
    nodes = {}
    compact = tlog.CompactRange()
    for leaf in leaves:
        for level, index, value in compact.append(tlog.leaf_hash(leaf)):
            nodes[(level, index)] = value
    return compact, lambda level, index: nodes[(level, index)]


def test_empty_tree_root_is_sha256_of_nothing():
    assert tlog.root_from_leaf_hashes([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert tlog.CompactRange().root() == tlog.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_vectors(size):
    hashes = [tlog.leaf_hash(leaf) for leaf in LEAVES[:size]]
    assert tlog.root_from_leaf_hashes(hashes) == ROOTS[size - 1]
    compact, _ = _tree(LEAVES[:size])
    assert compact.root() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_and_verify(index, size, proof):
    _, node = _tree(LEAVES[:size])
    expected = [h(p) for p in proof]
    assert tlog.inclusion_proof(index, size, node) == expected
    tlog.verify_inclusion(index, size, tlog.leaf_hash(LEAVES[index]), expected,
                          ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_and_verify(old, new, proof):
    _, node = _tree(LEAVES[:new])
    expected = [h(p) for p in proof]
    assert tlog.consistency_proof(old, new, node) == expected
    tlog.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], expected)


SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def _corrupt_inclusion(index, size, proof, root, leaf):
    yield index - 1, size, proof, root, leaf
    yield index + 1, size, proof, root, leaf
    yield index ^ 2, size, proof, root, leaf
    yield index, size * 2, proof, root, leaf
    yield index, size // 2, proof, root, leaf
    yield index, size, proof, root, b"WrongLeaf"
    yield index, size, proof, tlog.EMPTY_ROOT, leaf
    yield index, size, proof, SOME_HASH, leaf
    yield index, size, [*proof, b""], root, leaf
    yield index, size, [*proof, root], root, leaf
    yield index, size, [b"", *proof], root, leaf
    yield index, size, [root, *proof], root, leaf
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        yield index, size, flipped, root, leaf
    if proof:
        yield index, size, proof[:-1], root, leaf
    if len(proof) > 1:
        yield index, size, [proof[0], SOME_HASH, *proof[1:]], root, leaf


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_corrupted_inclusion_proofs_fail(index, size, proof):
    proof = [h(p) for p in proof]
    leaf = tlog.leaf_hash(LEAVES[index])
    for probe in _corrupt_inclusion(index, size, proof, ROOTS[size - 1], leaf):
        with pytest.raises(tlog.ProofError):
            tlog.verify_inclusion(*probe[:2], probe[4], probe[2], probe[3])


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_fail(old, new, proof):
    proof = [h(p) for p in proof]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        (old - 1, new, r1, r2, proof), (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof), (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof), (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof), (old, new, r2, r1, proof),
        (old, new, r1, r2, []), (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]), (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]), (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]), (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for probe in probes:
        if probe[0] == probe[1] and probe[2] == probe[3] and not probe[4]:
            continue  # trivially consistent
        with pytest.raises(tlog.ProofError):
            tlog.verify_consistency(*probe)


@pytest.mark.parametrize(("old", "new", "r1", "r2", "proof", "ok"), [
    (0, 0, b"a", b"b", [], False),
    (1, 1, b"a", b"b", [], False),
    (0, 0, b"a", b"a", [], True),
    (0, 1, b"a", b"b", [], True),
    (1, 1, b"b", b"b", [], True),
    (1, 0, b"a", b"b", [], False),
    (2, 1, b"a", b"b", [], False),
    (1, 2, b"a", b"b", [], False),
    (0, 0, tlog.EMPTY_ROOT, tlog.EMPTY_ROOT, [tlog.EMPTY_ROOT], False),
    (0, 1, tlog.EMPTY_ROOT, tlog.EMPTY_ROOT, [tlog.EMPTY_ROOT], False),
    (1, 1, tlog.EMPTY_ROOT, tlog.EMPTY_ROOT, [tlog.EMPTY_ROOT], False),
])
def test_consistency_edge_cases(old, new, r1, r2, proof, ok):
    if ok:
        tlog.verify_consistency(old, new, r1, r2, proof)
    else:
        with pytest.raises(tlog.ProofError):
            tlog.verify_consistency(old, new, r1, r2, proof)


def test_every_proof_of_a_larger_tree_round_trips():
    leaves = [f"leaf {i}".encode() for i in range(70)]
    hashes = [tlog.leaf_hash(leaf) for leaf in leaves]
    _, node = _tree(leaves)
    for size in range(1, 71):
        root = tlog.root_from_leaf_hashes(hashes[:size])
        for index in range(size):
            tlog.verify_inclusion(index, size, hashes[index],
                                  tlog.inclusion_proof(index, size, node), root)
        for old in range(1, size + 1):
            tlog.verify_consistency(old, size, tlog.root_from_leaf_hashes(hashes[:old]), root,
                                    tlog.consistency_proof(old, size, node))


def test_nodes_needed_lists_what_a_proof_reads():
    _, node = _tree(LEAVES[:7])
    needed = tlog.nodes_needed(lambda source: tlog.inclusion_proof(2, 7, source))
    read = []
    tlog.inclusion_proof(2, 7, lambda level, index: read.append((level, index)) or
                         node(level, index))
    assert needed == list(dict.fromkeys(read))


# ----------------------------------------------------------------------------- notes


def test_note_key_id_and_vkey_follow_the_spec():
    signer = tlog.Signer("example.com/log", Ed25519PrivateKey.generate())
    public = signer.verifier.public_key
    expected_id = hashlib.sha256(b"example.com/log\n\x01" + public).digest()[:4]
    assert signer.verifier.key_id == expected_id
    name, hex_id, encoded = signer.verifier.vkey.split("+", 2)
    assert (name, hex_id) == ("example.com/log", expected_id.hex())
    assert base64.b64decode(encoded) == b"\x01" + public
    assert tlog.Verifier.parse(signer.verifier.vkey) == signer.verifier


def test_signed_checkpoint_verifies_and_tampering_fails():
    signer = tlog.Signer("example.com/log", Ed25519PrivateKey.generate())
    body = tlog.Checkpoint("example.com/log", 8, ROOTS[7]).body()
    assert body == f"example.com/log\n8\n{tlog.b64(ROOTS[7])}\n"
    text = signer.sign_note(body)
    lines = text.split("\n")
    assert lines[3] == "" and lines[4].startswith("\u2014 example.com/log ")
    assert len(base64.b64decode(lines[4].split(" ")[2])) == 4 + 64
    note, checkpoint = tlog.open_checkpoint(text, [signer.verifier], "example.com/log")
    assert (checkpoint.size, checkpoint.root_hash) == (8, ROOTS[7])
    with pytest.raises(tlog.NoteError):
        tlog.open_checkpoint(text.replace("\n8\n", "\n9\n"), [signer.verifier])
    with pytest.raises(tlog.NoteError):  # another key of the same name
        tlog.open_checkpoint(text, [tlog.Signer("example.com/log",
                                                Ed25519PrivateKey.generate()).verifier])
    with pytest.raises(tlog.NoteError):
        tlog.open_checkpoint(text, [signer.verifier], "example.com/other")


def test_cosignature_v1_message_and_verification():
    key = Ed25519PrivateKey.generate()
    witness = tlog.Signer("witness.example/w1", key, cosigner=True)
    public = witness.verifier.public_key
    assert witness.verifier.key_id == hashlib.sha256(
        b"witness.example/w1\n\x04" + public).digest()[:4]
    log = tlog.Signer("example.com/log", Ed25519PrivateKey.generate())
    body = tlog.Checkpoint("example.com/log", 3, ROOTS[2]).body()
    line = witness.cosign(body, 1679315147)
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4] == witness.verifier.key_id
    assert int.from_bytes(blob[4:12], "big") == 1679315147
    # the signature is over "cosignature/v1\ntime <t>\n" + the checkpoint body
    key.public_key().verify(blob[12:], b"cosignature/v1\ntime 1679315147\n" + body.encode())
    cosigned = tlog.parse_note(log.sign_note(body) + line)
    assert tlog.verify_cosignature(cosigned, witness.verifier) == 1679315147
    forged = tlog.parse_note(log.sign_note(body.replace("\n3\n", "\n4\n")) + line)
    with pytest.raises(tlog.NoteError):
        tlog.verify_cosignature(forged, witness.verifier)


@pytest.mark.parametrize("text", [
    "", "origin\n1\n", "origin\n1\nroot\n\n", "origin\n1\nroot\n\n\u2014 x\n",
    "origin\n1\nroot\n\n\u2014 name !!!notbase64\n", "a\n\nb\n\n\u2014 n AAAAAAAA\n",
])
def test_malformed_notes_are_refused(text):
    with pytest.raises(tlog.NoteError):
        tlog.Checkpoint.parse(tlog.parse_note(text).body)


def test_vkey_with_a_wrong_key_id_is_refused():
    vkey = tlog.Signer("n", Ed25519PrivateKey.generate()).verifier.vkey
    name, _, rest = vkey.split("+", 2)
    with pytest.raises(tlog.NoteError):
        tlog.Verifier.parse(f"{name}+00000000+{rest}")


# ----------------------------------------------------------------------------- interop
# Published notes from other implementations: Go's golang.org/x/mod/sumdb/note example
# key and signature, and a real checkpoint of Certificate Transparency's staging log
# (Ed25519 note signature) cosigned by a public witness (cosignature/v1).

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1" \
    "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

CT_CHECKPOINT = (
    "arche2025h1.staging.ct.transparency.dev\n1432088532\n"
    "U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n\n"
    "\u2014 arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYL"
    "fQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n"
    "\u2014 arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27"
    "lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n"
    "\u2014 remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+a"
    "VCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n"
)
CT_LOG_VKEY = ("arche2025h1.staging.ct.transparency.dev+ba2f06c0+"
               "AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f")
CT_WITNESS_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"


def test_go_sumdb_note_vector_is_reproduced_byte_for_byte():
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == tlog.SIG_ED25519
    signer = tlog.Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(raw[1:]))
    assert signer.verifier.vkey == GO_VKEY
    assert signer.sign_note(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic
    assert tlog.verify_note(GO_NOTE, [tlog.Verifier.parse(GO_VKEY)]).body == GO_TEXT
    with pytest.raises(tlog.NoteError):
        tlog.verify_note(GO_NOTE.replace("cryptography", "cryptographY"),
                         [tlog.Verifier.parse(GO_VKEY)])


def test_a_real_ct_checkpoint_and_its_witness_cosignature_verify():
    log_key, witness_key = tlog.Verifier.parse(CT_LOG_VKEY), tlog.Verifier.parse(CT_WITNESS_VKEY)
    note, checkpoint = tlog.open_checkpoint(CT_CHECKPOINT, [log_key],
                                            "arche2025h1.staging.ct.transparency.dev")
    assert checkpoint.size == 1432088532
    assert tlog.verify_cosignature(note, witness_key) > 1_700_000_000
    clobbered = tlog.parse_note(CT_CHECKPOINT.replace("\n1432088532\n", "\n42\n"))
    with pytest.raises(tlog.NoteError):
        tlog.verify_cosignature(clobbered, witness_key)
    with pytest.raises(tlog.NoteError):
        tlog.verify_note(clobbered.text, [log_key])
