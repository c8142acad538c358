"""Sandbox-only helpers (no auth): the customer paying, and notification replay/inspection.

The gateway exposes these under `/sandbox/` in local and compose runs only.
"""

from __future__ import annotations

import html
import io

import segno
from flask import Response, request
from flask_smorest import Blueprint

from . import problems, provider
from .schemas import DeliveryListSchema, PaySwitchesSchema, ResendSchema, TransactionSchema

blp = Blueprint(
    "sandbox",
    __name__,
    url_prefix="/v2",
    description="Sandbox-only: play the customer paying, replay and inspect notifications.",
)


@blp.route("/<order_id>/pay", methods=["POST"])
@blp.arguments(PaySwitchesSchema(), required=False)
@blp.response(200, TransactionSchema)
@problems(blp, 409, s409="The transaction expired or was cancelled.")
def pay(switches, order_id):
    """The customer pays: pending -> settlement, and the settlement notification is queued.

    Paying an already paid transaction answers 200 and queues nothing.
    """
    switches = switches or {}
    view, _settled = provider().pay(
        order_id,
        deliver_times=switches.get("deliver_times", 1),
        stale_pending_after=switches.get("stale_pending_after", False),
    )
    return view


@blp.route("/<order_id>/pay", methods=["GET"])
@blp.doc(responses={200: {"description": "An HTML page with a Pay button."}})
def pay_page(order_id):
    """Where an e-wallet deeplink lands: a page that plays the customer's wallet app."""
    view = provider().status(order_id)
    safe = {key: html.escape(str(view.get(key, ""))) for key in
            ("order_id", "gross_amount", "payment_type", "transaction_status", "expiry_time")}
    action = html.escape(request.path)
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Payment sandbox</title></head>
<body>
<h1>Payment sandbox</h1>
<p>Order <code>{safe['order_id']}</code>: IDR {safe['gross_amount']} by {safe['payment_type']}</p>
<p>Status: <strong>{safe['transaction_status']}</strong> (expires {safe['expiry_time']} WIB)</p>
<form method="post" action="{action}"><button type="submit">Pay</button></form>
</body></html>"""
    return Response(body, mimetype="text/html")


@blp.route("/<any(gopay, qris):payment_type>/<transaction_id>/qr-code", methods=["GET"])
@blp.doc(responses={200: {"description": "The QR code (PNG) of a GoPay or QRIS payment."}})
def qr_code(payment_type, transaction_id):
    """The `generate-qr-code` action: a QR code the customer's wallet app scans (here it
    encodes the pay page)."""
    target = provider().qr_payload(payment_type, transaction_id)
    image = io.BytesIO()
    segno.make(target, error="m").save(image, kind="png", scale=6)
    return Response(image.getvalue(), mimetype="image/png")


@blp.route("/<order_id>/notifications", methods=["GET"])
@blp.response(200, DeliveryListSchema)
def notifications(order_id):
    """Every notification delivery of the order with its attempts and answers."""
    return provider().deliveries(order_id)


@blp.route("/<order_id>/notifications/resend", methods=["POST"])
@blp.response(202, ResendSchema)
def resend(order_id):
    """Queue every notification of the order again, in shuffled order (replay tests)."""
    return provider().resend(order_id)
