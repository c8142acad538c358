"""The marketplace's own side of the checkout saga (operations/checkout.py): each method is
one transaction on its database, and the saga reaches them only through `ctx.checkouts`,
so its steps and every compensation can be run in-process against a fake
(tests/unit/transaction/test_checkout_saga.py).

Lock order as everywhere: the checkout row first, then its orders by id.
"""

from __future__ import annotations

from datetime import datetime

from servicekit.db import Database

from ..clients.payments import ChargeResult
from ..clients.storefront import Reservation
from ..domain.orders import OrderStatus
from ..store import checkouts as checkout_store
from ..store import idempotency as idempotency_store
from ..store import orders as order_store
from . import webhooks
from .common import audit, close_unpaid

# (order id, its checked reservation): one shop's order of the checkout.
Reserved = tuple[str, Reservation]


class KeyTakenOver(Exception):
    """The Idempotency-Key is no longer held by this checkout."""


def abandon_locked(cursor, order: dict, reason: str, *, actor: str | None,
                   cancel_at_provider: bool) -> None:
    """An invisible order of a checkout that failed (or was abandoned mid-saga) closes
    unpaid: CANCELLED with the reason, whatever it reserved released."""
    close_unpaid(cursor, order, OrderStatus.CANCELLED, actor=actor,
                 stamp={"checkout_failure": reason, "cancel_reason": reason},
                 data={"reason": reason, "visible": False}, payment_status="failed",
                 cancel_at_provider=cancel_at_provider)


class CheckoutRecords:
    def __init__(self, database: Database):
        self.database = database

    def open(self, checkout_id: str, request, order_ids: list[str]) -> None:
        """The checkout and its orders (one per shop; a single one shares the checkout's
        id), UNPAID and invisible (`placed_at` NULL), committed before any reservation."""
        with self.database.transaction() as cursor:
            checkout_store.insert(cursor, checkout_id, buyer_id=request.buyer_id,
                                  payment_method=request.payment_method)
            for order_id in order_ids:
                _insert_order(cursor, request, order_id, checkout_id)

    def abandon(self, checkout_id: str, reason: str, *, actor: str | None,
                cancel_at_provider: bool) -> None:
        """Cancel every invisible order of the checkout and queue the undo calls."""
        with self.database.transaction() as cursor:
            checkout = checkout_store.lock(cursor, checkout_id)
            if checkout is None:
                return
            for order in checkout_store.lock_orders(cursor, checkout_id):
                if order["status"] == OrderStatus.UNPAID and order["placed_at"] is None:
                    abandon_locked(cursor, order, reason, actor=actor,
                                   cancel_at_provider=cancel_at_provider)
            if checkout["status"] == "UNPAID" and checkout["placed_at"] is None:
                checkout_store.update(cursor, checkout_id, status="CANCELLED",
                                      closed_at="now()")

    def undo(self, checkout_id: str, unreleased: list[str], reason: str, *,
             actor: str | None) -> None:
        """The saga gave back what it could reserve: the checkout never existed, except
        the orders in `unreleased` (their release could not be made now), which are
        cancelled invisibly with the release left to the outbox."""
        with self.database.transaction() as cursor:
            if not unreleased:
                checkout_store.delete_unplaced(cursor, checkout_id)
                return
            checkout_store.lock(cursor, checkout_id)
            for order in checkout_store.lock_orders(cursor, checkout_id):
                if order["id"] in unreleased and order["status"] == OrderStatus.UNPAID:
                    abandon_locked(cursor, order, reason, actor=actor, cancel_at_provider=False)
                elif order["status"] == OrderStatus.UNPAID and order["placed_at"] is None:
                    order_store.delete_unplaced_order(cursor, order["id"])
            checkout_store.update(cursor, checkout_id, status="CANCELLED", closed_at="now()")

    def save_snapshot(self, checkout_id: str, reserved: list[Reserved], *, total: int,
                      deadline: datetime, provider: str, method: str) -> bool:
        """Each order's price snapshot and payment row, the checkout's total. False when
        the checkout was reaped as abandoned meanwhile (nothing is written then)."""
        with self.database.transaction() as cursor:
            checkout = checkout_store.lock(cursor, checkout_id)
            orders = checkout_store.lock_orders(cursor, checkout_id)
            if checkout is None or any(o is None or o["status"] != OrderStatus.UNPAID
                                       for o in orders):
                return False
            for order_id, reservation in reserved:
                order_store.save_snapshot(
                    cursor,
                    order_id,
                    shop_id=reservation.shop_id,
                    items=reservation.items,
                    subtotal=reservation.subtotal,
                    shipping_fee=0,
                    total=reservation.subtotal,
                    reservation_expires_at=reservation.expires_at,
                    payment_deadline=deadline,
                )
                order_store.insert_payment(cursor, order_id, provider=provider, method=method,
                                           amount=reservation.subtotal)
            checkout_store.update(cursor, checkout_id, total=total, payment_deadline=deadline,
                                  provider=provider)
        return True

    def place(self, checkout_id: str, request, reserved: list[Reserved], charge: ChargeResult,
              deadline: datetime) -> dict | None:
        """Make the checkout and its orders visible, and record them on the
        Idempotency-Key, in one transaction; returns `{checkout, orders}`. None when the
        checkout was reaped meanwhile; KeyTakenOver (nothing written) when another request
        retook the key."""
        with self.database.transaction() as cursor:
            checkout = checkout_store.lock(cursor, checkout_id)
            orders = checkout_store.lock_orders(cursor, checkout_id)
            if checkout is None or checkout["status"] != "UNPAID" or checkout["placed_at"] or any(
                order is None or order["status"] != OrderStatus.UNPAID or order["placed_at"]
                for order in orders
            ):
                return None
            # Our deadline is what we enforce; the provider's own can only be later.
            expires_at = min(deadline, charge.expires_at) if charge.expires_at else deadline
            instruction = {"provider_transaction_id": charge.transaction_id,
                           "va_number": charge.va_number, "bank": charge.bank,
                           "deeplink": charge.deeplink, "expires_at": expires_at}
            checkout_store.update(cursor, checkout_id, placed_at="now()", **instruction)
            by_id = {order["id"]: order for order in orders}
            for order_id, _reservation in reserved:
                order_store.update_payment(cursor, order_id, **instruction)
                order_store.mark_placed(cursor, order_id)
            # The key records the checkout's first order (its checkout is found from it),
            # so the key can never place a second checkout.
            if request.idempotency is not None and not idempotency_store.record_order(
                cursor, request.idempotency, reserved[0][0]
            ):
                raise KeyTakenOver()
            for order_id, reservation in reserved:
                webhooks.order_event(cursor, "order.created", by_id[order_id])
                audit(
                    cursor, order_id, "order.placed", actor=request.buyer_id,
                    data={
                        "buyer_id": request.buyer_id,
                        "shop_id": reservation.shop_id,
                        "total": reservation.subtotal,
                        "payment_method": request.payment_method,
                        "provider_transaction_id": charge.transaction_id,
                        "checkout_id": checkout_id,
                    },
                )
            return {
                "checkout": checkout_store.get(cursor, checkout_id),
                "orders": [order_store.get_order(cursor, order_id) for order_id, _ in reserved],
            }


def _insert_order(cursor, request, order_id: str, checkout_id: str) -> None:
    order_store.insert_order(
        cursor, buyer_id=request.buyer_id, payment_method=request.payment_method,
        shipping_address=request.shipping_address, order_id=order_id, checkout_id=checkout_id,
    )
