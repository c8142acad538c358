"""Operator endpoints (JWT role `admin`): audit chain verification and the ledger check."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..operations.audit_log import keys
from ..store import audit as audit_store
from ..store import invariants
from .auth import principal_with_role
from .context import ctx
from .docs import problems
from .schemas import AuditVerifySchema, LedgerCheckSchema

blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/api/v1/admin",
    description="Operators only: audit log verification and ledger invariants.",
)


# The 401 and 403 of every view here.
_ADMIN_PROBLEMS = {"s401": "Missing or invalid bearer token.", "s403": "Not an admin."}


@blp.route("/audit/verify", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], summary="Verify the audit log's Merkle tree")
@blp.response(200, AuditVerifySchema)
@problems(blp, 401, 403, **_ADMIN_PROBLEMS)
def verify_audit():
    """Recomputes the whole tree from the rows and reports the first row that was altered,
    moved or removed, and any signed checkpoint it no longer matches. `ok: false` is still
    a 200: the check ran; its finding is the answer."""
    principal_with_role("admin")
    log_keys = keys(ctx().config).log or None
    with ctx().database.transaction() as cursor:
        return audit_store.verify(cursor, log_verifiers=log_keys).to_dict()


@blp.route("/ledger/check", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], summary="Check the ledger's invariants")
@blp.response(200, LedgerCheckSchema)
@problems(blp, 401, 403, **_ADMIN_PROBLEMS)
def check_ledger():
    """Every entry balances, all lines sum to zero, escrow equals paid unsettled orders,
    no shop is overdrawn, every payout has its entry, and the audit chain verifies."""
    principal_with_role("admin")
    with ctx().database.transaction() as cursor:
        violations = invariants.check(cursor)
    return {"ok": not violations, "violations": violations}
