"""The step each named worker runs on every tick."""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context
from ..operations import lifecycle
from ..operations import webhooks as webhook_operations
from ..store import idempotency
from .outbox_relay import relay_once


def payment_expiry(ctx: Context) -> int:
    """Expire overdue unpaid orders, clean up abandoned checkouts, and purge idempotency
    keys past their retention (housekeeping that needs no process of its own)."""
    handled = lifecycle.expire_overdue(ctx)
    handled += lifecycle.reap_abandoned_checkouts(ctx)
    handled += idempotency.purge_older_than(ctx.database, ctx.config.idempotency_retention_seconds)
    return handled


def auto_complete(ctx: Context) -> int:
    return lifecycle.auto_complete_due(ctx)


def outbox_relay(ctx: Context) -> int:
    return relay_once(ctx)


def webhook_dispatcher(ctx: Context) -> int:
    return webhook_operations.dispatch_due(ctx)


WORKERS: dict[str, Callable[[Context], int]] = {
    "outbox-relay": outbox_relay,
    "payment-expiry": payment_expiry,
    "auto-complete": auto_complete,
    "webhook-dispatcher": webhook_dispatcher,
}
