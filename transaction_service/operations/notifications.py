"""Applying payment provider notifications (DESIGN.md §7).

Order of checks: signature (401, nothing stored) -> amount format -> the order exists
(404) -> the amount equals the order total (422, logged, nothing stored) -> dedup insert
on (provider, transaction_id, transaction_status) -> the state change, in the same
transaction as the insert. Anything that does not move the order forward (duplicates,
`pending` after `settlement`, `expire` after payment) is answered 200 so the provider
stops retrying.
"""

from __future__ import annotations

import logging

from servicekit.problems import Problem

from ..context import Context
from ..domain.money import InvalidAmount, parse_provider_amount
from ..domain.orders import OrderStatus
from ..store import notifications as notification_store
from ..store import orders as order_store
from ..store import outbox
from . import webhooks
from .common import audit, is_uuid, move, post_payment_settled, post_refund_issued
from .lifecycle import refund_key, request_refund

log = logging.getLogger("transaction.notifications")

SETTLED = "settlement"
CAPTURE = "capture"
PENDING = "pending"
CLOSED_UNPAID = {"expire": OrderStatus.EXPIRED, "cancel": OrderStatus.CANCELLED,
                 "deny": OrderStatus.CANCELLED}
REFUNDED = {"refund", "partial_refund"}


def handle_notification(ctx: Context, provider_name: str, body: dict) -> dict:
    if provider_name != ctx.payments.name:
        raise Problem(404, "Not Found", f"No payment provider {provider_name!r}.",
                      slug="not-found")
    actor = f"provider:{provider_name}"
    if not ctx.payments.verify_notification_signature(body):
        log.warning("notification signature rejected", extra={"order_id": body.get("order_id")})
        raise Problem(401, "Unauthorized", "The notification signature is missing or wrong.",
                      slug="invalid-signature")
    order_id = body["order_id"]
    try:
        gross = parse_provider_amount(body["gross_amount"])
    except InvalidAmount as exc:
        log.warning("notification amount unusable", extra={"order_id": order_id})
        raise Problem(422, "Validation failed", str(exc), slug="validation-error",
                      errors={"gross_amount": [str(exc)]}) from None
    if not is_uuid(order_id):
        raise Problem(404, "Not Found", f"No order {order_id}.", slug="not-found")

    status = body["transaction_status"]
    with ctx.database.transaction() as cursor:
        order = order_store.lock_order(cursor, order_id)
        if order is None:
            raise Problem(404, "Not Found", f"No order {order_id}.", slug="not-found")
        if order["total"] is None or gross != int(order["total"]):
            log.error(
                "notification amount differs from the order total",
                extra={"order_id": order_id, "gross_amount": gross, "total": order["total"],
                       "transaction_status": status},
            )
            raise Problem(
                422, "Amount mismatch",
                "The notified gross_amount differs from the order total; rejected.",
                slug="amount-mismatch", errors={"gross_amount": ["Does not match the order."]},
            )
        notification_id = notification_store.record(
            cursor,
            provider=provider_name,
            transaction_id=body["transaction_id"],
            transaction_status=status,
            order_id=order_id,
            status_code=body["status_code"],
            gross_amount=gross,
            payment_type=body.get("payment_type"),
            fraud_status=body.get("fraud_status"),
            outcome="received",
            body=body,
        )
        if notification_id is None:
            return {"status": "ok", "outcome": "duplicate"}
        payment = order_store.lock_payment(cursor, order_id)
        outcome = _apply(ctx, cursor, order, payment, body, actor=actor)
        notification_store.set_outcome(cursor, notification_id, outcome)
    log.info("notification applied",
             extra={"order_id": order_id, "transaction_status": status, "outcome": outcome})
    return {"status": "ok", "outcome": outcome}


def _is_paid_notice(body: dict) -> bool:
    status = body["transaction_status"]
    if status == SETTLED:
        return True
    # Card captures are money in only when the fraud check accepted them.
    return status == CAPTURE and body.get("fraud_status") == "accept"


def _apply(ctx: Context, cursor, order: dict, payment: dict | None, body: dict, *,
           actor: str) -> str:
    status = body["transaction_status"]
    order_id = order["id"]
    if payment is None:
        # Reserved but never charged: no provider could have a transaction for it.
        return "ignored-no-payment"

    if _is_paid_notice(body):
        if payment["status"] not in ("pending", "expired", "cancelled", "failed"):
            return "already-paid"
        if order["status"] == OrderStatus.UNPAID and order["placed_at"] is None:
            # The checkout saga is still running; let the provider retry in a moment.
            raise Problem(409, "Conflict", "The order is still being placed; retry later.",
                          slug="order-not-ready", headers={"Retry-After": "5"})
        order_store.update_payment(cursor, order_id, status="settled", paid_at="now()",
                                   provider_transaction_id=body["transaction_id"])
        post_payment_settled(cursor, order, actor=actor)
        if order["status"] == OrderStatus.UNPAID:
            move(cursor, order, OrderStatus.AWAITING_SHIPMENT, actor=actor,
                 data={"transaction_id": body["transaction_id"],
                       "payment_type": body.get("payment_type")})
            outbox.enqueue(cursor, outbox.RESERVATION_COMMIT, {"order_id": order_id},
                           order_id=order_id)
            return "paid"
        # Paid after the order expired or was cancelled: keep the money on the books
        # and give it back.
        log.warning("payment settled after the order closed",
                    extra={"order_id": order_id, "order_status": order["status"]})
        audit(cursor, order_id, "payment.settled_late", actor=actor,
              data={"order_status": order["status"], "transaction_id": body["transaction_id"]})
        request_refund(cursor, order, reason=f"Paid after the order was {order['status']}",
                       actor=actor)
        return "late-payment-refund"

    if status in CLOSED_UNPAID:
        if order["status"] != OrderStatus.UNPAID or order["placed_at"] is None:
            return "ignored-out-of-order"
        target = CLOSED_UNPAID[status]
        move(cursor, order, target, actor=actor,
             stamp={"cancel_reason": f"provider-{status}"} if target == "CANCELLED" else None,
             data={"transaction_status": status})
        order_store.update_payment(
            cursor, order_id, status="expired" if target == OrderStatus.EXPIRED else "cancelled"
        )
        outbox.enqueue(cursor, outbox.RESERVATION_RELEASE, {"order_id": order_id},
                       order_id=order_id)
        return target.lower()

    if status in REFUNDED:
        return _reconcile_refund(cursor, order, payment, body, actor=actor)

    return "ignored"


def _reconcile_refund(cursor, order: dict, payment: dict, body: dict, *, actor: str) -> str:
    """The provider reports a refund: confirm ours, or record one made outside Etalase."""
    order_id = order["id"]
    if payment["status"] == "refunded":
        return "already-refunded"
    if body["transaction_status"] == "partial_refund":
        log.error("partial refund reported; needs attention", extra={"order_id": order_id})
        audit(cursor, order_id, "payment.partial_refund_reported", actor=actor,
              data={"transaction_id": body["transaction_id"]})
        return "needs-attention"
    if payment["status"] == "refund_pending":
        finish_refund(cursor, order_id, int(payment["amount"]), actor=actor)
        outbox.supersede_pending(cursor, order_id, outbox.PROVIDER_REFUND,
                                 "refund confirmed by provider notification")
        return "refunded"
    if payment["status"] == "settled" and order["status"] == OrderStatus.AWAITING_SHIPMENT:
        # Refunded from the provider's dashboard before shipping: the order is cancelled.
        move(cursor, order, OrderStatus.CANCELLED, actor=actor,
             stamp={"cancel_reason": "provider-refund"}, data={"reason": "provider-refund"})
        order_store.update_payment(cursor, order_id, refund_key=refund_key(order_id))
        finish_refund(cursor, order_id, int(payment["amount"]), actor=actor)
        outbox.supersede_pending(cursor, order_id, outbox.RESERVATION_COMMIT,
                                 "order refunded before the commit was delivered")
        outbox.enqueue(cursor, outbox.RESERVATION_RETURN, {"order_id": order_id},
                       order_id=order_id)
        return "refunded-cancelled"
    log.error("refund reported for an order that cannot be refunded here; needs attention",
              extra={"order_id": order_id, "order_status": order["status"]})
    audit(cursor, order_id, "payment.refund_unexpected", actor=actor,
          data={"order_status": order["status"], "payment_status": payment["status"]})
    return "needs-attention"


def finish_refund(cursor, order_id: str, amount: int, *, actor: str) -> None:
    """Record a refund the provider confirmed (idempotent: the ledger entry is unique)."""
    order_store.update_payment(cursor, order_id, status="refunded", refunded_at="now()")
    post_refund_issued(cursor, order_id, amount, actor=actor)
    audit(cursor, order_id, "payment.refunded", actor=actor, data={"amount": amount})
    webhooks.refund_event(cursor, order_id, amount)
