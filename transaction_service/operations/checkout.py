"""The checkout saga (DESIGN.md §5) across the marketplace DB, the showcase and the provider.

`place_checkout` runs five named steps; each one that fails undoes what the steps before it
did, then raises a domain error (the API answers it as a problem):

1. open: commit the checkout and one order UNPAID and invisible (`placed_at` NULL until
   `place`), ask the showcase which shop sells each line, one order per shop (up to 10);
   unknown products or too many shops -> the rows are deleted ("not created"); the
   showcase unreachable -> the order is cancelled invisibly, its release queued;
2. reserve: each order's stock on the showcase (one reservation per order, idempotent on
   the order id), shop by shop in shop-id order; insufficient stock or a refused item ->
   what the others reserved is released and the rows are deleted; the showcase
   unreachable or answering nonsense -> the orders are cancelled invisibly and releases are
   queued in the outbox (a reservation may exist even though we got no usable answer);
3. snapshot: store each order's price snapshot (the showcase's checked prices), its payment
   row and the checkout's total and deadline;
4. charge: ask the provider for one payment of the checkout's total (its order_id is the
   checkout id); unreachable or refused -> cancelled invisibly, releases + provider cancel
   queued;
5. place: the checkout and all its orders become visible, recorded on the Idempotency-Key,
   in one transaction; the key taken over by another request -> cancelled invisibly.

Every failure leaves no visible order and nothing half-done: what remains to undo on the
other side is an outbox row, relayed with retries. A process dying mid-saga leaves an
invisible UNPAID order that the payment-expiry worker cleans up the same way. The steps
reach the database only through `ctx.checkouts` (operations/checkout_records.py), so
each branch is tested in-process with fakes (tests/unit/transaction/test_checkout_saga.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..clients.payments import ChargeResult, ProviderRefused, ProviderUnavailable
from ..clients.storefront import (
    InsufficientStock,
    Reservation,
    StorefrontRefused,
    StorefrontUnavailable,
)
from ..context import Context
from ..domain import errors
from ..domain.checkouts import TooManyShops, UnknownProduct, split_by_shop
from ..domain.orders import payment_deadline
from ..store import checkouts as checkout_store
from ..store import idempotency as idempotency_store
from ..store import orders as order_store
from .checkout_records import KeyTakenOver

log = logging.getLogger("transaction.checkout")

RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class CheckoutRequest:
    buyer_id: str
    items: list[dict]  # [{product_id: str, quantity: int, content_id?: str}]
    shipping_address: dict
    payment_method: str
    # The Idempotency-Key this checkout runs under: the placed order is recorded on it in
    # the transaction that places it, so the key can never place a second one.
    idempotency: idempotency_store.Hold | None = None


@dataclass
class _Part:
    """One shop's share of the checkout: its lines and, once created, its order."""

    shop_id: str
    items: list[dict]
    order_id: str = ""
    reserved: bool = False  # the showcase may hold stock for it (release it on failure)
    reservation: Reservation | None = None


@dataclass
class _Saga:
    """What the steps know so far about one checkout."""

    request: CheckoutRequest
    checkout_id: str
    parts: list[_Part] = field(default_factory=list)
    total: int = 0
    deadline: datetime | None = None

    @property
    def actor(self) -> str:
        return self.request.buyer_id

    def reservations(self) -> list[tuple[str, Reservation]]:
        return [(part.order_id, part.reservation) for part in self.parts]


def refuse_known_sold_out(ctx: Context, items: list[dict]) -> None:
    """Refuse a checkout asking for more of a product than the showcase said was left
    when it refused one a moment ago (`ctx.sold_out`), before any key is claimed or row
    written: the same 409 the showcase would give, for the cost of a dictionary lookup."""
    shortfall = ctx.sold_out.shortfall(items)
    if shortfall is not None:
        raise errors.InsufficientStock(
            f"Only {shortfall['available']} unit(s) of product {shortfall['product_id']} are "
            f"available; {shortfall['requested']} requested.", **shortfall)


def place_checkout(ctx: Context, request: CheckoutRequest) -> dict:
    """One order per shop, one reservation per order (all or nothing), one payment of the
    total; returns `{checkout, orders}` once everything is visible."""
    saga = _open(ctx, request)
    _reserve(ctx, saga)
    _snapshot(ctx, saga)
    charge = _charge(ctx, saga)
    return _place(ctx, saga, charge)


# --- the steps, in order ----------------------------------------------------------------


def _open(ctx: Context, request: CheckoutRequest) -> _Saga:
    # Which shop sells what is a read: nothing is written before it answers, so a refusal
    # or the showcase being down leaves nothing behind.
    try:
        known = ctx.product_shops.product_shops([item["product_id"] for item in request.items])
    except StorefrontUnavailable as exc:
        log.warning("product lookup failed", extra={"error": str(exc)})
        raise _unavailable("The storefront", "storefront-unavailable") from None
    try:
        groups = split_by_shop(request.items, known)  # in shop-id order
    except (UnknownProduct, TooManyShops) as exc:
        raise _invalid_items(exc) from None
    # A checkout of one order shares its id: the provider's order_id is then both.
    saga = _Saga(request, checkout_id=str(uuid.uuid4()))
    saga.parts = [_Part(shop_id, items) for shop_id, items in groups]
    for part in saga.parts:
        part.order_id = saga.checkout_id if len(saga.parts) == 1 else str(uuid.uuid4())
    # Committed (invisible) before the showcase is asked to hold any stock for them.
    ctx.checkouts.open(saga.checkout_id, request, [part.order_id for part in saga.parts])
    return saga


def _reserve(ctx: Context, saga: _Saga) -> None:
    # Shop by shop in shop-id order: two checkouts racing for the same shops meet at the
    # same first shop, so a loser never holds what the winner needs.
    for part in saga.parts:
        try:
            part.reservation = ctx.storefront.reserve(part.order_id, saga.request.buyer_id,
                                                      part.items)
            part.reserved = True
            ctx.sold_out.reserved(item["product_id"] for item in part.items)
        except InsufficientStock as refusal:
            ctx.sold_out.refused(refusal.problem)
            _release_reserved(ctx, saga, "insufficient-stock")
            raise errors.InsufficientStock(refusal.detail,
                                           **_passthrough(refusal.problem)) from None
        except StorefrontRefused as refusal:
            _release_reserved(ctx, saga, "refused")
            if refusal.status == 403:  # the showcase holds no stock for an inactive buyer
                raise errors.AccountInactive() from None
            raise _item_refusal(refusal) from None
        except StorefrontUnavailable as exc:  # a BadReservation answer included
            log.warning("reservation failed", extra={"order_id": part.order_id,
                                                     "checkout_id": saga.checkout_id,
                                                     "error": str(exc)})
            part.reserved = True  # we got no usable answer: it may exist
            ctx.checkouts.abandon(saga.checkout_id, "storefront-unavailable",
                                  actor=saga.actor, cancel_at_provider=False)
            raise _unavailable("The storefront", "storefront-unavailable") from None


def _snapshot(ctx: Context, saga: _Saga) -> None:
    now = datetime.now(UTC)
    saga.deadline = min(
        payment_deadline(now, ctx.config.payment_expiry_seconds, part.reservation.expires_at)
        for part in saga.parts
    )
    saga.total = sum(part.reservation.subtotal for part in saga.parts)
    if not ctx.checkouts.save_snapshot(saga.checkout_id, saga.reservations(), total=saga.total,
                                       deadline=saga.deadline, provider=ctx.payments.name,
                                       method=saga.request.payment_method):
        # Reaped as abandoned while we waited on the showcase: the reaper undid it.
        raise _unavailable("The checkout", "checkout-interrupted")


def _charge(ctx: Context, saga: _Saga) -> ChargeResult:
    """One payment instruction for the whole checkout."""
    expiry_seconds = max(1, int((saga.deadline - datetime.now(UTC)).total_seconds()))
    try:
        return ctx.payments.charge(
            order_id=saga.checkout_id,
            gross_amount=saga.total,
            method=saga.request.payment_method,
            expiry_seconds=expiry_seconds,
        )
    except (ProviderUnavailable, ProviderRefused) as exc:
        log.warning("charge failed", extra={"checkout_id": saga.checkout_id, "error": str(exc)})
        ctx.checkouts.abandon(saga.checkout_id, "payment-provider-unavailable",
                              actor=saga.actor, cancel_at_provider=True)
        raise _unavailable("The payment provider", "payment-provider-unavailable") from None


def _place(ctx: Context, saga: _Saga, charge: ChargeResult) -> dict:
    try:
        placed = ctx.checkouts.place(saga.checkout_id, saga.request, saga.reservations(), charge,
                                     saga.deadline)
    except KeyTakenOver:
        # Another request retook this key's lock (ours looked dead): it runs the checkout;
        # this attempt's orders never become visible.
        ctx.checkouts.abandon(saga.checkout_id, "idempotency-key-taken-over",
                              actor=saga.actor, cancel_at_provider=True)
        raise errors.Conflict(
            "Another request with this Idempotency-Key took over; retry to see its result.",
            title="Idempotency-Key in use", slug="idempotency-key-in-use", retry_after=1,
        ) from None
    if placed is None:
        # Reaped as abandoned while we waited on the provider (far beyond any timeout).
        raise _unavailable("The checkout", "checkout-interrupted")
    return placed


# --- compensation and refusals -------------------------------------------------------------


def _release_reserved(ctx: Context, saga: _Saga, reason: str) -> None:
    """The showcase refused one order's reservation: give back what the others reserved
    (now, so the stock is free again at once); then the checkout never existed. A release
    that cannot be made now is left to the outbox, with its order cancelled invisibly."""
    unreleased = [part.order_id for part in saga.parts
                  if part.reserved and not _released(ctx, part.order_id)]
    ctx.checkouts.undo(saga.checkout_id, unreleased, reason, actor=saga.actor)


def _released(ctx: Context, order_id: str) -> bool:
    try:
        answer = ctx.storefront.release(order_id)
    except StorefrontUnavailable:
        return False
    return answer.status in (200, 404)


def _unavailable(what: str, slug: str) -> errors.Unavailable:
    return errors.Unavailable(
        f"{what} is not available right now; nothing was charged and no order was placed. "
        "Retry with the same Idempotency-Key.",
        slug=slug, retry_after=RETRY_AFTER_SECONDS,
    )


def _invalid_items(exc: UnknownProduct | TooManyShops) -> errors.Invalid:
    if isinstance(exc, UnknownProduct):
        return errors.Invalid(str(exc), title="Unknown product", errors={"items": [str(exc)]},
                              product_id=exc.product_id)
    return errors.Invalid(str(exc), errors={"items": [str(exc)]})


def _passthrough(problem: dict) -> dict:
    """Fields of the showcase's problem worth showing the buyer (which product, how many)."""
    keep = ("product_id", "requested", "available")
    return {name: problem[name] for name in keep if name in problem}


def _item_refusal(refusal: StorefrontRefused) -> errors.Invalid:
    errors_by_field = refusal.problem.get("errors")
    if not isinstance(errors_by_field, dict) or not errors_by_field:
        errors_by_field = {"items": [refusal.detail]}
    else:
        errors_by_field = {
            (name if name.startswith("items") else f"items.{name}"): (
                messages if isinstance(messages, list) else [str(messages)]
            )
            for name, messages in errors_by_field.items()
        }
    return errors.Invalid(
        refusal.detail, title="Unknown product" if refusal.status == 404 else None,
        errors=errors_by_field, **_passthrough(refusal.problem),
    )


# --- reads ---------------------------------------------------------------------------------


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
