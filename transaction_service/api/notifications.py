"""`POST /api/v1/payments/notifications/{provider}`: the provider's signed callbacks."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..operations.notifications import handle_notification
from .context import ctx
from .docs import problems
from .schemas import NotificationAckSchema, NotificationSchema

blp = Blueprint("payments", __name__, url_prefix="/api/v1/payments",
                description="Payment provider notifications (no JWT; signed by the provider).")


@blp.route("/notifications/<string(maxlength=32):provider>", methods=["POST"])
@blp.arguments(
    NotificationSchema(),
    example={
        "order_id": "0b6f3c52-7a3e-4d8e-9d43-2f9a1c7e5b10",
        "transaction_id": "9aed5972-5b6a-401e-894b-a32c91ed1a3a",
        "transaction_status": "settlement",
        "status_code": "200",
        "gross_amount": "370000.00",
        "payment_type": "bank_transfer",
        "fraud_status": "accept",
        "signature_key": "hex(SHA512(order_id + status_code + gross_amount + server_key))",
    },
)
@blp.response(200, NotificationAckSchema)
@problems(blp, 401, 404, 409, 422,
          s401="Missing or wrong `signature_key`; nothing was changed.",
          s404="Unknown provider or order.",
          s409="The order is still being placed; the provider should retry.",
          s422="Malformed notification, or gross_amount differs from the order total.")
def notify(body, provider):
    """Midtrans-compatible notification. Duplicates and out-of-order statuses are
    acknowledged (200) without changing anything."""
    return handle_notification(ctx(), provider, body)
