"""Admin refunds: partial refunds of an order, and the manual refund queue (payments the
provider cannot refund, e.g. bank-transfer VAs). Admins only (JWT role `admin`)."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..operations import refunds
from .auth import principal_with_role
from .context import ctx
from .docs import problems
from .idempotency import idempotent, read_key
from .schemas import (
    AdminRefundRequestSchema,
    CompleteManualRefundSchema,
    ManualRefundListArgsSchema,
    ManualRefundPageSchema,
    ManualRefundSchema,
)

blp = Blueprint("refunds", __name__, url_prefix="/api/v1/admin",
                description="Admins: refunds of orders and the manual refund queue.")

_SECURITY = [{"bearerAuth": []}]


@blp.route("/orders/<uuid:order_id>/refunds", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(AdminRefundRequestSchema(), example={"amount": 50000, "reason": "one item"})
@blp.response(201, ManualRefundSchema)
@problems(blp, 400, 401, 403, 404, 409, 422,
          s409="payment-not-settled, refund-exceeds-remaining or nothing-to-refund; "
               "nothing was refunded.")
@idempotent
def refund_order(body, order_id):
    """Refund part (`amount`) or the rest of a paid order: through the provider where the
    payment allows it, otherwise as a manual refund waiting for the buyer's bank account."""
    admin = principal_with_role("admin")
    return refunds.admin_refund(ctx(), str(order_id), admin, amount=body["amount"],
                                reason=body["reason"], idempotency_key=read_key())


@blp.route("/manual-refunds", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.arguments(ManualRefundListArgsSchema(), location="query")
@blp.response(200, ManualRefundPageSchema)
@problems(blp, 401, 403, 422)
def list_manual_refunds(args):
    """Manual refunds, newest first (default: the open ones), with the buyer's bank account
    in full."""
    principal_with_role("admin")
    return refunds.list_manual(ctx(), status=args["status"], cursor_token=args["cursor"],
                               limit=args["limit"])


@blp.route("/manual-refunds/<uuid:refund_id>/complete", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(CompleteManualRefundSchema(),
               example={"transfer_reference": "BCA-TRF-20240501-0001"})
@blp.response(200, ManualRefundSchema)
@problems(blp, 400, 401, 403, 404, 409, 422,
          s409="manual-refund-completed (a second completion moves nothing) or "
               "refund-account-missing.")
@idempotent
def complete_manual_refund(body, refund_id):
    """Record the bank transfer of a manual refund; the ledger moves only now
    (manual_refunds_payable -> provider_receivable)."""
    admin = principal_with_role("admin")
    return refunds.complete_manual(ctx(), str(refund_id), admin,
                                   transfer_reference=body["transfer_reference"])
