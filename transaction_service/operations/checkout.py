"""The checkout saga (DESIGN.md §5) across the marketplace DB, the showcase and the provider.

1. commit the order UNPAID (invisible: `placed_at` is NULL until step 4);
2. reserve the stock on the showcase (idempotent on the order id, retried on transport
   errors); insufficient stock or a refused item -> the order row is deleted ("not
   created"); the showcase unreachable -> the order is cancelled invisibly and a release is
   queued in the outbox (the reservation may exist even though we got no answer);
3. store the price snapshot (the showcase's authoritative unit prices) and totals;
4. ask the provider for payment instructions; on success the order becomes visible;
   provider unreachable -> cancelled invisibly, release + provider cancel queued.

Every failure leaves no visible order and nothing half-done: what remains to undo on the
other side is an outbox row, relayed with retries. A process dying mid-saga leaves an
invisible UNPAID order that the payment-expiry worker cleans up the same way.
"""

from __future__ import annotations

import logging
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
from ..domain.money import line_total
from ..domain.orders import OrderStatus, payment_deadline
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


def place_order(ctx: Context, request: CheckoutRequest) -> dict:
    actor = request.buyer_id
    with ctx.database.transaction() as cursor:
        order = order_store.insert_order(
            cursor,
            buyer_id=request.buyer_id,
            payment_method=request.payment_method,
            shipping_address=request.shipping_address,
        )
    order_id = order["id"]

    # -- 2. reserve ------------------------------------------------------------------
    try:
        reservation = ctx.storefront.reserve(order_id, request.buyer_id, request.items)
        snapshot = _snapshot(request, reservation)
    except InsufficientStock as refusal:
        _forget(ctx, order_id)
        raise Problem(
            409,
            "Insufficient stock",
            refusal.detail,
            slug="insufficient-stock",
            extra=_passthrough(refusal.problem),
        ) from None
    except StorefrontRefused as refusal:
        _forget(ctx, order_id)
        if refusal.status == 403:  # the showcase holds no stock for an inactive buyer
            raise inactive_account() from None
        raise _item_problem(refusal) from None
    except (StorefrontUnavailable, _BadReservation) as exc:
        log.warning("reservation failed", extra={"order_id": order_id, "error": str(exc)})
        _abandon(ctx, order_id, "storefront-unavailable", actor=actor, cancel_at_provider=False)
        raise _unavailable("The storefront", "storefront-unavailable") from None

    # -- 3. snapshot -----------------------------------------------------------------
    now = datetime.now(UTC)
    deadline = payment_deadline(
        now, ctx.config.payment_expiry_seconds, snapshot["reservation_expires_at"]
    )
    with ctx.database.transaction() as cursor:
        order = order_store.lock_order(cursor, order_id)
        if order is None or order["status"] != OrderStatus.UNPAID:
            raise _unavailable("The checkout", "checkout-interrupted")
        order_store.save_snapshot(
            cursor,
            order_id,
            shop_id=snapshot["shop_id"],
            items=snapshot["items"],
            subtotal=snapshot["subtotal"],
            shipping_fee=0,
            total=snapshot["subtotal"],
            reservation_expires_at=snapshot["reservation_expires_at"],
            payment_deadline=deadline,
        )
        order_store.insert_payment(
            cursor, order_id, provider=ctx.payments.name, method=request.payment_method,
            amount=snapshot["subtotal"],
        )

    # -- 4. payment instructions -----------------------------------------------------
    expiry_seconds = max(1, int((deadline - datetime.now(UTC)).total_seconds()))
    try:
        charge = ctx.payments.charge(
            order_id=order_id,
            gross_amount=snapshot["subtotal"],
            method=request.payment_method,
            expiry_seconds=expiry_seconds,
        )
    except (ProviderUnavailable, ProviderRefused) as exc:
        log.warning("charge failed", extra={"order_id": order_id, "error": str(exc)})
        _abandon(ctx, order_id, "payment-provider-unavailable", actor=actor,
                 cancel_at_provider=True)
        raise _unavailable("The payment provider", "payment-provider-unavailable") from None

    try:
        return _place(ctx, request, order_id, snapshot, charge, deadline)
    except _KeyTakenOver:
        # Another request retook this key's lock (ours looked dead): it runs the checkout;
        # this attempt's order never becomes visible.
        _abandon(ctx, order_id, "idempotency-key-taken-over", actor=actor,
                 cancel_at_provider=True)
        raise Problem(
            409, "Idempotency-Key in use",
            "Another request with this Idempotency-Key took over; retry to see its result.",
            slug="idempotency-key-in-use", headers={"Retry-After": "1"},
        ) from None


def load_placed_order(ctx: Context, order_id: str) -> dict | None:
    with ctx.database.transaction() as cursor:
        return order_store.get_order(cursor, order_id)


class _KeyTakenOver(Exception):
    """The Idempotency-Key is no longer held by this checkout."""


def _place(ctx: Context, request: CheckoutRequest, order_id: str, snapshot: dict, charge,
           deadline: datetime) -> dict:
    """Make the order visible, and record it on the Idempotency-Key, in one transaction."""
    actor = request.buyer_id
    with ctx.database.transaction() as cursor:
        order = order_store.lock_order(cursor, order_id)
        if order is None or order["status"] != OrderStatus.UNPAID or order["placed_at"]:
            # Reaped as abandoned while we waited on the provider (far beyond any timeout).
            raise _unavailable("The checkout", "checkout-interrupted")
        order_store.update_payment(
            cursor,
            order_id,
            provider_transaction_id=charge.transaction_id,
            va_number=charge.va_number,
            bank=charge.bank,
            deeplink=charge.deeplink,
            # Our deadline is what we enforce; the provider's own can only be later.
            expires_at=min(deadline, charge.expires_at) if charge.expires_at else deadline,
        )
        order_store.mark_placed(cursor, order_id)
        if request.idempotency is not None and not idempotency_store.record_order(
            cursor, request.idempotency, order_id
        ):
            raise _KeyTakenOver()
        webhooks.order_event(cursor, "order.created", order)
        audit(
            cursor, order_id, "order.placed", actor=actor,
            data={
                "buyer_id": request.buyer_id,
                "shop_id": snapshot["shop_id"],
                "total": snapshot["subtotal"],
                "payment_method": request.payment_method,
                "provider_transaction_id": charge.transaction_id,
            },
        )
        return order_store.get_order(cursor, order_id)


class _BadReservation(Exception):
    """The showcase answered 2xx with something we cannot use."""


def _snapshot(request: CheckoutRequest, reservation: dict) -> dict:
    status = reservation.get("status")
    if status != "active":
        raise _BadReservation(f"reservation is {status!r}, not active")
    returned = reservation.get("items")
    if not isinstance(returned, list):
        raise _BadReservation("reservation has no items")
    by_product = {str(item.get("product_id")): item for item in returned if isinstance(item, dict)}
    items, subtotal, shops = [], 0, set()
    for wanted in request.items:
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


def _forget(ctx: Context, order_id: str) -> None:
    """The showcase refused to reserve anything: the order never existed."""
    with ctx.database.transaction() as cursor:
        order_store.delete_unplaced_order(cursor, order_id)


def _abandon(
    ctx: Context, order_id: str, reason: str, *, actor: str | None, cancel_at_provider: bool
) -> None:
    """Cancel an invisible order and queue the undo calls for the other side."""
    with ctx.database.transaction() as cursor:
        order = order_store.lock_order(cursor, order_id)
        if order is None or order["status"] != OrderStatus.UNPAID:
            return
        abandon_locked(cursor, order, reason, actor=actor, cancel_at_provider=cancel_at_provider)


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
        outbox.enqueue(cursor, outbox.PROVIDER_CANCEL, {"order_id": order_id}, order_id=order_id)


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
