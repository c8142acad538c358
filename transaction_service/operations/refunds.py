"""Refunds: one entry point (`refund`) decides between the provider and a manual refund.

- `refund(ctx, cursor, order, amount=, key=, reason=, actor=)` refunds part or all of what
  an order paid, from the payment its money came from, in the caller's transaction. The
  provider refunds card and e-wallet payments (an outbox row calls
  `POST /v2/{order_id}/refund` with the refund's key; the ledger posts escrow ->
  provider_receivable when the provider confirms). A payment the provider cannot refund
  (a bank-transfer VA) becomes a manual refund: escrow -> manual_refunds_payable at once,
  the buyer gives a bank account, an admin records the transfer (manual_refunds_payable
  -> provider_receivable). Every step is audited on the order.
- The same `key` is the same refund (a retry never refunds twice); Σ refunds <= what the
  order paid, checked here and enforced by the database (migration 0004).
- Provider notifications (`partial_refund`, `refund`) are reconciled against the refunds
  we asked for by their refund_key (`reconcile_notification`).

Callers: buyer cancel and late payments (lifecycle, notifications), the admin's refund API;
returns (§12) and one payment across shops' orders use the same function with their own
keys (`return_id`, the order's part of a shared payment).
"""

from __future__ import annotations

import hashlib
import logging

import psycopg2

from servicekit.auth import Principal
from servicekit.pagination import decode_keyset_cursor, keyset_page

from ..context import Context
from ..domain import ledger
from ..domain import refunds as rules
from ..domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from ..domain.money import InvalidAmount, parse_provider_amount
from ..domain.orders import OrderStatus
from ..store import orders as order_store
from ..store import outbox
from ..store import refunds as refund_store
from . import webhooks
from .common import audit, cancel_paid, lock_visible_order, post_ledger

log = logging.getLogger("transaction.refunds")

def _refused(error: rules.RefundError) -> DomainError:
    """The rules' refusal: a bad amount is invalid input, the rest conflicts with what
    was refunded already."""
    if error.code == "invalid-amount":
        return Invalid(error.message, title="Refund refused", slug=error.code,
                       errors={"amount": [error.message]})
    return Conflict(error.message, title="Refund refused", slug=error.code)


# --- requesting ---------------------------------------------------------------------------


def refund(ctx: Context, cursor, order: dict, *, amount: int | None, key: str, reason: str,
           actor: str | None, return_id: str | None = None) -> dict:
    """Refund `amount` (None: everything left) of `order`, keyed `key`; returns the refund.

    `order` is locked by the caller. Raises Conflict when the order's payment was not
    received or the amount exceeds what is left; a known `key` returns its refund (or
    Conflict when it was used for another order or amount).
    """
    if not rules.REFUND_KEY.match(key):
        raise ValueError(f"not a valid refund key: {key!r}")
    order_id = order["id"]
    known = refund_store.find_by_key(cursor, key)
    if known is not None:
        if known["order_id"] != order_id or (amount is not None and known["amount"] != amount):
            raise Conflict(f"Refund key {key!r} belongs to another refund.",
                           title="Refund key reused", slug="refund-key-reused")
        return known
    payment = _payment_of(cursor, order)
    if payment is None or payment["status"] not in rules.PAID_PAYMENT_STATES:
        raise Conflict(
            "Only a received payment can be refunded; this order's payment is "
            f"{payment['status'] if payment else 'missing'}. Nothing was refunded.",
            title="Payment not settled", slug="payment-not-settled",
        )
    existing = refund_store.for_orders(cursor, [order_id]).get(order_id, [])
    try:
        amount = rules.refund_amount(int(order["total"]), existing, amount)
    except rules.RefundError as error:
        raise _refused(error) from None
    method = rules.PROVIDER if ctx.payments.can_refund(payment["method"]) else rules.MANUAL
    cursor.execute("SAVEPOINT refund_insert")
    try:
        row = refund_store.insert(
            cursor, payment_id=payment["order_id"], order_id=order_id, refund_key=key,
            amount=amount, reason=reason, method=method,
            status=rules.PENDING if method == rules.PROVIDER else rules.AWAITING_ACCOUNT,
            requested_by=actor, return_id=return_id,
        )
    except psycopg2.errors.CheckViolation:
        # The database's Σ refunds <= paid (a concurrent refund took the rest first).
        cursor.execute("ROLLBACK TO SAVEPOINT refund_insert")
        raise Conflict("The refund exceeds what is left to refund.", title="Refund refused",
                       slug="refund-exceeds-remaining") from None
    cursor.execute("RELEASE SAVEPOINT refund_insert")
    if method == rules.PROVIDER:
        outbox.enqueue(
            cursor, outbox.PROVIDER_REFUND,
            # The provider knows the payment by its checkout's id: an order of a checkout
            # of several shops is a partial refund of that one payment.
            {"order_id": order.get("checkout_id") or payment["order_id"],
             "refund_id": row["id"], "refund_key": key,
             "amount": amount, "reason": reason},
            order_id=order_id,
        )
    else:
        post_ledger(cursor, ledger.manual_refund_owed(order_id, row["id"], amount), actor=actor)
    order_store.update_payment(cursor, order_id, refund_key=payment["refund_key"] or key)
    sync_payment_status(cursor, payment["order_id"])
    audit(cursor, order_id, "refund.requested", actor=actor,
          data={"refund_id": row["id"], "refund_key": key, "amount": amount,
                "method": method, "reason": reason, "return_id": return_id})
    log.info("refund requested", extra={"order_id": order_id, "refund_id": row["id"],
                                        "amount": amount, "method": method})
    return row


def _payment_of(cursor, order: dict) -> dict | None:
    """The order's own payment row, locked (its amount is the order's total, so the order
    refunds at most that). An order of a checkout of several shops shares the provider's
    payment with the others (its provider order_id is the checkout id, see `refund`), but
    keeps its own row: the partial refund of exactly its total comes from it."""
    return order_store.lock_payment(cursor, order["id"])


def sync_payment_status(cursor, payment_id: str) -> str:
    payment = order_store.lock_payment(cursor, payment_id)
    status = rules.payment_status(int(payment["amount"]),
                                  refund_store.for_payment(cursor, payment_id))
    if status != payment["status"]:
        changes = {"status": status}
        if status == "refunded":
            changes["refunded_at"] = "now()"
        order_store.update_payment(cursor, payment_id, **changes)
    return status


def _return_refunded(cursor, refund_row: dict, *, actor: str | None) -> None:
    """A return's refund left escrow: its return is REFUNDED (same transaction)."""
    if refund_row.get("return_id"):
        from . import returns  # returns builds on this module

        returns.refund_settled(cursor, refund_row, actor=actor)


# --- the provider's answer ----------------------------------------------------------------


def provider_confirmed(cursor, refund_row: dict, *, actor: str,
                       provider_refund_id: str | None = None) -> bool:
    """The provider made this refund: post exactly its amount (once). True if new."""
    if refund_row["method"] != rules.PROVIDER or refund_row["status"] != rules.PENDING:
        return False
    refund_store.update(cursor, refund_row["id"], status=rules.SUCCEEDED,
                        succeeded_at="now()", provider_refund_id=provider_refund_id)
    _return_refunded(cursor, refund_row, actor=actor)
    post_ledger(cursor, ledger.refund_issued(refund_row["order_id"], int(refund_row["amount"]),
                                             refund_row["id"]), actor=actor)
    sync_payment_status(cursor, refund_row["payment_id"])
    audit(cursor, refund_row["order_id"], "refund.succeeded", actor=actor,
          data={"refund_id": refund_row["id"], "refund_key": refund_row["refund_key"],
                "amount": int(refund_row["amount"]), "method": rules.PROVIDER})
    webhooks.refund_event(cursor, refund_row["order_id"], int(refund_row["amount"]))
    return True


def provider_refused(cursor, refund_row: dict, *, actor: str, note: str) -> bool:
    """The provider will not make this refund (e.g. the payment type cannot be refunded):
    the buyer still gets the money back, as a manual refund. True if converted."""
    if refund_row["method"] != rules.PROVIDER or refund_row["status"] != rules.PENDING:
        return False
    refund_store.update(cursor, refund_row["id"], method=rules.MANUAL,
                        status=rules.AWAITING_ACCOUNT)
    post_ledger(cursor, ledger.manual_refund_owed(refund_row["order_id"], refund_row["id"],
                                                  int(refund_row["amount"])), actor=actor)
    sync_payment_status(cursor, refund_row["payment_id"])
    audit(cursor, refund_row["order_id"], "refund.became_manual", actor=actor,
          data={"refund_id": refund_row["id"], "amount": int(refund_row["amount"]),
                "note": note[:500]})
    log.warning("provider refused a refund; it is now a manual refund",
                extra={"refund_id": refund_row["id"], "note": note})
    return True


def reported_refunds(body: dict) -> list[tuple[str, int | None]]:
    """(refund_key, amount) of each refund a notification reports."""
    found: dict[str, int | None] = {}
    for item in body.get("refunds") or []:
        if isinstance(item, dict) and isinstance(item.get("refund_key"), str):
            try:
                found[item["refund_key"]] = parse_provider_amount(str(item["refund_amount"]))
            except (InvalidAmount, KeyError):
                found[item["refund_key"]] = None
    if not found and isinstance(body.get("refund_key"), str):
        found[body["refund_key"]] = None
    return list(found.items())


def reconcile_notification(ctx: Context, cursor, order: dict, payment: dict, body: dict, *,
                           actor: str) -> str:
    """A `partial_refund`/`refund` notification: confirm the refunds we asked for, by key;
    a refund we never asked for is recorded for attention (or, a full refund from the
    provider's dashboard of an order not yet shipped, cancels it)."""
    order_id = order["id"]
    ours = {r["refund_key"]: r for r in refund_store.for_payment(cursor, payment["order_id"])}
    reported = reported_refunds(body)
    if not reported:
        # No refund details: a total equal to everything we asked the provider for
        # confirms those refunds; Midtrans' `refund` status means everything.
        try:
            total = parse_provider_amount(str(body.get("refund_amount")))
        except InvalidAmount:
            total = int(payment["amount"]) if body["transaction_status"] == "refund" else None
        asked = [r for r in ours.values() if r["method"] == rules.PROVIDER
                 and r["status"] != rules.FAILED]
        if total is not None and asked and total == sum(int(r["amount"]) for r in asked):
            reported = [(r["refund_key"], None) for r in asked]
        elif not asked and payment["status"] == "refunded":
            return "already-refunded"
        else:
            reported = [(f"external-{body['transaction_id']}"[:100], total)]
    confirmed, unknown = 0, []
    for key, amount in reported:
        mine = ours.get(key)
        if mine is None:
            unknown.append((key, amount))
            continue
        if amount is not None and amount != int(mine["amount"]):
            log.error("notified refund amount differs from ours; needs attention",
                      extra={"order_id": order_id, "refund_key": key})
            audit(cursor, order_id, "refund.amount_mismatch", actor=actor,
                  data={"refund_key": key, "ours": int(mine["amount"]), "reported": amount})
            return "needs-attention"
        locked = refund_store.lock(cursor, mine["id"])
        if provider_confirmed(cursor, locked, actor=actor):
            confirmed += 1
            outbox.supersede_refund(cursor, mine["id"],
                                    "refund confirmed by provider notification")
    if unknown:
        return _unknown_refund(ctx, cursor, order, payment, body, unknown, actor=actor)
    return "refunded" if confirmed else "already-refunded"


def _unknown_refund(ctx: Context, cursor, order: dict, payment: dict, body: dict,
                    unknown: list, *, actor: str) -> str:
    order_id = order["id"]
    whole = (body["transaction_status"] == "refund" and payment["status"] == "settled"
             and order["status"] == OrderStatus.AWAITING_SHIPMENT
             and not refund_store.for_payment(cursor, payment["order_id"]))
    if whole and ctx.payments.can_refund(payment["method"]):
        # Refunded from the provider's dashboard before shipping: the order is cancelled.
        key = rules.REFUND_KEY.match(unknown[0][0]) and unknown[0][0] or f"external-{order_id}"

        def record_the_providers_refund() -> None:
            row = refund_store.insert(
                cursor, payment_id=payment["order_id"], order_id=order_id, refund_key=key,
                amount=int(order["total"]), reason="refunded at the provider",
                method=rules.PROVIDER, status=rules.PENDING, requested_by=actor,
            )
            audit(cursor, order_id, "refund.requested", actor=actor,
                  data={"refund_id": row["id"], "refund_key": key,
                        "amount": int(order["total"]), "method": rules.PROVIDER,
                        "reason": "refunded at the provider"})
            provider_confirmed(cursor, row, actor=actor)

        cancel_paid(cursor, order, actor=actor, reason="provider-refund",
                    data={"reason": "provider-refund"}, refund=record_the_providers_refund)
        return "refunded-cancelled"
    log.error("refund reported that Etalase did not ask for; needs attention",
              extra={"order_id": order_id, "order_status": order["status"]})
    audit(cursor, order_id, "payment.refund_unexpected", actor=actor,
          data={"order_status": order["status"], "payment_status": payment["status"],
                "transaction_status": body["transaction_status"],
                "refund_keys": [key for key, _ in unknown]})
    return "needs-attention"


# --- API use cases ------------------------------------------------------------------------


def admin_refund(ctx: Context, order_id: str, principal: Principal, *, amount: int | None,
                 reason: str, idempotency_key: str) -> dict:
    """An admin refunds part (or the rest) of an order. The refund key is derived from the
    caller's Idempotency-Key, so even a retry whose first outcome was lost is one refund."""
    digest = hashlib.sha256(f"{principal.account_id}\0{idempotency_key}".encode()).hexdigest()
    with ctx.database.transaction() as cursor:
        order = lock_visible_order(cursor, order_id, principal)
        row = refund(ctx, cursor, order, amount=amount, key=f"adm-{digest[:40]}",
                     reason=reason, actor=principal.account_id)
        return refund_store.lock(cursor, row["id"])


def give_account(ctx: Context, order_id: str, principal: Principal, *, bank: str,
                 account_number: str, account_name: str) -> dict:
    """The buyer tells where their manual refunds go; the open ones can then be sent."""
    errors = rules.account_errors(bank, account_number, account_name)
    if errors:
        raise Invalid("The bank account is not valid.", errors=errors)
    with ctx.database.transaction() as cursor:
        order = lock_visible_order(cursor, order_id, principal)
        if order["buyer_id"] != principal.account_id:
            raise Forbidden("Only the buyer gives the refund account.")
        waiting = [r for r in refund_store.for_orders(cursor, [order_id]).get(order_id, [])
                   if r["method"] == rules.MANUAL and r["status"] in refund_store.OPEN_MANUAL]
        if not waiting:
            raise Conflict("This order has no refund waiting for a bank account.",
                           title="No manual refund", slug="no-manual-refund")
        for row in waiting:
            refund_store.update(
                cursor, row["id"], status=rules.AWAITING_TRANSFER, destination_bank=bank,
                destination_account_number=account_number,
                destination_account_name=account_name, account_given_at="now()",
            )
            audit(cursor, order_id, "refund.account_given", actor=principal.account_id,
                  data={"refund_id": row["id"], "bank": bank,
                        "account_number": rules.mask_account_number(account_number)})
        return order_store.get_order(cursor, order_id)


MANUAL_STATUS_FILTERS = {
    "open": refund_store.OPEN_MANUAL,
    rules.AWAITING_ACCOUNT: (rules.AWAITING_ACCOUNT,),
    rules.AWAITING_TRANSFER: (rules.AWAITING_TRANSFER,),
    rules.SUCCEEDED: (rules.SUCCEEDED,),
}


def list_manual(ctx: Context, *, status: str, cursor_token: str | None, limit: int) -> dict:
    after = decode_keyset_cursor(cursor_token)
    with ctx.database.transaction() as cursor:
        rows = refund_store.list_manual(cursor, statuses=MANUAL_STATUS_FILTERS[status],
                                        after=after, limit=limit)
    return keyset_page(rows, limit)


def complete_manual(ctx: Context, refund_id: str, principal: Principal, *,
                    transfer_reference: str) -> dict:
    """The admin sent the money: record the transfer (once) and post it."""
    with ctx.database.transaction() as cursor:
        row = refund_store.lock(cursor, refund_id)
        if row is None or row["method"] != rules.MANUAL:
            raise NotFound(f"No manual refund {refund_id}.")
        if row["status"] == rules.SUCCEEDED:
            raise Conflict(f"Manual refund {refund_id} was completed already "
                           f"(transfer {row['transfer_reference']}); nothing was moved.",
                           title="Already completed", slug="manual-refund-completed")
        if row["status"] != rules.AWAITING_TRANSFER:
            raise Conflict("The buyer has not given a bank account for this refund yet.",
                           title="Refund account missing", slug="refund-account-missing")
        row = refund_store.update(cursor, refund_id, status=rules.SUCCEEDED,
                                  transfer_reference=transfer_reference,
                                  completed_by=principal.account_id, succeeded_at="now()")
        _return_refunded(cursor, row, actor=principal.account_id)
        post_ledger(cursor, ledger.manual_refund_paid(refund_id, int(row["amount"])),
                    actor=principal.account_id)
        sync_payment_status(cursor, row["payment_id"])
        audit(cursor, row["order_id"], "refund.completed", actor=principal.account_id,
              data={"refund_id": refund_id, "amount": int(row["amount"]),
                    "transfer_reference": transfer_reference, "method": rules.MANUAL})
        webhooks.refund_event(cursor, row["order_id"], int(row["amount"]))
        return row
