"""Delivers outbox rows to the showcase and the provider.

One row per transaction: claim it with `FOR UPDATE SKIP LOCKED` (several relays may run),
call the other side, record the result, commit. Delivery is at-least-once; every receiver
is idempotent (reservation actions on the order id, refunds on their refund key). A
failure is retried with capped exponential backoff and jitter, forever: a row is never
lost. A definite refusal that retrying cannot fix (committing a released reservation) is
recorded as a `conflict` needing a human, logged and audited.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from ..clients.payments import ProviderUnavailable
from ..clients.storefront import StorefrontUnavailable
from ..context import Context
from ..operations import refunds
from ..operations.common import audit
from ..operations.notifications import finish_refund
from ..store import orders as order_store
from ..store import outbox
from ..store import refunds as refund_store

log = logging.getLogger("transaction.outbox")

ACTOR = "system:outbox-relay"
BASE_BACKOFF_SECONDS = 1.0


class RetryLater(Exception):
    """Not delivered this time; try again after a backoff."""


@dataclass
class Delivery:
    outcome: str  # done | conflict
    note: str | None = None
    # Database work that records the delivery, run in the relay's transaction.
    effect: Callable | None = None


def backoff_seconds(attempts: int, cap: float) -> float:
    """Exponential in the attempts made so far, capped, with "equal jitter" so a herd of
    rows failing together spreads out."""
    ceiling = min(cap, BASE_BACKOFF_SECONDS * (2 ** min(attempts, 20)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def relay_once(ctx: Context, limit: int = 100) -> int:
    handled = 0
    tried: set[int] = set()
    while handled < limit:
        with ctx.database.transaction() as cursor:
            row = outbox.claim_next(cursor)
            # A row that failed in this pass and is due again already (a short backoff on a
            # slow pass) waits for the next pass: one attempt per row per pass.
            if row is None or row["id"] in tried:
                break
            tried.add(row["id"])
            outcome = _deliver_row(ctx, cursor, row)
        if outcome is not None:
            # After the commit: one line per row finished (tools.chaos counts them to prove
            # that relays running side by side never deliver a row twice).
            log.info("outbox row delivered", extra={"outbox_id": row["id"], "kind": row["kind"],
                                                    "order_id": row["order_id"],
                                                    "outcome": outcome})
        handled += 1
    return handled


def _deliver_row(ctx: Context, cursor, row: dict) -> str | None:
    """Deliver one claimed row; its outcome (done | conflict), or None when it is retried."""
    kind, payload = row["kind"], row["payload"]
    try:
        delivery = HANDLERS[kind](ctx, payload)
        if delivery.effect is not None:
            cursor.execute("SAVEPOINT delivery_effect")
            try:
                delivery.effect(cursor)
            except Exception:
                cursor.execute("ROLLBACK TO SAVEPOINT delivery_effect")
                raise
    except Exception as exc:  # whatever went wrong, the row stays and is retried
        delay = backoff_seconds(row["attempts"], ctx.config.outbox_max_backoff_seconds)
        expected = isinstance(exc, (RetryLater, StorefrontUnavailable, ProviderUnavailable))
        log.log(logging.WARNING if expected else logging.ERROR,
                "outbox delivery failed; will retry", exc_info=not expected,
                extra={"outbox_id": row["id"], "kind": kind, "order_id": row["order_id"],
                       "attempts": row["attempts"] + 1, "retry_in": round(delay, 2),
                       "error": f"{exc.__class__.__name__}: {exc}"})
        outbox.schedule_retry(cursor, row["id"], delay, f"{exc.__class__.__name__}: {exc}")
        return None
    if delivery.outcome == "conflict":
        log.error("outbox delivery refused permanently; needs attention",
                  extra={"outbox_id": row["id"], "kind": kind, "order_id": row["order_id"],
                         "note": delivery.note})
        if row["order_id"]:
            audit(cursor, row["order_id"], "outbox.conflict", actor=ACTOR,
                  data={"outbox_id": row["id"], "kind": kind, "note": delivery.note or ""})
    outbox.mark_done(cursor, row["id"], delivery.outcome, delivery.note)
    return delivery.outcome


# --- handlers ----------------------------------------------------------------------------


def _reservation_commit(ctx: Context, payload: dict) -> Delivery:
    answer = ctx.storefront.commit(payload["order_id"])
    if answer.status == 200:
        return Delivery("done")
    if answer.status in (404, 409):
        return Delivery("conflict", f"storefront refused commit ({answer.status}): "
                        f"{_detail(answer.body)}")
    raise RetryLater(f"commit answered {answer.status}")


def _reservation_release(ctx: Context, payload: dict) -> Delivery:
    answer = ctx.storefront.release(payload["order_id"])
    if answer.status == 200:
        return Delivery("done")
    if answer.status == 404:
        # The reservation was never made (the checkout failed before it); nothing to undo.
        return Delivery("done", "no reservation to release")
    if answer.status == 409:
        return Delivery("conflict", f"release refused, reservation committed: "
                        f"{_detail(answer.body)}")
    raise RetryLater(f"release answered {answer.status}")


def _reservation_return(ctx: Context, payload: dict) -> Delivery:
    """Give the stock of a cancelled paid order back: release if the reservation was never
    committed, otherwise restock it."""
    order_id = payload["order_id"]
    answer = ctx.storefront.release(order_id)
    if answer.status == 200:
        return Delivery("done", "released")
    if answer.status == 404:
        return Delivery("done", "no reservation to return")
    if answer.status != 409:
        raise RetryLater(f"release answered {answer.status}")
    answer = ctx.storefront.restock(order_id)
    if answer.status == 200:
        return Delivery("done", "restocked")
    if answer.status == 409:
        return Delivery("conflict", f"restock refused: {_detail(answer.body)}")
    # 404/405 here means the showcase cannot restock yet: keep the row and retry.
    raise RetryLater(f"restock answered {answer.status}")


def _provider_cancel(ctx: Context, payload: dict) -> Delivery:
    answer = ctx.payments.cancel(payload["order_id"])
    if answer.status == 200:
        return Delivery("done")
    if answer.status == 404:
        return Delivery("done", "no transaction at the provider")
    if answer.status == 412:
        # No longer pending: expired (fine) or paid, in which case the settlement
        # notification triggers the refund of a late payment.
        return Delivery("done", f"not cancellable: {answer.body.get('status_message')}")
    if answer.status in (401, 403):
        raise RetryLater(f"provider refused our credentials ({answer.status})")
    return Delivery("conflict", f"cancel refused ({answer.status}): {answer.body}")


def _provider_refund(ctx: Context, payload: dict) -> Delivery:
    """POST /v2/{order_id}/refund with the refund's own key and amount. Success posts
    exactly that amount; a definite refusal (412: the payment type cannot be refunded, or
    no longer) turns the refund into a manual one, so the buyer is still paid back."""
    order_id, amount = payload["order_id"], int(payload["amount"])
    answer = ctx.payments.refund(
        order_id, refund_key=payload["refund_key"], amount=amount, reason=payload["reason"]
    )
    if answer.status in (200, 201):
        def record(cursor):
            row = refund_store.lock_by_key(cursor, payload["refund_key"])
            if row is not None:
                refunds.provider_confirmed(
                    cursor, row, actor=ACTOR,
                    provider_refund_id=str(answer.body.get("refund_chargeback_id") or "")
                    or None)
                return
            payment = order_store.lock_payment(cursor, order_id)
            if payment is not None and payment["status"] == "refund_pending":
                finish_refund(cursor, order_id, amount, actor=ACTOR)

        return Delivery("done", effect=record)
    if answer.status in (401, 403, 429):
        raise RetryLater(f"provider answered {answer.status}")
    note = f"refund refused ({answer.status}): " \
           f"{answer.body.get('status_message') or answer.body}"
    if answer.status == 412:
        def to_manual(cursor):
            row = refund_store.lock_by_key(cursor, payload["refund_key"])
            if row is not None:
                refunds.provider_refused(cursor, row, actor=ACTOR, note=note)

        return Delivery("done", note, effect=to_manual)
    return Delivery("conflict", note)


def _return_restock(ctx: Context, payload: dict) -> Delivery:
    """The units of a received return go back in stock, once (keyed on the return)."""
    answer = ctx.storefront.restock_returned(payload["order_id"], payload["return_id"],
                                             payload["items"])
    if answer.status == 200:
        return Delivery("done")
    if answer.status in (404, 409, 422):
        return Delivery("conflict", f"return restock refused ({answer.status}): "
                        f"{_detail(answer.body)}")
    raise RetryLater(f"return restock answered {answer.status}")


def _detail(body) -> str:
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)


HANDLERS: dict[str, Callable[[Context, dict], Delivery]] = {
    outbox.RESERVATION_COMMIT: _reservation_commit,
    outbox.RESERVATION_RELEASE: _reservation_release,
    outbox.RESERVATION_RETURN: _reservation_return,
    outbox.PROVIDER_CANCEL: _provider_cancel,
    outbox.PROVIDER_REFUND: _provider_refund,
    outbox.RETURN_RESTOCK: _return_restock,
}
