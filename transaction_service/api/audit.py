"""The transparency log's public face (DESIGN.md §9): the latest cosigned checkpoint, the
verifier keys, consistency proofs (anyone: they are hashes and sizes), one entry with its
inclusion proof (admins: entries name buyers and amounts), and an order's own audit trail
with proofs (its buyer, its shop's seller, admins; anyone else 404).

Hashes and leaves are base64; a leaf is the entry's canonical JSON (sorted keys, no
spaces, UTF-8). Everything here can be checked offline with `python -m
transaction_service audit-verify --checkpoint <file>`.
"""

from __future__ import annotations

import base64

from flask_smorest import Blueprint

from servicekit import tlog
from servicekit.problems import Problem, problem_response

from ..domain.audit import decode_leaf
from ..operations import audit_log, lifecycle
from ..store import audit as audit_store
from ..store import audit_checkpoints
from .auth import principal, principal_with_role
from .context import ctx
from .docs import problems
from .schemas import (
    CheckpointSchema,
    ConsistencyArgsSchema,
    ConsistencySchema,
    EntryArgsSchema,
    EntrySchema,
    KeysSchema,
    OrderAuditSchema,
)

blp = Blueprint("audit", __name__, url_prefix="/api/v1",
                description="Transparency log: checkpoints, proofs, verifier keys.")

_SECURITY = [{"bearerAuth": []}]


def _damaged(detail: str) -> Problem:
    return Problem(503, "Service Unavailable", f"The audit log is damaged ({detail}); an "
                   "operator must run audit-verify.", slug="audit-damaged",
                   headers={"Retry-After": "300"})


@blp.errorhandler(audit_store.MissingNode)
def _missing_node(error):  # a stored node gone: tampering or a broken restore
    return problem_response(_damaged(str(error)))


def _no_checkpoint() -> Problem:
    return Problem(404, "Not Found", "No cosigned checkpoint yet; the log signs one every "
                   "few seconds.", slug="no-checkpoint", headers={"Retry-After": "5"})


def _b64(items):
    return [base64.b64encode(x).decode("ascii") for x in items]


def _entry(cursor, row: dict, size: int | None) -> dict:
    if row["leaf"] is None:
        raise _damaged(f"entry {row['seq']} cannot be encoded")
    index = row["leaf_index"]
    proof = None
    if index is not None and size is not None and index < size:
        proof = _b64(audit_store.inclusion_proof(cursor, index, size))
    return {"index": index, "tree_size": size if proof is not None else None,
            "leaf": base64.b64encode(row["leaf"]).decode("ascii"),
            "entry": decode_leaf(row["leaf"]), "inclusion_proof": proof}


@blp.route("/audit/checkpoint", methods=["GET"])
@blp.response(200, CheckpointSchema)
@problems(blp, 404, s404="No cosigned checkpoint yet.")
def checkpoint():
    """The latest checkpoint the witness cosigned. Anyone; no credentials."""
    with ctx().database.transaction() as cursor:
        row = audit_checkpoints.latest_cosigned(cursor)
    if row is None:
        raise _no_checkpoint()
    return {"checkpoint": row["cosigned_note"], "tree_size": row["tree_size"],
            "root_hash": tlog.b64(row["root_hash"]), "cosigned_at": row["cosigned_at"]}


@blp.route("/audit/keys", methods=["GET"])
@blp.response(200, KeysSchema)
def keys():
    """The verifier keys (C2SP vkeys) of the log and its witnesses. Pin them out of band:
    a verifier that trusts keys from the party it audits proves nothing."""
    found = audit_log.keys(ctx().config)
    return {"origin": found.origin, "log": [v.vkey for v in found.log],
            "witnesses": [v.vkey for v in found.witnesses]}


@blp.route("/audit/consistency", methods=["GET"])
@blp.arguments(ConsistencyArgsSchema(), location="query")
@blp.response(200, ConsistencySchema)
@problems(blp, 422, 503, s422="`from`/`to` missing, not 1 <= from <= to, or `to` beyond the tree.",
          s503="audit-damaged: a stored tree node is missing (run audit-verify).")
def consistency(args):
    """RFC 9162 consistency proof between two tree sizes. Anyone."""
    with ctx().database.transaction() as cursor:
        size = audit_store.tree_size(cursor)
        if args["to_size"] > size:
            raise Problem(422, "Unprocessable Content", f"The tree has {size} leaves.",
                          slug="validation", errors={"to": [f"must be at most {size}"]})
        proof = audit_store.consistency_proof(cursor, args["from_size"], args["to_size"])
    return {"from_size": args["from_size"], "to_size": args["to_size"], "proof": _b64(proof)}


@blp.route("/audit/entries/<int:index>", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.arguments(EntryArgsSchema(), location="query")
@blp.response(200, EntrySchema)
@problems(blp, 401, 403, 404, 422, 503, s404="No such entry in the tree (or no checkpoint yet).",
          s503="audit-damaged: the entry or a tree node cannot be read (run audit-verify).")
def entry(args, index):
    """One leaf with its RFC 9162 inclusion proof in the tree of `tree_size` (default: the
    latest cosigned checkpoint). Admins only."""
    principal_with_role("admin")
    with ctx().database.transaction() as cursor:
        size = args["tree_size"]
        if size is None:
            latest = audit_checkpoints.latest_cosigned(cursor)
            if latest is None:
                raise _no_checkpoint()
            size = latest["tree_size"]
        elif size > audit_store.tree_size(cursor):
            raise Problem(422, "Unprocessable Content", "The tree is not that large yet.",
                          slug="validation", errors={"tree_size": ["beyond the tree"]})
        if index >= size:
            raise Problem(404, "Not Found", f"Entry {index} is not in the tree of size {size}.",
                          slug="not-found")
        row = audit_store.entry_at(cursor, index)
        if row is None:
            raise Problem(404, "Not Found", f"Entry {index} is missing.", slug="not-found")
        return _entry(cursor, row, size)


@blp.route("/orders/<uuid:order_id>/audit", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.response(200, OrderAuditSchema)
@problems(blp, 401, 404, 503, s503="audit-damaged: an entry or a tree node cannot be read.")
def order_audit(order_id):
    """The order's audit entries, each with its inclusion proof in the latest cosigned
    checkpoint (entries newer than it have `index`/`inclusion_proof` null until the next
    one). The order's buyer, its shop's seller and admins; anyone else 404."""
    user = principal()
    lifecycle.get_order(ctx(), str(order_id), user)
    with ctx().database.transaction() as cursor:
        latest = audit_checkpoints.latest_cosigned(cursor)
        size = latest["tree_size"] if latest else None
        rows = audit_store.entries_for(cursor, "order", str(order_id))
        entries = [_entry(cursor, row, size) for row in rows]
    return {"order_id": str(order_id), "checkpoint": latest["cosigned_note"] if latest else None,
            "tree_size": size, "entries": entries}
