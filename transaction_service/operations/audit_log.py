"""The transparency log's background work (DESIGN.md §9): sequence committed entries,
sign a checkpoint of the tree every few seconds, and have the witness cosign it.

Run by the `audit-log` worker each tick and by `python -m transaction_service
audit-checkpoint` on demand. Without a signing key configured it only sequences.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from servicekit import tlog

from ..clients.witness import WitnessClient, WitnessUnavailable
from ..config import Config
from ..context import Context
from ..store import audit as audit_store
from ..store import audit_checkpoints

log = logging.getLogger("transaction.audit")


def _read_vkeys(path: str) -> list[tlog.Verifier]:
    if not path:
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [tlog.Verifier.parse(line) for line in lines if line.strip()
            and not line.startswith("#")]


@lru_cache(maxsize=8)
def _signer(origin: str, key_file: str) -> tlog.Signer | None:
    if not key_file:
        return None
    return tlog.Signer.from_pem(origin, Path(key_file).read_bytes())


@dataclass(frozen=True)
class Keys:
    """The public keys a verifier needs: the log's (current and retired) and the
    witnesses'."""

    origin: str
    log: tuple[tlog.Verifier, ...]
    witnesses: tuple[tlog.Verifier, ...]


def signer(config: Config) -> tlog.Signer | None:
    return _signer(config.audit_log_origin, config.audit_log_key_file)


def keys(config: Config) -> Keys:
    log_keys = _read_vkeys(config.audit_log_vkeys_file)
    own = signer(config) if not log_keys else None
    if own is not None:
        log_keys = [own.verifier]
    return Keys(config.audit_log_origin, tuple(log_keys),
                tuple(_read_vkeys(config.audit_witness_vkeys_file)))


def sequence_all(ctx: Context) -> int:
    total = 0
    while True:
        with ctx.database.transaction() as cursor:
            done = audit_store.sequence(cursor)
        total += done
        if done < audit_store.BATCH_SIZE:
            return total


def sign_checkpoint(ctx: Context, *, force: bool = False) -> dict | None:
    """Sign the current tree head if it grew (and the last checkpoint is older than the
    interval, unless `force`). Returns the new checkpoint row, or None."""
    key = signer(ctx.config)
    if key is None:
        return None
    with ctx.database.transaction() as cursor:
        size = audit_store.tree_size(cursor)
        last = audit_checkpoints.latest(cursor)
        if last is not None:
            if last["tree_size"] >= size:
                return None
            age = (datetime.now(UTC) - last["created_at"]).total_seconds()
            if not force and age < ctx.config.audit_checkpoint_interval_seconds:
                return None
        root_hash = audit_store.root(cursor, size)
        body = tlog.Checkpoint(ctx.config.audit_log_origin, size, root_hash).body()
        note = key.sign_note(body)
        if not audit_checkpoints.insert(cursor, tree_size=size, root_hash=root_hash, note=note):
            return None
        return audit_checkpoints.get(cursor, size)


def _witness(ctx: Context) -> WitnessClient:
    return WitnessClient(ctx.config.storefront_url, ctx.config.storefront_internal_token,
                         timeout_seconds=ctx.config.storefront_timeout_seconds)


def submit_to_witness(ctx: Context, client: WitnessClient | None = None) -> str:
    """Have the witness cosign the latest checkpoint; returns what happened ("cosigned",
    "refused", "unavailable", "nothing")."""
    witness_keys = keys(ctx.config).witnesses
    with ctx.database.transaction() as cursor:
        latest = audit_checkpoints.latest(cursor)
        cosigned = audit_checkpoints.latest_cosigned(cursor)
    if latest is None or latest["cosigned_note"] is not None:
        return "nothing"
    client = client or _witness(ctx)
    old_size = cosigned["tree_size"] if cosigned else 0
    for _attempt in range(2):
        with ctx.database.transaction() as cursor:
            proof = audit_store.consistency_proof(cursor, old_size, latest["tree_size"])
        try:
            answer = client.add_checkpoint(old_size, proof, latest["note"])
        except WitnessUnavailable as exc:
            log.warning("witness unavailable", extra={"error": str(exc)})
            return "unavailable"
        if (answer.status == 409 and answer.witness_size is not None
                and answer.witness_size != old_size
                and 0 <= answer.witness_size <= latest["tree_size"]):
            old_size = answer.witness_size  # we lost track of what it cosigned: prove from there
            continue
        break
    if answer.status == 200 and answer.cosignature:
        cosigned_note = tlog.add_signature_lines(latest["note"], answer.cosignature)
        try:
            note = tlog.parse_note(cosigned_note)
            for verifier in witness_keys:
                tlog.verify_cosignature(note, verifier)
        except tlog.NoteError as exc:
            log.error("witness cosignature does not verify", extra={"error": str(exc)})
            return "refused"
        with ctx.database.transaction() as cursor:
            audit_checkpoints.record_cosigned(cursor, latest["tree_size"], cosigned_note)
        return "cosigned"
    detail = f"witness answered {answer.status}: {answer.detail}"
    log.error("witness refused the checkpoint",
              extra={"tree_size": latest["tree_size"], "old_size": old_size,
                     "status": answer.status, "detail": answer.detail})
    with ctx.database.transaction() as cursor:
        audit_checkpoints.record_refusal(cursor, latest["tree_size"], detail)
    return "refused"


_last_submission = {"at": 0.0}


def step(ctx: Context, *, force: bool = False) -> int:
    """One tick of the audit-log worker."""
    handled = sequence_all(ctx)
    if sign_checkpoint(ctx, force=force) is not None:
        handled += 1
        _last_submission["at"] = 0.0
    # An uncosigned checkpoint (the witness was down or refused) is retried each interval.
    now = time.monotonic()
    if force or now - _last_submission["at"] >= ctx.config.audit_checkpoint_interval_seconds:
        _last_submission["at"] = now
        if signer(ctx.config) is not None and submit_to_witness(ctx) == "cosigned":
            handled += 1
    return handled
