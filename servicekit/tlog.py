"""Transparency-log primitives shared by the marketplace's log and the showcase's witness
(DESIGN.md §9). Pure functions: no I/O, no Flask, no SQL.

- Merkle tree hashing exactly as RFC 9162 §2.1: leaf hash `SHA-256(0x00 || leaf)`, node
  hash `SHA-256(0x01 || left || right)`; the tree over n leaves splits at the largest power
  of two smaller than n. Inclusion and consistency proofs are produced by the RFC's
  recursive PATH / SUBPROOF definitions (§2.1.3.1, §2.1.4.1) and checked by its iterative
  verification algorithms (§2.1.3.2, §2.1.4.2).
- `CompactRange`: the roots of the perfect subtrees covering leaves [0, n), enough to append
  leaves and compute the root without reading the tree.
- C2SP signed-note (Ed25519 signatures, verifier keys), tlog-checkpoint bodies and
  tlog-cosignature `cosignature/v1` cosignatures.

It lives in servicekit because both systems need it and it holds no business rule: the
showcase must not import marketplace code (tools/compliance.py checks).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify (or cannot, being malformed)."""


# ----------------------------------------------------------------------------- hashing


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, by the RFC's recursive definition (reference, O(n))."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(root_from_leaf_hashes(hashes[:k]), root_from_leaf_hashes(hashes[k:]))


# A stored node: the root of the perfect subtree of 2**level leaves starting at leaf
# index * 2**level.
NodeId = tuple[int, int]
NodeSource = Callable[[int, int], bytes]


def perfect_nodes(size: int) -> list[NodeId]:
    """The perfect subtrees covering [0, size), largest (leftmost) first."""
    nodes = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size & (1 << level):
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


class CompactRange:
    """The perfect-subtree roots of a tree of `size` leaves (one per set bit of size)."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()):
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} "
                             f"compact-range nodes, got {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    def append(self, hash_of_leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns every node it completes as (level, index, hash),
        the leaf itself first."""
        index = self.size
        created = [(0, index, hash_of_leaf)]
        current = hash_of_leaf
        level = 0
        while index & 1:  # a right child: merge with the left sibling on the range
            left = self.hashes.pop()
            current = node_hash(left, current)
            level += 1
            index >>= 1
            created.append((level, index, current))
        self.hashes.append(current)
        self.size += 1
        return created

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            result = node_hash(left, result)
        return result


# ----------------------------------------------------------------------------- proofs


def subtree_hash(start: int, end: int, node: NodeSource) -> bytes:
    """MTH of leaves [start, end) where start is a multiple of the subtree's width
    (true of every subtree the RFC's proofs name), from stored perfect nodes."""
    n = end - start
    if n <= 0:
        raise ValueError("empty subtree")
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return node(level, start >> level)
    k = _split(n)
    return node_hash(subtree_hash(start, start + k, node), subtree_hash(start + k, end, node))


def inclusion_proof(index: int, size: int, node: NodeSource) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return path(m, start, start + k) + [subtree_hash(start + k, end, node)]
        return path(m - k, start + k, end) + [subtree_hash(start, start + k, node)]

    return path(index, 0, size)


def consistency_proof(old_size: int, new_size: int, node: NodeSource) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (empty when the sizes are equal
    or the old tree is empty)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    if old_size == 0 or old_size == new_size:
        return []

    def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [subtree_hash(start, end, node)]
        k = _split(n)
        if m <= k:
            return subproof(m, start, start + k, complete) + [subtree_hash(start + k, end, node)]
        return subproof(m - k, start + k, end, False) + [subtree_hash(start, start + k, node)]

    return subproof(old_size, 0, new_size, True)


def nodes_needed(produce: Callable[[NodeSource], object]) -> list[NodeId]:
    """The stored nodes `produce(node_source)` reads, so a store can fetch them in one
    query before producing the proof for real."""
    seen: list[NodeId] = []

    def record(level: int, index: int) -> bytes:
        if (level, index) not in seen:
            seen.append((level, index))
        return bytes(HASH_SIZE)

    produce(record)
    return seen


def _check_hashes(name: str, hashes: Iterable[bytes]) -> None:
    for h in hashes:
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofError(f"{name}: every hash must be {HASH_SIZE} bytes")


def root_from_inclusion_proof(index: int, size: int, hash_of_leaf: bytes,
                              proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root the proof leads to (ProofError when it cannot)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    _check_hashes("leaf hash", [hash_of_leaf])
    _check_hashes("proof", proof)
    fn, sn = index, size - 1
    r = hash_of_leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, hash_of_leaf: bytes, proof: Sequence[bytes],
                     root: bytes) -> None:
    """Raise ProofError unless `proof` shows leaf `index` in the tree of `size` with `root`."""
    if root_from_inclusion_proof(index, size, hash_of_leaf, proof) != root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root of "
                         f"the tree of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raise ProofError unless the tree (new_size, new_root) extends
    (old_size, old_root)."""
    _check_hashes("proof", proof)
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"a tree of {new_size} cannot extend one of {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("the proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the tree of size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("the proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the new root (size {new_size})")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, *, size: int | None = None, what: str = "value") -> bytes:
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError):
        raise ProofError(f"{what} is not base64") from None
    if size is not None and len(data) != size:
        raise ProofError(f"{what} must be {size} bytes, got {len(data)}")
    return data


# ----------------------------------------------------------------------------- signed notes

SIG_ED25519 = 0x01  # C2SP signed-note: an Ed25519 note signature
SIG_COSIGNATURE_V1 = 0x04  # C2SP tlog-cosignature: cosignature/v1 (Ed25519, timestamped)
_DASH = "\u2014"  # "—", the em dash that starts a signature line
_NAME = re.compile(r"^[^\s+]+$")


class NoteError(ValueError):
    """A note, key or signature that is malformed or does not verify."""


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A C2SP verifier key: `<name>+<hex key id>+<base64(type || public key)>`."""

    name: str
    sig_type: int
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.sig_type]) + self.public_key)}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _NAME.match(parts[0]) or not parts[0]:
            raise NoteError(f"not a verifier key: {vkey!r}")
        name, hex_id, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
            wanted = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError):
            raise NoteError(f"not a verifier key: {vkey!r}") from None
        if len(raw) != 33 or raw[0] not in (SIG_ED25519, SIG_COSIGNATURE_V1):
            raise NoteError(f"unsupported verifier key type in {vkey!r}")
        verifier = cls(name, raw[0], raw[1:])
        if verifier.key_id != wanted:
            raise NoteError(f"the key id of {vkey!r} does not match its key")
        return verifier

    def _ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


class Signer:
    """An Ed25519 signing key with its note name; `cosigner=True` for a witness key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey, *, cosigner: bool = False):
        if not _NAME.match(name):
            raise NoteError(f"a key name has no spaces or '+': {name!r}")
        self.name = name
        self._key = private_key
        self.verifier = Verifier(name, SIG_COSIGNATURE_V1 if cosigner else SIG_ED25519,
                                 _raw_public(private_key.public_key()))

    @classmethod
    def from_pem(cls, name: str, pem: bytes, *, cosigner: bool = False) -> Signer:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise NoteError("the signing key must be an Ed25519 key")
        return cls(name, key, cosigner=cosigner)

    def sign_note(self, text: str) -> str:
        """`text` (the note body, ending in a newline) with this key's signature line."""
        _check_body(text)
        signature = self._key.sign(text.encode())
        return f"{text}\n{_signature_line(self.name, self.verifier.key_id + signature)}"

    def cosign(self, body: str, timestamp: int) -> str:
        """The cosignature/v1 signature line for a checkpoint body."""
        if self.verifier.sig_type != SIG_COSIGNATURE_V1:
            raise NoteError("only a cosigner key makes cosignatures")
        signature = self._key.sign(_cosigned_message(body, timestamp))
        blob = self.verifier.key_id + struct.pack(">Q", timestamp) + signature
        return _signature_line(self.name, blob)


def _signature_line(name: str, blob: bytes) -> str:
    return f"{_DASH} {name} {b64(blob)}\n"


def _cosigned_message(body: str, timestamp: int) -> bytes:
    if not 0 <= timestamp < 2**63:
        raise NoteError("the cosignature timestamp is out of range")
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def _check_body(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or _DASH in text:
        raise NoteError("a note body is non-empty lines each ending in a newline")


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes  # after the key id (for a cosignature: timestamp || signature)

    @property
    def line(self) -> str:
        return _signature_line(self.name, self.key_id + self.signature)


@dataclass(frozen=True)
class Note:
    body: str
    signatures: tuple[NoteSignature, ...]

    @property
    def text(self) -> str:
        return self.body + "\n" + "".join(s.line for s in self.signatures)


def parse_note(text: str) -> Note:
    if not isinstance(text, str) or len(text) > 1_000_000:
        raise NoteError("a note is text")
    body, sep, rest = text.rpartition("\n\n")
    if not sep:
        raise NoteError("a signed note has a blank line before its signatures")
    body += "\n"
    _check_body(body)
    if not rest.endswith("\n"):
        raise NoteError("every signature line ends in a newline")
    signatures = []
    for line in rest[:-1].split("\n"):
        match = re.fullmatch(_DASH + r" (\S+) (\S+)", line)
        if not match:
            raise NoteError(f"malformed signature line {line!r}")
        try:
            blob = base64.b64decode(match.group(2), validate=True)
        except binascii.Error:
            raise NoteError(f"malformed signature line {line!r}") from None
        if len(blob) < 5:
            raise NoteError(f"signature too short in {line!r}")
        signatures.append(NoteSignature(match.group(1), blob[:4], blob[4:]))
    if not signatures:
        raise NoteError("a signed note has at least one signature")
    return Note(body, tuple(signatures))


def verify_note(text: str, verifiers: Iterable[Verifier]) -> Note:
    """Parse `text` and check one signature by one of `verifiers` (Ed25519 note keys),
    NoteError otherwise. Signatures by unknown keys are ignored, as the spec says."""
    note = parse_note(text)
    known = {(v.name, v.key_id): v for v in verifiers if v.sig_type == SIG_ED25519}
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        try:
            verifier._ed25519().verify(signature.signature, note.body.encode())
        except InvalidSignature:
            raise NoteError(f"the signature by {signature.name} does not verify") from None
        return note
    raise NoteError("the note carries no signature by a known key")


def verify_cosignature(note: Note, verifier: Verifier) -> int:
    """Check `verifier`'s cosignature/v1 on the note; returns its timestamp."""
    if verifier.sig_type != SIG_COSIGNATURE_V1:
        raise NoteError("not a cosigner key")
    for signature in note.signatures:
        if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
            continue
        if len(signature.signature) != 8 + 64:
            raise NoteError(f"the cosignature by {verifier.name} is malformed")
        (timestamp,) = struct.unpack(">Q", signature.signature[:8])
        try:
            verifier._ed25519().verify(signature.signature[8:],
                                       _cosigned_message(note.body, timestamp))
        except InvalidSignature:
            raise NoteError(f"the cosignature by {verifier.name} does not verify") from None
        return timestamp
    raise NoteError(f"the note carries no cosignature by {verifier.name}")


def add_signature_lines(note_text: str, lines: str) -> str:
    """A signed note with more signature lines appended (a cosignature)."""
    return note_text + lines


# ----------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size, root hash (plus extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), b64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint has an origin, a size and a root hash line")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin or not re.fullmatch(r"0|[1-9][0-9]{0,19}", size):
            raise NoteError("malformed checkpoint origin or size")
        try:
            root_hash = unb64(root, size=HASH_SIZE, what="the checkpoint root hash")
        except ProofError as exc:
            raise NoteError(str(exc)) from None
        return cls(origin, int(size), root_hash, tuple(lines[3:-1]))


def open_checkpoint(text: str, log_verifiers: Iterable[Verifier],
                    origin: str | None = None) -> tuple[Note, Checkpoint]:
    """Verify a signed checkpoint note by the log; NoteError unless it verifies and (when
    given) names `origin`."""
    verifiers = list(log_verifiers)
    note = verify_note(text, verifiers)
    checkpoint = Checkpoint.parse(note.body)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return note, checkpoint


def generate_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
