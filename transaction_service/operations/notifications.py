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

from ..clients.payments import ProviderRefused, ProviderUnavailable
from ..context import Context
from ..domain.errors import Conflict, DomainError, Invalid, NotFound, Unauthenticated
from ..domain.money import InvalidAmount, parse_provider_amount
from ..domain.orders import OrderStatus
from ..store import checkouts as checkout_store
from ..store import notifications as notification_store
from ..store import orders as order_store
from ..store import outbox
from ..store import refunds as refund_store
from . import refunds
from .common import audit, close_unpaid, is_uuid, move, post_payment_settled
from .lifecycle import request_refund

log = logging.getLogger("transaction.notifications")

SETTLED = "settlement"
CAPTURE = "capture"
PENDING = "pending"
CLOSED_UNPAID = {"expire": OrderStatus.EXPIRED, "cancel": OrderStatus.CANCELLED,
                 "deny": OrderStatus.CANCELLED}
REFUNDED = {"refund", "partial_refund"}


def handle_notification(ctx: Context, provider_name: str, body: dict) -> dict:
    if provider_name != ctx.payments.name:
        raise NotFound(f"No payment provider {provider_name!r}.")
    actor = f"provider:{provider_name}"
    if not ctx.payments.verify_notification_signature(body):
        log.warning("notification signature rejected", extra={"order_id": body.get("order_id")})
        raise Unauthenticated("The notification signature is missing or wrong.",
                              slug="invalid-signature")
    order_id = body["order_id"]
    try:
        gross = parse_provider_amount(body["gross_amount"])
    except InvalidAmount as exc:
        log.warning("notification amount unusable", extra={"order_id": order_id})
        raise Invalid(str(exc), errors={"gross_amount": [str(exc)]}) from None
    if not is_uuid(order_id):
        raise NotFound(f"No order {order_id}.")

    status = body["transaction_status"]
    with ctx.database.transaction() as cursor:
        # The checkout row first (the lock order of every checkout change).
        checkout = checkout_store.lock(cursor, order_id)
        if checkout is not None and checkout_store.order_ids(cursor, order_id) != [order_id]:
            outcome = _apply_checkout(ctx, cursor, provider_name, checkout, gross, body,
                                      actor=actor)
            log.info("notification applied",
                     extra={"checkout_id": order_id, "transaction_status": status,
                            "outcome": outcome})
            return {"status": "ok", "outcome": outcome}
        order = order_store.lock_order(cursor, order_id)
        if order is None:
            raise NotFound(f"No order {order_id}.")
        if order["total"] is None or gross != int(order["total"]):
            log.error(
                "notification amount differs from the order total",
                extra={"order_id": order_id, "gross_amount": gross, "total": order["total"],
                       "transaction_status": status},
            )
            raise _amount_mismatch("order")
        notification_id = _record(cursor, provider_name, body, gross, order_id=order_id)
        if notification_id is None:
            return {"status": "ok", "outcome": "duplicate"}
        payment = order_store.lock_payment(cursor, order_id)
        outcome = _apply(ctx, cursor, order, payment, body, actor=actor)
        if checkout is not None:
            _sync_checkout(cursor, checkout, outcome)
        notification_store.set_outcome(cursor, notification_id, outcome)
    log.info("notification applied",
             extra={"order_id": order_id, "transaction_status": status, "outcome": outcome})
    return {"status": "ok", "outcome": outcome}


def _amount_mismatch(what: str) -> Invalid:
    return Invalid(f"The notified gross_amount differs from the {what} total; rejected.",
                   title="Amount mismatch", slug="amount-mismatch",
                   errors={"gross_amount": [f"Does not match the {what}."]})


def _apply_checkout(ctx: Context, cursor, provider_name: str, checkout: dict, gross: int,
                    body: dict, *, actor: str) -> str:
    """A notification for a checkout of several orders (its id is the provider's order_id):
    checked against the checkout's total, then applied to every order in this one
    transaction (a settlement pays them all, an expiry closes them all); a refund
    notification confirms each order's own refunds by their keys."""
    checkout_id = checkout["id"]
    status = body["transaction_status"]
    if checkout["total"] is None or gross != int(checkout["total"]):
        log.error(
            "notification amount differs from the checkout total",
            extra={"checkout_id": checkout_id, "gross_amount": gross,
                   "total": checkout["total"], "transaction_status": status},
        )
        raise _amount_mismatch("checkout")
    orders = checkout_store.lock_orders(cursor, checkout_id)
    notification_id = _record(cursor, provider_name, body, gross, order_id=None,
                              checkout_id=checkout_id)
    if notification_id is None:
        return "duplicate"
    if status in REFUNDED:
        outcome = _reconcile_checkout_refunds(ctx, cursor, orders, body, actor=actor)
    else:
        outcomes = []
        for order in orders:
            payment = order_store.lock_payment(cursor, order["id"])
            outcomes.append(_apply(ctx, cursor, order, payment, body, actor=actor))
        outcome = outcomes[0] if len(set(outcomes)) == 1 else ",".join(sorted(set(outcomes)))
        _sync_checkout(cursor, checkout, outcome)
    notification_store.set_outcome(cursor, notification_id, outcome[:100])
    return outcome


def _reconcile_checkout_refunds(ctx: Context, cursor, orders: list[dict], body: dict, *,
                                actor: str) -> str:
    """Each order's refunds of the shared payment, confirmed by their refund keys."""
    reported = {key for key, _amount in refunds.reported_refunds(body)}
    outcomes, matched = [], set()
    for order in orders:
        payment = order_store.lock_payment(cursor, order["id"])
        if payment is None:
            continue
        keys = {r["refund_key"] for r in refund_store.for_payment(cursor, order["id"])}
        mine = reported & keys
        if not mine:
            continue
        matched |= mine
        own_body = {
            **body,
            "refunds": [r for r in body.get("refunds") or []
                        if isinstance(r, dict) and r.get("refund_key") in mine],
            "refund_key": body.get("refund_key") if body.get("refund_key") in mine else None,
        }
        outcomes.append(refunds.reconcile_notification(ctx, cursor, order, payment, own_body,
                                                       actor=actor))
    unknown = reported - matched
    if unknown or not reported:
        log.error("refund reported for a checkout that Etalase did not ask for; "
                  "needs attention", extra={"checkout_id": orders[0]["checkout_id"]})
        for order in orders:
            audit(cursor, order["id"], "payment.refund_unexpected", actor=actor,
                  data={"transaction_status": body["transaction_status"],
                        "checkout_id": order["checkout_id"]})
        return "needs-attention"
    if "needs-attention" in outcomes:
        return "needs-attention"
    return "refunded" if "refunded" in outcomes else "already-refunded"


_CHECKOUT_AFTER = {"paid": "PAID", "expired": "EXPIRED", "cancelled": "CANCELLED"}


def _sync_checkout(cursor, checkout: dict, outcome: str) -> None:
    """The checkout follows its orders: paid together, or closed together unpaid."""
    target = _CHECKOUT_AFTER.get(outcome)
    if target is None or checkout["status"] != "UNPAID":
        return
    if target == "PAID":
        checkout_store.update(cursor, checkout["id"], status=target, paid_at="now()")
    else:
        checkout_store.update(cursor, checkout["id"], status=target, closed_at="now()")


def _record(cursor, provider_name: str, body: dict, gross: int, **target) -> str | None:
    """Store the notification for its order (or checkout) once; None for a duplicate."""
    return notification_store.record(
        cursor,
        refund_amount=_refund_total(body),
        provider=provider_name,
        transaction_id=body["transaction_id"],
        transaction_status=body["transaction_status"],
        status_code=body["status_code"],
        gross_amount=gross,
        payment_type=body.get("payment_type"),
        fraud_status=body.get("fraud_status"),
        outcome="received",
        body=body,
        **target,
    )


def _refund_total(body: dict) -> int:
    """A refund notification's total refunded so far: with the status, what tells one
    refund's notification from the next one's (a redelivery repeats it)."""
    if body["transaction_status"] not in REFUNDED:
        return 0
    try:
        return parse_provider_amount(str(body.get("refund_amount")))
    except InvalidAmount:
        return 0


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
            raise Conflict("The order is still being placed; retry later.",
                           slug="order-not-ready", retry_after=5)
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
        request_refund(ctx, cursor, order,
                       reason=f"Paid after the order was {order['status']}", actor=actor)
        return "late-payment-refund"

    if status in CLOSED_UNPAID:
        if order["status"] != OrderStatus.UNPAID or order["placed_at"] is None:
            return "ignored-out-of-order"
        target = CLOSED_UNPAID[status]
        # The provider closed it: nothing to withdraw there.
        close_unpaid(cursor, order, target, actor=actor,
                     stamp={"cancel_reason": f"provider-{status}"} if target == "CANCELLED"
                     else None, data={"transaction_status": status})
        return target.lower()

    if status in REFUNDED:
        return refunds.reconcile_notification(ctx, cursor, order, payment, body, actor=actor)

    return "ignored"


def finish_refund(cursor, order_id: str, amount: int, *, actor: str) -> None:
    """Confirm the provider refund of `order_id` still pending (kept for outbox rows
    queued before refunds had rows of their own: they carry no refund_id)."""
    for row in refund_store.for_orders(cursor, [order_id]).get(order_id, []):
        if row["status"] == "pending" and int(row["amount"]) == int(amount):
            refunds.provider_confirmed(cursor, refund_store.lock(cursor, row["id"]),
                                       actor=actor)
            return


RECONCILE_STATES = {SETTLED, CAPTURE, "expire", "cancel", "deny"}


def reconcile_unpaid(ctx: Context, limit: int = 50) -> int:
    """Ask the provider about unpaid orders no notification has settled, and apply what it
    answers as the notification it would have sent (the status answer is signed the same
    way, so it goes through every check a notification does)."""
    done = 0
    while done < limit:
        with ctx.database.transaction() as cursor:
            order_id = order_store.claim_unreconciled_payment(
                cursor, ctx.config.payment_reconcile_seconds)
        if order_id is None:
            break
        done += 1
        try:
            body = ctx.payments.existing_transaction(order_id)
        except (ProviderUnavailable, ProviderRefused) as exc:
            log.warning("payment status check failed", extra={"order_id": order_id,
                                                              "error": str(exc)})
            continue
        if not body or body.get("transaction_status") not in RECONCILE_STATES:
            continue
        try:
            outcome = handle_notification(ctx, ctx.payments.name, body)
        except DomainError as refusal:
            log.warning("provider status not applicable",
                        extra={"order_id": order_id, "refusal": refusal.slug})
            continue
        log.info("payment reconciled from the provider's status",
                 extra={"order_id": order_id, "outcome": outcome.get("outcome")})
    return done
