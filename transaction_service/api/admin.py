"""Operator endpoints (JWT role `admin`): audit chain verification and the ledger check."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint

from servicekit.app import ProblemSchema

from ..store import audit as audit_store
from ..store import invariants
from .auth import principal_with_role

blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/api/v1/admin",
    description="Operators only: audit log verification and ledger invariants.",
)


class AuditVerifySchema(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    checked = ma.fields.Integer(
        required=True, metadata={"description": "Rows verified before stopping."}
    )
    first_broken_seq = ma.fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Sequence number of the first altered or missing row."},
    )
    reason = ma.fields.String(allow_none=True, required=True)
    first_broken_index = ma.fields.Integer(allow_none=True, metadata={
        "description": "Tree position where the walk broke."})
    tree_size = ma.fields.Integer(metadata={"description": "Leaves in the tree."})
    checkpoints = ma.fields.Integer(metadata={
        "description": "Signed checkpoints whose root matched the recomputed tree."})
    unsequenced = ma.fields.Integer(metadata={
        "description": "Committed entries still waiting for a tree position."})


class LedgerCheckSchema(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    violations = ma.fields.List(ma.fields.String(), required=True)


def _problems(view):
    for status, description in (
        (401, "Missing or invalid bearer token."),
        (403, "Not an admin."),
    ):
        view = blp.alt_response(
            status,
            schema=ProblemSchema,
            description=description,
            content_type="application/problem+json",
        )(view)
    return view


@blp.route("/audit/verify", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], summary="Verify the audit log's Merkle tree")
@blp.response(200, AuditVerifySchema)
@_problems
def verify_audit():
    """Recomputes the whole tree from the rows and reports the first row that was altered,
    moved or removed, and any signed checkpoint it no longer matches. `ok: false` is still
    a 200: the check ran; its finding is the answer."""
    from ..operations.audit_log import keys
    from .context import ctx

    principal_with_role("admin")
    log_keys = keys(ctx().config).log or None
    with current_app.extensions["database"].transaction() as cursor:
        return audit_store.verify(cursor, log_verifiers=log_keys).to_dict()


@blp.route("/ledger/check", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], summary="Check the ledger's invariants")
@blp.response(200, LedgerCheckSchema)
@_problems
def check_ledger():
    """Every entry balances, all lines sum to zero, escrow equals paid unsettled orders,
    no shop is overdrawn, every payout has its entry, and the audit chain verifies."""
    principal_with_role("admin")
    with current_app.extensions["database"].transaction() as cursor:
        violations = invariants.check(cursor)
    return {"ok": not violations, "violations": violations}
