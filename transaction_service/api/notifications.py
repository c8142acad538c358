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
@blp.arguments(NotificationSchema)
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
