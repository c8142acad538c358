"""Helpers shared by the use cases: loading an order for a caller, and the side effects
that accompany a state change (ledger + audit, in the caller's transaction)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from servicekit.auth import Principal

from ..domain import ledger
from ..domain.errors import NotFound
from ..domain.orders import TIMESTAMP_OF, OrderStatus, transition
from ..store import audit as audit_store
from ..store import ledger as ledger_store
from ..store import orders as order_store
from ..store import outbox
from ..store import refunds as refund_store
from ..store import returns as return_store
from . import webhooks

log = logging.getLogger("transaction.orders")


def not_found(order_id: str) -> NotFound:
    return NotFound(f"No order {order_id} is visible to you.")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def can_view(principal: Principal, order: dict) -> bool:
    if principal.has_role("admin"):
        return True
    if principal.has_role("buyer") and order["buyer_id"] == principal.account_id:
        return True
    return (
        principal.has_role("seller")
        and principal.shop_id is not None
        and order["shop_id"] == principal.shop_id
    )


def sees_commissions(principal: Principal, order: dict) -> bool:
    """The order's seller and admins see each line's creator, rate and commission."""
    return principal.has_role("admin") or (
        principal.has_role("seller")
        and principal.shop_id is not None
        and order.get("shop_id") == principal.shop_id
    )


def visible_order(order: dict, principal: Principal) -> dict:
    """The order as `principal` may see it: everyone else (the buyer) sees only which
    content a line came from, never the creator's rate or commission (DESIGN.md §11)."""
    if order is None or sees_commissions(principal, order):
        return order
    return {
        **order,
        "items": [
            {**item, "attribution": None if item.get("attribution") is None
             else {"content_id": item["attribution"]["content_id"]}}
            for item in order.get("items", [])
        ],
    }


def lock_visible_order(cursor, order_id: str, principal: Principal) -> dict:
    order = order_store.lock_order(cursor, order_id)
    if order is None or order["placed_at"] is None or not can_view(principal, order):
        raise not_found(order_id)
    return order


def move(cursor, order: dict, target: str, *, actor: str | None, stamp: dict | None = None,
         data: dict | None = None) -> None:
    """Apply a legal transition to a locked order row and audit it."""
    new_status = transition(order["status"], target)
    stamps = {TIMESTAMP_OF[new_status]: None}
    stamps.update(stamp or {})
    order_store.update_status(cursor, order["id"], new_status, stamps)
    audit_store.append(
        cursor,
        entity="order",
        entity_id=order["id"],
        action=f"order.{new_status.lower()}",
        actor=actor,
        data={"from": order["status"], "to": str(new_status), **(data or {})},
    )
    webhooks.order_status_event(cursor, order, new_status)
    log.info(
        "order transition",
        extra={"order_id": order["id"], "from": order["status"], "to": str(new_status)},
    )
    order["status"] = str(new_status)


# --- the compound state changes: each written here once, called from every place ---------

_PAYMENT_AFTER = {OrderStatus.EXPIRED: "expired", OrderStatus.CANCELLED: "cancelled"}


def close_unpaid(cursor, order: dict, target: str, *, actor: str | None,
                 stamp: dict | None = None, data: dict | None = None,
                 payment_status: str | None = None, cancel_at_provider: bool = False) -> None:
    """An unpaid order closes (EXPIRED or CANCELLED, a failed checkout's included): the
    move, its payment's status (`payment_status`, else the one of `target`), its stock
    released, and, when the provider could still take money for it, the payment
    instruction withdrawn (the provider knows it by the checkout's id)."""
    order_id = order["id"]
    move(cursor, order, target, actor=actor, stamp=stamp, data=data)
    # No payment row exists yet when the reservation failed; the update is then a no-op.
    order_store.update_payment(cursor, order_id,
                               status=payment_status or _PAYMENT_AFTER[OrderStatus(target)])
    outbox.enqueue(cursor, outbox.RESERVATION_RELEASE, {"order_id": order_id}, order_id=order_id)
    if cancel_at_provider:
        outbox.enqueue(cursor, outbox.PROVIDER_CANCEL,
                       {"order_id": order.get("checkout_id") or order_id}, order_id=order_id)


def cancel_paid(cursor, order: dict, *, actor: str | None, reason: str, data: dict,
                refund: Callable[[], object]) -> None:
    """A paid order is cancelled before shipping: the move, the money back (`refund`, in
    this transaction: asked for, or recorded when the provider already made it), the
    commit to the showcase dropped if not yet delivered, and its stock returned (the
    return row releases, or restocks if the commit got through first)."""
    order_id = order["id"]
    move(cursor, order, OrderStatus.CANCELLED, actor=actor, stamp={"cancel_reason": reason},
         data=data)
    refund()
    outbox.supersede_pending(cursor, order_id, outbox.RESERVATION_COMMIT,
                             "order cancelled before the commit was delivered")
    outbox.enqueue(cursor, outbox.RESERVATION_RETURN, {"order_id": order_id},
                   order_id=order_id)


def post_ledger(cursor, entry, *, actor: str | None) -> str | None:
    entry_id = ledger_store.post(cursor, entry, actor=actor)
    return entry_id


def post_payment_settled(cursor, order: dict, *, actor: str | None) -> None:
    post_ledger(cursor, ledger.payment_settled(order["id"], int(order["total"])), actor=actor)


def post_refund_issued(cursor, order_id: str, amount: int, *, actor: str | None) -> None:
    post_ledger(cursor, ledger.refund_issued(order_id, int(amount)), actor=actor)


def post_order_completed(cursor, order: dict, fee_bps: int, *, actor: str | None) -> None:
    """Escrow -> the shop, the platform and each attributed creator: what was sold, net
    of the refunds already made."""
    entry = completion_entry(cursor, order, fee_bps,
                             refunded=refund_store.posted_total(cursor, order["id"]))
    if entry is not None:
        post_ledger(cursor, entry, actor=actor)
        webhooks.commission_events(cursor, order["id"], ledger.creator_credits(entry))


def completion_entry(cursor, order: dict, fee_bps: int, *,
                     refunded: int = 0) -> ledger.JournalEntry | None:
    """escrow -> shop payable + fee revenue + each attributed creator's payable, from the
    order's frozen snapshot (every line; shipping goes to the shop with the fee on it).
    Order-level refunds reduce the lines' bases in proportion (`ledger.spread_refund`);
    None when nothing is left to settle."""
    items = order_store.order_items(cursor, order["id"])
    totals = [int(item["line_total"]) for item in items]
    shipping = int(order["total"]) - sum(totals)
    if int(order["total"]) - refunded <= 0:
        return None
    # A return refunds exactly its lines (their commission base drops, DESIGN.md §11/§12);
    # the rest of the refunds (cancellation parts, an admin's) is spread over what is left.
    by_product = return_store.refunded_per_product(cursor, order["id"])
    direct = []
    for item, total in zip(items, totals, strict=True):
        take = min(total, by_product.get(item["product_id"], 0), refunded - sum(direct))
        by_product[item["product_id"]] = by_product.get(item["product_id"], 0) - take
        direct.append(take)
    spread = ledger.spread_refund([t - d for t, d in zip(totals, direct, strict=True)],
                                  refunded - sum(direct))
    line_refunds = [d + s for d, s in zip(direct, spread, strict=True)]
    lines = [
        ledger.SoldLine(
            total,
            refunded=line_refund,
            creator_id=(item["attribution"] or {}).get("creator_id"),
            commission_rate_bps=int((item["attribution"] or {}).get("commission_rate_bps") or 0),
        )
        for item, total, line_refund in zip(items, totals, line_refunds, strict=True)
    ]
    shipping -= max(0, refunded - sum(line_refunds))  # what the lines could not absorb
    return ledger.settle_order(order["id"], order["shop_id"], lines, fee_bps, shipping=shipping)


def audit(cursor, order_id: str, action: str, *, actor: str | None, data: dict) -> None:
    audit_store.append(
        cursor, entity="order", entity_id=order_id, action=action, actor=actor, data=data
    )
