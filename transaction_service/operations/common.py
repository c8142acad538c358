"""Helpers shared by the use cases: loading an order for a caller, and the side effects
that accompany a state change (ledger + audit, in the caller's transaction)."""

from __future__ import annotations

import logging
import uuid

from servicekit.auth import Principal
from servicekit.problems import Problem

from ..domain import ledger
from ..domain.orders import TIMESTAMP_OF, transition
from ..store import audit as audit_store
from ..store import ledger as ledger_store
from ..store import orders as order_store
from ..store import refunds as refund_store
from . import webhooks

log = logging.getLogger("transaction.orders")


def not_found(order_id: str) -> Problem:
    return Problem(404, "Not Found", f"No order {order_id} is visible to you.", slug="not-found")


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


def post_ledger(cursor, entry, *, actor: str | None) -> str | None:
    entry_id = ledger_store.post(cursor, entry, actor=actor)
    return entry_id


def post_payment_settled(cursor, order: dict, *, actor: str | None) -> None:
    post_ledger(cursor, ledger.payment_settled(order["id"], int(order["total"])), actor=actor)


def post_refund_issued(cursor, order_id: str, amount: int, *, actor: str | None) -> None:
    post_ledger(cursor, ledger.refund_issued(order_id, int(amount)), actor=actor)


def post_order_completed(cursor, order: dict, fee_bps: int, *, actor: str | None) -> None:
    """Escrow -> the shop and the platform: what was sold, net of refunds already made."""
    sold = int(order["total"]) - refund_store.posted_total(cursor, order["id"])
    if sold <= 0:
        return
    post_ledger(
        cursor,
        ledger.order_completed(order["id"], order["shop_id"], sold, fee_bps),
        actor=actor,
    )


def audit(cursor, order_id: str, action: str, *, actor: str | None, data: dict) -> None:
    audit_store.append(
        cursor, entity="order", entity_id=order_id, action=action, actor=actor, data=data
    )
