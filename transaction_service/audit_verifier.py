"""The offline verifier (DESIGN.md §9): `python -m transaction_service audit-verify
--checkpoint <file>` checks answers saved from the public API with nothing but the public
keys: no database, no network, no trust in the marketplace.

    --checkpoint FILE    GET /api/v1/audit/checkpoint (its JSON, or the bare note)
    --keys FILE          GET /api/v1/audit/keys, or --log-vkey/--witness-vkey (pin them!)
    --entries FILE ...   GET /api/v1/audit/entries/{i} or GET /api/v1/orders/{id}/audit
    --previous FILE      an earlier checkpoint you kept, with
    --consistency FILE   GET /api/v1/audit/consistency?from=<its size>&to=<the new size>

It checks that the checkpoint is signed by the log and cosigned by every witness key, that
each entry's leaf is in that tree (RFC 9162 inclusion proof) and says what its decoded
`entry` says, and that the tree grew append-only from the previous checkpoint.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from servicekit import tlog

from .domain.audit import AuditDataError, decode_leaf


@dataclass
class OfflineReport:
    ok: bool = True
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.ok = False
        self.problems.append(text)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checks": self.checks, "problems": self.problems}


def _load(path: str | Path):
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _note_text(answer) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("checkpoint"), str):
        return answer["checkpoint"]
    if isinstance(answer, str):
        return answer
    raise tlog.NoteError("not a checkpoint answer")


def _entries(answer) -> list[dict]:
    if isinstance(answer, dict) and isinstance(answer.get("entries"), list):
        return answer["entries"]
    if isinstance(answer, dict) and "leaf" in answer:
        return [answer]
    raise ValueError("not an entry answer")


def verify_answers(
    *,
    checkpoint,
    log_vkeys: Iterable[str],
    witness_vkeys: Iterable[str],
    origin: str | None = None,
    entries: Iterable = (),
    previous=None,
    consistency=None,
) -> OfflineReport:
    """Check parsed API answers; see the module doc."""
    report = OfflineReport()
    try:
        log_keys = [tlog.Verifier.parse(v) for v in log_vkeys]
        witness_keys = [tlog.Verifier.parse(v) for v in witness_vkeys]
    except tlog.NoteError as exc:
        report.fail(f"keys: {exc}")
        return report
    if not log_keys:
        report.fail("keys: no log key given")
        return report
    try:
        note, current = tlog.open_checkpoint(_note_text(checkpoint), log_keys, origin)
    except tlog.NoteError as exc:
        report.fail(f"checkpoint: {exc}")
        return report
    report.checks.append(f"checkpoint of {current.origin} at size {current.size} is signed "
                         "by the log")
    if not witness_keys:
        report.fail("keys: no witness key given; an uncosigned checkpoint proves nothing "
                    "against the log itself")
    for key in witness_keys:
        try:
            when = tlog.verify_cosignature(note, key)
            report.checks.append(f"cosigned by witness {key.name} at {when}")
        except tlog.NoteError as exc:
            report.fail(f"witness: {exc}")

    for n, item in enumerate(_flatten(entries)):
        label = f"entry {item.get('index')}" if isinstance(item, dict) else f"entry #{n}"
        try:
            _check_entry(item, current)
            report.checks.append(f"{label} is in the tree of size {current.size}")
        except (tlog.ProofError, AuditDataError, ValueError, TypeError, KeyError) as exc:
            report.fail(f"{label}: {exc}")

    if previous is not None or consistency is not None:
        try:
            _, old = tlog.open_checkpoint(_note_text(previous), log_keys, current.origin)
            if not isinstance(consistency, dict):
                raise tlog.ProofError("no consistency proof answer")
            if (consistency.get("from"), consistency.get("to")) != (old.size, current.size):
                raise tlog.ProofError(f"the proof is from {consistency.get('from')} to "
                                      f"{consistency.get('to')}, not {old.size} to "
                                      f"{current.size}")
            proof = [tlog.unb64(p, size=tlog.HASH_SIZE, what="a proof hash")
                     for p in consistency.get("proof") or []]
            tlog.verify_consistency(old.size, current.size, old.root_hash, current.root_hash,
                                    proof)
            report.checks.append(f"the tree of size {current.size} extends the one of size "
                                 f"{old.size} (append-only)")
        except (tlog.NoteError, tlog.ProofError) as exc:
            report.fail(f"consistency: {exc}")
    return report


def _flatten(answers: Iterable) -> Iterable:
    for answer in answers:
        try:
            yield from _entries(answer)
        except ValueError:
            yield answer


def _check_entry(item, current: tlog.Checkpoint) -> None:
    if not isinstance(item, dict):
        raise ValueError("not an entry")
    if item.get("inclusion_proof") is None:
        raise tlog.ProofError("no inclusion proof yet (newer than the checkpoint)")
    if item.get("tree_size") != current.size:
        raise tlog.ProofError(f"proved against size {item.get('tree_size')}, not the "
                              f"checkpoint's {current.size}")
    leaf = base64.b64decode(item["leaf"], validate=True)
    if decode_leaf(leaf) != item.get("entry"):
        raise ValueError("the decoded entry does not match its leaf")
    proof = [tlog.unb64(p, size=tlog.HASH_SIZE, what="a proof hash")
             for p in item["inclusion_proof"]]
    tlog.verify_inclusion(int(item["index"]), current.size, tlog.leaf_hash(leaf), proof,
                          current.root_hash)


def run(args) -> int:
    """The CLI: files in, JSON report out, exit 0 (verified) or 1."""
    log_vkeys = list(args.log_vkey or [])
    witness_vkeys = list(args.witness_vkey or [])
    origin = None
    if args.keys:
        keys = _load(args.keys)
        if not isinstance(keys, dict):
            print(json.dumps({"ok": False, "problems": ["--keys is not a keys answer"]}))
            return 1
        log_vkeys += keys.get("log") or []
        witness_vkeys += keys.get("witnesses") or []
        origin = keys.get("origin")
    report = verify_answers(
        checkpoint=_load(args.checkpoint),
        log_vkeys=log_vkeys,
        witness_vkeys=witness_vkeys,
        origin=origin,
        entries=[_load(p) for p in args.entries or []],
        previous=_load(args.previous) if args.previous else None,
        consistency=_load(args.consistency) if args.consistency else None,
    )
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.ok else 1
