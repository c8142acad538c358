"""The checkout saga (DESIGN.md §5) across the marketplace DB, the showcase and the provider.

0. ask the showcase which shop sells each line; one order per shop (up to 10 shops);
1. commit the checkout and its orders UNPAID (invisible: `placed_at` is NULL until step 4);
2. reserve each order's stock on the showcase (one reservation per order, idempotent on the
   order id, retried on transport errors), shop by shop in shop-id order; any order's
   insufficient stock or refused item -> what the others reserved is released and the rows
   are deleted ("not created"); the showcase unreachable -> the orders are cancelled
   invisibly and releases are queued in the outbox (a reservation may exist even though we
   got no answer);
3. store each order's price snapshot (the showcase's authoritative unit prices) and totals;
4. ask the provider for one payment of the checkout's total (its order_id is the checkout
   id); on success the checkout and all its orders become visible in one transaction;
   provider unreachable -> cancelled invisibly, releases + provider cancel queued.

Every failure leaves no visible order and nothing half-done: what remains to undo on the
other side is an outbox row, relayed with retries. A process dying mid-saga leaves an
invisible UNPAID order that the payment-expiry worker cleans up the same way.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from servicekit.auth import inactive_account
from servicekit.problems import Problem

from ..clients.payments import ProviderRefused, ProviderUnavailable
from ..clients.storefront import (
    InsufficientStock,
    StorefrontRefused,
    StorefrontUnavailable,
    UnusableAnswer,
    attribution_of,
)
from ..context import Context
from ..domain import ledger
from ..domain.checkouts import TooManyShops, UnknownProduct, split_by_shop
from ..domain.money import line_total
from ..domain.orders import OrderStatus, payment_deadline
from ..store import checkouts as checkout_store
from ..store import idempotency as idempotency_store
from ..store import orders as order_store
from ..store import outbox
from . import webhooks
from .common import audit, move

log = logging.getLogger("transaction.checkout")

RETRY_AFTER_SECONDS = "5"


@dataclass(frozen=True)
class CheckoutRequest:
    buyer_id: str
    items: list[dict]  # [{product_id: str, quantity: int, content_id?: str}]
    shipping_address: dict
    payment_method: str
    # The Idempotency-Key this checkout runs under: the placed order is recorded on it in
    # the transaction that places it, so the key can never place a second one.
    idempotency: idempotency_store.Hold | None = None


def _unavailable(what: str, slug: str) -> Problem:
    return Problem(
        503,
        "Service Unavailable",
        f"{what} is not available right now; nothing was charged and no order was placed. "
        "Retry with the same Idempotency-Key.",
        slug=slug,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@dataclass
class _Part:
    """One shop's share of the checkout: its lines and, once created, its order."""

    shop_id: str
    items: list[dict]
    order_id: str = ""
    reserved: bool = False
    snapshot: dict | None = None


def place_order(ctx: Context, request: CheckoutRequest) -> dict:
    """Place the checkout; returns its first order (single-shop callers)."""
    return place_checkout(ctx, request)["orders"][0]


def place_checkout(ctx: Context, request: CheckoutRequest) -> dict:
    """One order per shop, one reservation per order (all or nothing), one payment of the
    total; returns `{checkout, orders}` once everything is visible."""
    actor = request.buyer_id
    # A checkout of one order shares its id: the provider's order_id is then both. The
    # order is committed first (invisible), as before any call to the showcase.
    checkout_id = str(uuid.uuid4())
    with ctx.database.transaction() as cursor:
        checkout_store.insert(cursor, checkout_id, buyer_id=request.buyer_id,
                              payment_method=request.payment_method)
        _insert_order(cursor, request, checkout_id, checkout_id)
    try:
        parts = _split_by_shop(ctx, request)
    except StorefrontUnavailable as exc:
        log.warning("product lookup failed", extra={"checkout_id": checkout_id,
                                                    "error": str(exc)})
        _abandon_checkout(ctx, checkout_id, "storefront-unavailable", actor=actor,
                          cancel_at_provider=False)
        raise _unavailable("The storefront", "storefront-unavailable") from None
    except Problem:
        with ctx.database.transaction() as cursor:
            checkout_store.delete_unplaced(cursor, checkout_id)
        raise
    if len(parts) == 1:
        parts[0].order_id = checkout_id
    else:
        # Several shops: one order each, under ids of their own.
        with ctx.database.transaction() as cursor:
            order_store.delete_unplaced_order(cursor, checkout_id)
            for part in parts:
                part.order_id = str(uuid.uuid4())
                _insert_order(cursor, request, part.order_id, checkout_id)

    # -- 2. reserve, shop by shop in shop-id order: two checkouts racing for the same
    # shops meet at the same first shop, so a loser never holds what the winner needs.
    for part in parts:
        try:
            reservation = ctx.storefront.reserve(part.order_id, request.buyer_id, part.items)
            part.reserved = True
            part.snapshot = _snapshot(part.items, reservation)
        except InsufficientStock as refusal:
            _undo(ctx, checkout_id, parts, "insufficient-stock", actor=actor)
            raise Problem(
                409,
                "Insufficient stock",
                refusal.detail,
                slug="insufficient-stock",
                extra=_passthrough(refusal.problem),
            ) from None
        except StorefrontRefused as refusal:
            _undo(ctx, checkout_id, parts, "refused", actor=actor)
            if refusal.status == 403:  # the showcase holds no stock for an inactive buyer
                raise inactive_account() from None
            raise _item_problem(refusal) from None
        except (StorefrontUnavailable, _BadReservation) as exc:
            log.warning("reservation failed", extra={"order_id": part.order_id,
                                                     "checkout_id": checkout_id,
                                                     "error": str(exc)})
            part.reserved = True  # we got no usable answer: it may exist
            _abandon_checkout(ctx, checkout_id, "storefront-unavailable", actor=actor,
                              cancel_at_provider=False)
            raise _unavailable("The storefront", "storefront-unavailable") from None

    # -- 3. snapshot -----------------------------------------------------------------
    now = datetime.now(UTC)
    deadline = min(
        payment_deadline(now, ctx.config.payment_expiry_seconds,
                         part.snapshot["reservation_expires_at"])
        for part in parts
    )
    total = sum(part.snapshot["subtotal"] for part in parts)
    with ctx.database.transaction() as cursor:
        checkout = checkout_store.lock(cursor, checkout_id)
        orders = checkout_store.lock_orders(cursor, checkout_id)
        if checkout is None or any(o is None or o["status"] != OrderStatus.UNPAID
                                   for o in orders):
            raise _unavailable("The checkout", "checkout-interrupted")
        for part in parts:
            snapshot = part.snapshot
            order_store.save_snapshot(
                cursor,
                part.order_id,
                shop_id=snapshot["shop_id"],
                items=snapshot["items"],
                subtotal=snapshot["subtotal"],
                shipping_fee=0,
                total=snapshot["subtotal"],
                reservation_expires_at=snapshot["reservation_expires_at"],
                payment_deadline=deadline,
            )
            order_store.insert_payment(
                cursor, part.order_id, provider=ctx.payments.name,
                method=request.payment_method, amount=snapshot["subtotal"],
            )
        checkout_store.update(cursor, checkout_id, total=total, payment_deadline=deadline,
                              provider=ctx.payments.name)

    # -- 4. one payment instruction for the whole checkout -----------------------------
    expiry_seconds = max(1, int((deadline - datetime.now(UTC)).total_seconds()))
    try:
        charge = ctx.payments.charge(
            order_id=checkout_id,
            gross_amount=total,
            method=request.payment_method,
            expiry_seconds=expiry_seconds,
        )
    except (ProviderUnavailable, ProviderRefused) as exc:
        log.warning("charge failed", extra={"checkout_id": checkout_id, "error": str(exc)})
        _abandon_checkout(ctx, checkout_id, "payment-provider-unavailable", actor=actor,
                          cancel_at_provider=True)
        raise _unavailable("The payment provider", "payment-provider-unavailable") from None

    try:
        return _place(ctx, request, checkout_id, parts, charge, deadline)
    except _KeyTakenOver:
        # Another request retook this key's lock (ours looked dead): it runs the checkout;
        # this attempt's orders never become visible.
        _abandon_checkout(ctx, checkout_id, "idempotency-key-taken-over", actor=actor,
                          cancel_at_provider=True)
        raise Problem(
            409, "Idempotency-Key in use",
            "Another request with this Idempotency-Key took over; retry to see its result.",
            slug="idempotency-key-in-use", headers={"Retry-After": "1"},
        ) from None


def _insert_order(cursor, request: CheckoutRequest, order_id: str, checkout_id: str) -> None:
    order_store.insert_order(
        cursor, buyer_id=request.buyer_id, payment_method=request.payment_method,
        shipping_address=request.shipping_address, order_id=order_id, checkout_id=checkout_id,
    )


def _split_by_shop(ctx: Context, request: CheckoutRequest) -> list[_Part]:
    """The request's lines grouped by the shop the showcase says sells each product, in
    shop-id order (the order reservations are taken in). Raises StorefrontUnavailable, or
    a 422 problem for an unknown or withdrawn product and for more than 10 shops."""
    known = ctx.product_shops.product_shops([item["product_id"] for item in request.items])
    try:
        groups = split_by_shop(request.items, known)
    except UnknownProduct as exc:
        raise Problem(422, "Unknown product", str(exc), slug="validation-error",
                      errors={"items": [str(exc)]}, extra={"product_id": exc.product_id}) from None
    except TooManyShops as exc:
        raise Problem(422, "Validation failed", str(exc), slug="validation-error",
                      errors={"items": [str(exc)]}) from None
    return [_Part(shop_id, items) for shop_id, items in groups]


def load_placed_order(ctx: Context, order_id: str) -> dict | None:
    with ctx.database.transaction() as cursor:
        return order_store.get_order(cursor, order_id)


def load_checkout(ctx: Context, checkout_id: str) -> dict | None:
    """The placed checkout with its orders (`orders`), or None."""
    with ctx.database.transaction() as cursor:
        checkout = checkout_store.get(cursor, checkout_id)
        if checkout is None or checkout["placed_at"] is None:
            return None
        orders = [order_store.get_order(cursor, order_id)
                  for order_id in checkout_store.order_ids(cursor, checkout_id)]
        return {"checkout": checkout, "orders": [o for o in orders if o is not None]}


class _KeyTakenOver(Exception):
    """The Idempotency-Key is no longer held by this checkout."""


def _place(ctx: Context, request: CheckoutRequest, checkout_id: str, parts: list[_Part],
           charge, deadline: datetime) -> dict:
    """Make the checkout and its orders visible, and record them on the Idempotency-Key,
    in one transaction."""
    actor = request.buyer_id
    with ctx.database.transaction() as cursor:
        checkout = checkout_store.lock(cursor, checkout_id)
        orders = checkout_store.lock_orders(cursor, checkout_id)
        if checkout is None or checkout["status"] != "UNPAID" or checkout["placed_at"] or any(
            order is None or order["status"] != OrderStatus.UNPAID or order["placed_at"]
            for order in orders
        ):
            # Reaped as abandoned while we waited on the provider (far beyond any timeout).
            raise _unavailable("The checkout", "checkout-interrupted")
        # Our deadline is what we enforce; the provider's own can only be later.
        expires_at = min(deadline, charge.expires_at) if charge.expires_at else deadline
        instruction = {"provider_transaction_id": charge.transaction_id,
                       "va_number": charge.va_number, "bank": charge.bank,
                       "deeplink": charge.deeplink, "expires_at": expires_at}
        checkout_store.update(cursor, checkout_id, placed_at="now()", **instruction)
        by_id = {order["id"]: order for order in orders}
        for part in parts:
            order_store.update_payment(cursor, part.order_id, **instruction)
            order_store.mark_placed(cursor, part.order_id)
        # The key records the checkout's first order (its checkout is found from it), so
        # the key can never place a second checkout.
        if request.idempotency is not None and not idempotency_store.record_order(
            cursor, request.idempotency, parts[0].order_id
        ):
            raise _KeyTakenOver()
        for part in parts:
            webhooks.order_event(cursor, "order.created", by_id[part.order_id])
            audit(
                cursor, part.order_id, "order.placed", actor=actor,
                data={
                    "buyer_id": request.buyer_id,
                    "shop_id": part.snapshot["shop_id"],
                    "total": part.snapshot["subtotal"],
                    "payment_method": request.payment_method,
                    "provider_transaction_id": charge.transaction_id,
                    "checkout_id": checkout_id,
                },
            )
        return {
            "checkout": checkout_store.get(cursor, checkout_id),
            "orders": [order_store.get_order(cursor, part.order_id) for part in parts],
        }


class _BadReservation(Exception):
    """The showcase answered 2xx with something we cannot use."""


def _snapshot(wanted_items: list[dict], reservation: dict) -> dict:
    status = reservation.get("status")
    if status != "active":
        raise _BadReservation(f"reservation is {status!r}, not active")
    returned = reservation.get("items")
    if not isinstance(returned, list):
        raise _BadReservation("reservation has no items")
    by_product = {str(item.get("product_id")): item for item in returned if isinstance(item, dict)}
    items, subtotal, shops = [], 0, set()
    for wanted in wanted_items:
        item = by_product.get(wanted["product_id"])
        if item is None:
            raise _BadReservation(f"product {wanted['product_id']} missing from reservation")
        unit_price, quantity = item.get("unit_price"), item.get("quantity")
        if isinstance(unit_price, dict):  # tolerate {"amount", "currency"}
            unit_price = unit_price.get("amount")
        if (
            isinstance(unit_price, bool) or not isinstance(unit_price, int) or unit_price < 0
            or quantity != wanted["quantity"]
        ):
            raise _BadReservation(f"unusable reservation line {item!r}")
        total = line_total(unit_price, quantity)
        subtotal += total
        shops.add(str(item.get("shop_id") or reservation.get("shop_id")))
        try:
            attribution = attribution_of(item, wanted.get("content_id"))
        except UnusableAnswer as exc:
            raise _BadReservation(str(exc)) from None
        if attribution is not None:
            # Frozen with the order: the rate the showcase answered, never recomputed.
            attribution["commission"] = ledger.commission(
                total, attribution["commission_rate_bps"]
            )
        items.append(
            {
                "product_id": wanted["product_id"],
                "title": str(item.get("title") or ""),
                "quantity": quantity,
                "unit_price": unit_price,
                "line_total": total,
                "attribution": attribution,
            }
        )
    shop_id = reservation.get("shop_id") or (shops.pop() if len(shops) == 1 else None)
    if not shop_id or len(shops) > 1:
        raise _BadReservation("reservation spans several shops or names none")
    expires_at = _parse_time(reservation.get("expires_at"))
    return {
        "shop_id": str(shop_id),
        "items": items,
        "subtotal": subtotal,
        "reservation_expires_at": expires_at,
    }


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _undo(ctx: Context, checkout_id: str, parts: list[_Part], reason: str, *,
          actor: str | None) -> None:
    """The showcase refused one order's reservation: give back what the others reserved
    (now, so the stock is free again at once); then the checkout never existed. A release
    that cannot be made now is left to the outbox, with its order cancelled invisibly."""
    unreleased = []
    for part in parts:
        if not part.reserved:
            continue
        try:
            answer = ctx.storefront.release(part.order_id)
        except StorefrontUnavailable:
            answer = None
        if answer is None or answer.status not in (200, 404):
            unreleased.append(part.order_id)
    with ctx.database.transaction() as cursor:
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


def _abandon_checkout(ctx: Context, checkout_id: str, reason: str, *, actor: str | None,
                      cancel_at_provider: bool) -> None:
    """Cancel every invisible order of the checkout and queue the undo calls."""
    with ctx.database.transaction() as cursor:
        checkout = checkout_store.lock(cursor, checkout_id)
        if checkout is None:
            return
        for order in checkout_store.lock_orders(cursor, checkout_id):
            if order["status"] == OrderStatus.UNPAID and order["placed_at"] is None:
                abandon_locked(cursor, order, reason, actor=actor,
                               cancel_at_provider=cancel_at_provider)
        if checkout["status"] == "UNPAID" and checkout["placed_at"] is None:
            checkout_store.update(cursor, checkout_id, status="CANCELLED", closed_at="now()")


def abandon_locked(
    cursor, order: dict, reason: str, *, actor: str | None, cancel_at_provider: bool
) -> None:
    order_id = order["id"]
    move(
        cursor, order, OrderStatus.CANCELLED, actor=actor,
        stamp={"checkout_failure": reason, "cancel_reason": reason},
        data={"reason": reason, "visible": False},
    )
    # No payment row exists yet when the reservation failed; the update is then a no-op.
    order_store.update_payment(cursor, order_id, status="failed")
    outbox.enqueue(cursor, outbox.RESERVATION_RELEASE, {"order_id": order_id}, order_id=order_id)
    if cancel_at_provider:
        # The provider knows the payment by its checkout's id.
        outbox.enqueue(cursor, outbox.PROVIDER_CANCEL,
                       {"order_id": order.get("checkout_id") or order_id}, order_id=order_id)


def _passthrough(problem: dict) -> dict:
    """Fields of the showcase's problem worth showing the buyer (which product, how many)."""
    keep = ("product_id", "requested", "available")
    return {name: problem[name] for name in keep if name in problem}


def _item_problem(refusal: StorefrontRefused) -> Problem:
    errors = refusal.problem.get("errors")
    if not isinstance(errors, dict) or not errors:
        errors = {"items": [refusal.detail]}
    else:
        errors = {
            (name if name.startswith("items") else f"items.{name}"): (
                messages if isinstance(messages, list) else [str(messages)]
            )
            for name, messages in errors.items()
        }
    title = "Unknown product" if refusal.status == 404 else "Validation failed"
    return Problem(
        422, title, refusal.detail, slug="validation-error", errors=errors,
        extra=_passthrough(refusal.problem),
    )
