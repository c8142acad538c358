"""Order state changes after checkout: buyer cancel, seller ship, buyer confirm, and the
workers' expiry, abandoned-checkout cleanup and auto-complete.

Each change locks the order row (`SELECT ... FOR UPDATE`), asks the state machine, and
writes the new state, its ledger entry, its audit row and its outbox rows in one
transaction, so none of them can exist without the others.
"""

from __future__ import annotations

from servicekit.auth import Principal

from ..context import Context
from ..domain.errors import Conflict, Forbidden, NotFound
from ..domain.orders import OrderStatus
from ..store import checkouts as checkout_store
from ..store import orders as order_store
from ..store import outbox
from ..store import refunds as refund_store
from . import refunds, returns
from .checkout_records import abandon_locked
from .common import (
    can_view,
    cancel_paid,
    close_unpaid,
    lock_visible_order,
    move,
    not_found,
    post_order_completed,
)


def refund_key(order_id: str) -> str:
    """The refund of an order's cancellation (or of a payment after the order closed):
    one per order, so the key is derived from the order and retries (relay, buyer, late
    payment) can never refund twice. Other refunds of the order (returns, an admin's
    partial refund) have keys of their own."""
    return f"refund-{order_id}"


def cancel_order(ctx: Context, order_id: str, principal: Principal) -> dict:
    with ctx.database.transaction() as cursor:
        peek = order_store.get_order(cursor, order_id)
        checkout_id = peek["checkout_id"] if peek else None
        if checkout_id is not None:
            # The checkout row first (the lock order of every checkout change).
            checkout_store.lock(cursor, checkout_id)
        order = lock_visible_order(cursor, order_id, principal)
        if order["buyer_id"] != principal.account_id:
            raise Forbidden("Only the buyer can cancel an order.")
        if order["status"] == OrderStatus.UNPAID and checkout_id is not None:
            # Its orders share one payment: cancelling one unpaid order cancels them all.
            _cancel_unpaid_checkout(cursor, checkout_id, actor=principal.account_id)
            return order_store.get_order(cursor, order_id)
        # Anything already shipped or closed: the move raises IllegalTransition before
        # anything is written.
        if order["status"] == OrderStatus.AWAITING_SHIPMENT:
            cancel_paid(cursor, order, actor=principal.account_id, reason="buyer",
                        data={"reason": "buyer", "paid": True},
                        refund=lambda: request_refund(
                            ctx, cursor, order, reason="Cancelled by the buyer before shipping",
                            actor=principal.account_id))
        else:
            close_unpaid(cursor, order, OrderStatus.CANCELLED, actor=principal.account_id,
                         stamp={"cancel_reason": "buyer"},
                         data={"reason": "buyer", "paid": False}, cancel_at_provider=True)
        return order_store.get_order(cursor, order_id)


def cancel_checkout(ctx: Context, checkout_id: str, principal: Principal) -> None:
    """The buyer cancels an unpaid checkout: every order, its stock, its payment."""
    with ctx.database.transaction() as cursor:
        checkout = checkout_store.lock(cursor, checkout_id)
        if checkout is None or checkout["placed_at"] is None:
            raise NotFound(f"No checkout {checkout_id} is visible to you.")
        if checkout["buyer_id"] != principal.account_id:
            raise Forbidden("Only the buyer can cancel a checkout.")
        if checkout["status"] != "UNPAID":
            raise Conflict(
                f"A checkout cannot move from {checkout['status']} to CANCELLED"
                + ("; cancel its orders one by one." if checkout["status"] == "PAID" else "."),
                title="Illegal transition", slug="illegal-transition",
                current_status=checkout["status"], requested_status="CANCELLED")
        _cancel_unpaid_checkout(cursor, checkout_id, actor=principal.account_id)


def _cancel_unpaid_checkout(cursor, checkout_id: str, *, actor: str) -> None:
    """Close a locked unpaid checkout: each unpaid order CANCELLED with its stock released,
    the one payment instruction withdrawn at the provider."""
    _close_unpaid_checkout(cursor, checkout_id, OrderStatus.CANCELLED, actor=actor,
                           stamp={"cancel_reason": "buyer"}, data={"reason": "buyer"})


def _close_unpaid_checkout(cursor, checkout_id: str, target: str, *, actor: str,
                           stamp: dict | None = None, data: dict | None = None) -> None:
    for order in checkout_store.lock_orders(cursor, checkout_id):
        if order["status"] != OrderStatus.UNPAID or order["placed_at"] is None:
            continue
        close_unpaid(cursor, order, target, actor=actor, stamp=stamp,
                     data={**(data or {}), "checkout_id": checkout_id})
    checkout_store.update(cursor, checkout_id, status=str(target), closed_at="now()")
    # So the virtual account stops accepting money (the provider knows the checkout id).
    outbox.enqueue(cursor, outbox.PROVIDER_CANCEL, {"order_id": checkout_id},
                   order_id=checkout_store.order_ids(cursor, checkout_id)[0])


def request_refund(ctx: Context, cursor, order: dict, *, reason: str,
                   actor: str | None) -> dict | None:
    """Refund what is left of a closed order's payment: through the provider where it can
    (the ledger entry follows its confirmation), else as a manual refund. None when
    earlier refunds (an admin's partial refunds) already took everything."""
    if refund_store.requested_total(cursor, order["id"]) >= int(order["total"]):
        return None
    return refunds.refund(ctx, cursor, order, amount=None, key=refund_key(order["id"]),
                          reason=reason, actor=actor)


def ship_order(ctx: Context, order_id: str, principal: Principal, tracking_number: str) -> dict:
    with ctx.database.transaction() as cursor:
        order = lock_visible_order(cursor, order_id, principal)
        if not (principal.has_role("seller") and principal.shop_id == order["shop_id"]):
            raise Forbidden("Only the seller of the order's shop can ship it.")
        move(cursor, order, OrderStatus.IN_TRANSIT, actor=principal.account_id,
             stamp={"tracking_number": tracking_number},
             data={"tracking_number": tracking_number})
        return order_store.get_order(cursor, order_id)


def deliver_order(ctx: Context, order_id: str, principal: Principal) -> dict:
    """The order's seller (standing in for the logistics partner): IN_TRANSIT -> DELIVERED;
    the return window and the auto-complete count from now."""
    with ctx.database.transaction() as cursor:
        order = lock_visible_order(cursor, order_id, principal)
        if not (principal.has_role("seller") and principal.shop_id == order["shop_id"]):
            raise Forbidden("Only the seller of the order's shop can mark it delivered.")
        move(cursor, order, OrderStatus.DELIVERED, actor=principal.account_id,
             data={"by": "seller"})
        return order_store.get_order(cursor, order_id)


def confirm_receipt(ctx: Context, order_id: str, principal: Principal) -> dict:
    with ctx.database.transaction() as cursor:
        order = lock_visible_order(cursor, order_id, principal)
        if order["buyer_id"] != principal.account_id:
            raise Forbidden("Only the buyer can confirm receipt.")
        if refund_store.pending_provider_total(cursor, order_id):
            # Settling now would pay the shop money that is on its way back to the buyer.
            raise Conflict("A refund of this order is waiting for the payment provider; "
                           "confirm receipt once it has gone through.",
                           title="Refund in progress", slug="refund-pending")
        complete_locked(ctx, cursor, order, actor=principal.account_id, reason="buyer")
        return order_store.get_order(cursor, order_id)


def complete_locked(ctx: Context, cursor, order: dict, *, actor: str, reason: str) -> None:
    """Complete a locked order: never while a return is open (Conflict), settled net of
    the refunds made."""
    blocked = returns.open_return_refusal(cursor, order["id"])
    if blocked is not None:
        raise blocked
    move(cursor, order, OrderStatus.COMPLETED, actor=actor, data={"reason": reason})
    post_order_completed(cursor, order, ctx.config.platform_fee_bps, actor=actor)


def get_order(ctx: Context, order_id: str, principal: Principal) -> dict:
    with ctx.database.transaction() as cursor:
        order = order_store.get_order(cursor, order_id)
    if order is None or not can_view(principal, order):
        raise not_found(order_id)
    return order


# --- worker steps: each handles one order per transaction, returns how many it did -----

EXPIRY_ACTOR = "system:payment-expiry"
AUTO_COMPLETE_ACTOR = "system:auto-complete"
AUTO_DELIVER_ACTOR = "system:auto-deliver"


def expire_overdue(ctx: Context, limit: int = 100) -> int:
    done = 0
    while done < limit:
        with ctx.database.transaction() as cursor:
            checkout = checkout_store.claim_overdue_unpaid(cursor)
            if checkout is None:
                break
            _close_unpaid_checkout(
                cursor, checkout["id"], OrderStatus.EXPIRED, actor=EXPIRY_ACTOR,
                data={"payment_deadline": checkout["payment_deadline"].isoformat()})
        done += 1
    while done < limit:  # orders placed before checkouts existed
        with ctx.database.transaction() as cursor:
            order = order_store.claim_overdue_unpaid(cursor)
            if order is None:
                break
            close_unpaid(cursor, order, OrderStatus.EXPIRED, actor=EXPIRY_ACTOR,
                         data={"payment_deadline": order["payment_deadline"].isoformat()},
                         cancel_at_provider=True)
        done += 1
    return done


def reap_abandoned_checkouts(ctx: Context, limit: int = 100) -> int:
    done = 0
    while done < limit:
        with ctx.database.transaction() as cursor:
            order = order_store.claim_abandoned_checkout(
                cursor, ctx.config.abandoned_checkout_seconds
            )
            if order is None:
                break
            abandon_locked(cursor, order, "abandoned", actor=EXPIRY_ACTOR,
                           cancel_at_provider=True)
        done += 1
    return done


def auto_deliver_due(ctx: Context, limit: int = 100) -> int:
    """IN_TRANSIT for AUTO_DELIVER_SECONDS -> DELIVERED (no word from the logistics
    partner is taken as delivery)."""
    done = 0
    while done < limit:
        with ctx.database.transaction() as cursor:
            order = order_store.claim_due_auto_deliver(cursor, ctx.config.auto_deliver_seconds)
            if order is None:
                break
            move(cursor, order, OrderStatus.DELIVERED, actor=AUTO_DELIVER_ACTOR,
                 data={"by": "auto-deliver"})
        done += 1
    return done


def auto_complete_due(ctx: Context, limit: int = 100) -> int:
    """DELIVERED for AUTO_COMPLETE_SECONDS with no open return -> COMPLETED."""
    done = 0
    while done < limit:
        with ctx.database.transaction() as cursor:
            order = order_store.claim_due_auto_complete(cursor, ctx.config.auto_complete_seconds)
            if order is None:
                break
            complete_locked(ctx, cursor, order, actor=AUTO_COMPLETE_ACTOR, reason="auto-complete")
        done += 1
    return done
