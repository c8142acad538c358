"""The witness's rule (DESIGN.md §9), pure: cosign a checkpoint of the marketplace's log
only if the log signed it and it is consistent with the largest checkpoint already
cosigned. The first checkpoint is trusted on first use (there is nothing to compare).

The request is C2SP tlog-witness's add-checkpoint body: `old <size>`, one base64 proof hash
per line, a blank line, the signed checkpoint note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from servicekit import tlog

MAX_PROOF_LINES = 128


class Refusal(Exception):
    """Why a checkpoint is not cosigned: an HTTP status, a problem slug, a detail and (for a
    conflict) the size the witness has cosigned."""

    def __init__(self, status: int, reason: str, detail: str, tree_size: int | None = None):
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.tree_size = tree_size


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str


@dataclass(frozen=True)
class Cosigned:
    """The largest checkpoint cosigned so far for the log."""

    tree_size: int
    root_hash: bytes


def parse_request(body: str) -> AddCheckpoint:
    head, sep, note = body.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines:
        raise Refusal(400, "malformed", "expected `old <size>`, proof lines, a blank line "
                                        "and the checkpoint")
    match = re.fullmatch(r"old (0|[1-9][0-9]{0,18})", lines[0])
    if not match:
        raise Refusal(400, "malformed", "the first line must be `old <size>`")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise Refusal(400, "malformed", "too many proof lines")
    try:
        proof = tuple(tlog.unb64(line, size=tlog.HASH_SIZE, what="a proof line")
                      for line in lines[1:])
    except tlog.ProofError as exc:
        raise Refusal(400, "malformed", str(exc)) from None
    return AddCheckpoint(int(match.group(1)), proof, note)


def evaluate(request: AddCheckpoint, *, origin: str, log_verifiers: Iterable[tlog.Verifier],
             cosigned: Cosigned | None) -> tlog.Checkpoint:
    """The checkpoint to cosign, or Refusal."""
    try:
        _, checkpoint = tlog.open_checkpoint(request.note, log_verifiers, origin)
    except tlog.NoteError as exc:
        raise Refusal(403, "bad-signature", f"not a checkpoint signed by the log: {exc}") \
            from None
    known = cosigned.tree_size if cosigned else 0
    if request.old_size != known:
        raise Refusal(409, "old-size-mismatch",
                      f"the proof starts at size {request.old_size}, but the largest "
                      f"checkpoint cosigned is of size {known}", tree_size=known)
    if checkpoint.size < known:
        raise Refusal(400, "rollback", f"the checkpoint (size {checkpoint.size}) is smaller "
                                       f"than one already cosigned (size {known})")
    if cosigned is None:
        if request.proof:
            raise Refusal(422, "inconsistent", "a proof from the empty tree must be empty")
        return checkpoint
    try:
        tlog.verify_consistency(cosigned.tree_size, checkpoint.size, cosigned.root_hash,
                                checkpoint.root_hash, list(request.proof))
    except tlog.ProofError as exc:
        raise Refusal(422, "inconsistent",
                      f"the checkpoint of size {checkpoint.size} is not consistent with the "
                      f"one cosigned at size {cosigned.tree_size}: {exc}") from None
    return checkpoint
