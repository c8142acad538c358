"""The step each named worker loop runs on every tick, and the loop table
(`python -m transaction_service workers` runs them all in one process: servicekit.workers)."""

from __future__ import annotations

from collections.abc import Callable

from servicekit.db import Database
from servicekit.workers import Loop

from ..config import Config
from ..context import Context, build_context
from ..operations import audit_log, lifecycle, notifications, returns
from ..operations import webhooks as webhook_operations
from ..store import idempotency
from .outbox_relay import relay_once


def payment_expiry(ctx: Context) -> int:
    """Ask the provider about unpaid orders whose notification may have been missed,
    expire overdue unpaid orders, clean up abandoned checkouts, and purge idempotency
    keys past their retention (housekeeping that needs no process of its own)."""
    handled = notifications.reconcile_unpaid(ctx)  # paid, but never told: before expiring
    handled += lifecycle.expire_overdue(ctx)
    handled += lifecycle.reap_abandoned_checkouts(ctx)
    handled += idempotency.purge_older_than(ctx.database, ctx.config.idempotency_retention_seconds)
    return handled


def auto_complete(ctx: Context) -> int:
    """Deliver orders in transit past AUTO_DELIVER_SECONDS, approve returns a seller left
    unanswered for RETURN_RESPONSE_SECONDS, complete delivered orders with no open return."""
    handled = lifecycle.auto_deliver_due(ctx)
    handled += returns.auto_approve_due(ctx)
    handled += lifecycle.auto_complete_due(ctx)
    return handled


def outbox_relay(ctx: Context) -> int:
    return relay_once(ctx)


def audit_log_worker(ctx: Context) -> int:
    """Sequence committed audit entries, sign a checkpoint, get it cosigned by the witness."""
    return audit_log.step(ctx)


def webhook_dispatcher(ctx: Context) -> int:
    return webhook_operations.dispatch_due(ctx)


WORKERS: dict[str, Callable[[Context], int]] = {
    "outbox-relay": outbox_relay,
    "payment-expiry": payment_expiry,
    "auto-complete": auto_complete,
    "audit-log": audit_log_worker,
    "webhook-dispatcher": webhook_dispatcher,
}


def loops(config: Config, database: Database) -> list[Loop]:
    """Every loop of WORKERS, each with a Context of its own (its HTTP clients are not
    shared between threads) over the process's one pool."""
    table = []
    for name, step in WORKERS.items():
        ctx = build_context(config, database)
        table.append(Loop(name, lambda step=step, ctx=ctx: step(ctx),
                          interval=config.worker_interval_seconds))
    return table
