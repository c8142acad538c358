"""Webhook use cases (DESIGN.md §13): endpoints of the caller, test sends, the delivery
log and retries, the events of the marketplace's state changes, and the dispatcher step.

Owners: a seller's endpoints belong to their shop (its events), a creator's to the creator
(their commission events), an admin's to that admin (every event). An endpoint of another
owner does not exist for the caller (404).
"""

from __future__ import annotations

import concurrent.futures
import logging
from datetime import UTC, datetime, timedelta

from servicekit.auth import Principal

from ..clients import webhooks as sender
from ..context import Context
from ..domain import webhooks as rules
from ..domain.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unavailable
from ..store import audit as audit_store
from ..store import orders as order_store
from ..store import webhooks as store

log = logging.getLogger("transaction.webhooks")

DISPATCHER_ACTOR = "system:webhook-dispatcher"


# --- owners ---------------------------------------------------------------------------------


def owner_of(principal: Principal) -> store.Owner:
    if principal.has_role("admin"):
        return ("admin", principal.account_id)
    if principal.has_role("seller") and principal.shop_id:
        return ("shop", principal.shop_id)
    if principal.has_role("creator"):
        return ("creator", principal.account_id)
    if principal.has_role("seller"):
        raise Forbidden("Create your shop before registering webhooks.", slug="no-shop")
    raise Forbidden("Webhooks are for sellers, creators and admins.")


def _not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"No webhook {what} {ident} is visible to you.")


def _box(ctx: Context) -> rules.SecretBox:
    box = getattr(ctx, "_webhook_box", None)
    if box is None:
        box = rules.SecretBox(ctx.config.webhook_encryption_keys)
        ctx._webhook_box = box
    return box


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(message, errors={field: [message]})


def check_target(ctx: Context, url: str) -> str:
    """The URL rules, and every address its host resolves to now (422 otherwise)."""
    allow = ctx.config.webhook_allow_private_targets
    try:
        _scheme, host, port = rules.check_url(url, allow_private=allow)
        if not allow:
            try:
                addresses = sender.resolve(host, port)
            except OSError:
                raise rules.TargetRefused(f"The host {host} does not resolve.") from None
            for address in addresses:
                rules.check_address(address, allow_private=False)
    except rules.TargetRefused as exc:
        raise _invalid("url", str(exc)) from None
    return url


def _events(events: list[str]) -> list[str]:
    try:
        return rules.normalise_events(events)
    except ValueError as exc:
        raise _invalid("events", str(exc)) from None


def _audit(cursor, endpoint_id: str, action: str, actor: str, data: dict) -> None:
    audit_store.append(cursor, entity="webhook_endpoint", entity_id=endpoint_id,
                       action=f"webhook_endpoint.{action}", actor=actor, data=data)


# --- endpoints ------------------------------------------------------------------------------


def create_endpoint(ctx: Context, principal: Principal, body: dict) -> dict:
    owner = owner_of(principal)
    box = _box(ctx)
    if not box.configured:
        raise Unavailable("Webhooks are not configured on this server (no encryption key).",
                          slug="webhooks-not-configured", retry_after=60)
    url = check_target(ctx, body["url"])
    events = _events(body["events"])
    secret = rules.new_secret()
    with ctx.database.transaction() as cursor:
        store.lock_owner(cursor, owner)
        if store.count_registrations_since(cursor, owner, 3600) >= (
                ctx.config.webhook_registrations_per_hour):
            raise TooManyRequests(
                f"At most {ctx.config.webhook_registrations_per_hour} endpoint registrations "
                "an hour.", retry_after=600)
        if store.count_endpoints(cursor, owner) >= ctx.config.webhook_max_endpoints:
            raise Conflict(f"At most {ctx.config.webhook_max_endpoints} endpoints; delete one "
                           "first.", title="Too many endpoints", slug="too-many-endpoints")
        endpoint = store.insert_endpoint(
            cursor, owner, created_by=principal.account_id, url=url, events=events,
            description=body.get("description") or "", secret_encrypted=box.encrypt(secret),
        )
        _audit(cursor, endpoint["id"], "created", principal.account_id,
               {"owner_kind": owner[0], "owner_id": owner[1], "url": url, "events": events})
    return {**present_endpoint(endpoint), "secret": secret}


def list_endpoints(ctx: Context, principal: Principal, *, limit: int, after) -> list[dict]:
    owner = owner_of(principal)
    with ctx.database.transaction() as cursor:
        return [present_endpoint(e)
                for e in store.list_endpoints(cursor, owner, limit=limit, after=after)]


def get_endpoint(ctx: Context, principal: Principal, endpoint_id: str) -> dict:
    owner = owner_of(principal)
    with ctx.database.transaction() as cursor:
        endpoint = store.get_endpoint(cursor, owner, endpoint_id)
    if endpoint is None:
        raise _not_found("endpoint", endpoint_id)
    return present_endpoint(endpoint)


def update_endpoint(ctx: Context, principal: Principal, endpoint_id: str, body: dict) -> dict:
    owner = owner_of(principal)
    changes: dict = {}
    if "url" in body:
        changes["url"] = check_target(ctx, body["url"])
    if "events" in body:
        changes["events"] = _events(body["events"])
    if "description" in body:
        changes["description"] = body["description"] or ""
    if "disabled" in body:
        changes["disabled"] = body["disabled"]
        if body["disabled"]:
            changes.update(disabled_reason="Disabled by its owner.", disabled_at="now()")
        else:  # enabled again: the failure clock starts over
            changes.update(disabled_reason=None, disabled_at=None, failing_since=None)
    with ctx.database.transaction() as cursor:
        endpoint = store.get_endpoint(cursor, owner, endpoint_id, lock=True)
        if endpoint is None:
            raise _not_found("endpoint", endpoint_id)
        if changes:
            store.update_endpoint(cursor, endpoint_id, **changes)
            _audit(cursor, endpoint_id, "updated", principal.account_id,
                   {k: v for k, v in body.items() if k in ("url", "events", "disabled")})
        return present_endpoint(store.get_endpoint(cursor, owner, endpoint_id))


def delete_endpoint(ctx: Context, principal: Principal, endpoint_id: str) -> None:
    owner = owner_of(principal)
    with ctx.database.transaction() as cursor:
        endpoint = store.get_endpoint(cursor, owner, endpoint_id, lock=True)
        if endpoint is None:
            raise _not_found("endpoint", endpoint_id)
        store.delete_endpoint(cursor, endpoint_id)
        _audit(cursor, endpoint_id, "deleted", principal.account_id, {"url": endpoint["url"]})


def rotate_secret(ctx: Context, principal: Principal, endpoint_id: str) -> dict:
    """A new secret; the previous one keeps signing beside it for 24 hours."""
    owner = owner_of(principal)
    box = _box(ctx)
    secret = rules.new_secret()
    with ctx.database.transaction() as cursor:
        endpoint = store.get_endpoint(cursor, owner, endpoint_id, lock=True)
        if endpoint is None:
            raise _not_found("endpoint", endpoint_id)
        expires = store.db_now(cursor) + rules.ROTATION_OVERLAP
        store.update_endpoint(
            cursor, endpoint_id, secret_encrypted=box.encrypt(secret),
            previous_secret_encrypted=endpoint["secret_encrypted"],
            previous_secret_expires_at=expires,
        )
        _audit(cursor, endpoint_id, "secret_rotated", principal.account_id,
               {"previous_secret_expires_at": expires.isoformat()})
        endpoint = store.get_endpoint(cursor, owner, endpoint_id)
    return {**present_endpoint(endpoint), "secret": secret}


def send_test(ctx: Context, principal: Principal, endpoint_id: str) -> dict:
    owner = owner_of(principal)
    limit = ctx.config.webhook_tests_per_minute
    with ctx.database.transaction() as cursor:
        store.lock_owner(cursor, owner)
        endpoint = store.get_endpoint(cursor, owner, endpoint_id)
        if endpoint is None:
            raise _not_found("endpoint", endpoint_id)
        if endpoint["disabled"]:
            raise Conflict("Enable the endpoint (PATCH disabled: false) before testing it.",
                           title="Endpoint disabled", slug="endpoint-disabled")
        if store.count_tests_since(cursor, endpoint_id, 60) >= limit:
            raise TooManyRequests(f"At most {limit} test sends a minute per endpoint.",
                                  retry_after=60)
        event_id, delivery_id = store.record_test_event(cursor, endpoint_id, {
            "endpoint_id": endpoint_id,
            "message": "A test event from Etalase: your endpoint receives and verifies "
                       "webhooks.",
        })
        return present_delivery(store.get_delivery(cursor, delivery_id))


def list_deliveries(ctx: Context, principal: Principal, endpoint_id: str, *, limit: int,
                    after) -> list[dict]:
    owner = owner_of(principal)
    with ctx.database.transaction() as cursor:
        if store.get_endpoint(cursor, owner, endpoint_id) is None:
            raise _not_found("endpoint", endpoint_id)
        rows = store.list_deliveries(cursor, endpoint_id, limit=limit, after=after)
    return [present_delivery(row) for row in rows]


def retry_delivery(ctx: Context, principal: Principal, delivery_id: str) -> dict:
    owner = owner_of(principal)
    with ctx.database.transaction() as cursor:
        delivery = store.lock_delivery_of_owner(cursor, owner, delivery_id)
        if delivery is None:
            raise _not_found("delivery", delivery_id)
        if delivery["status"] == "delivered":
            raise Conflict("This delivery succeeded; there is nothing to retry.",
                           title="Already delivered", slug="already-delivered")
        store.requeue_delivery(cursor, delivery_id)
        return present_delivery(store.get_delivery(cursor, delivery_id))


def present_endpoint(row: dict) -> dict:
    return {
        "id": row["id"], "url": row["url"], "events": list(row["events"]),
        "description": row["description"], "owner_kind": row["owner_kind"],
        "disabled": row["disabled"], "disabled_reason": row["disabled_reason"],
        "disabled_at": row["disabled_at"], "failing_since": row["failing_since"],
        "previous_secret_expires_at": row["previous_secret_expires_at"],
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def present_delivery(row: dict) -> dict:
    return {
        "id": row["id"], "event_id": row["event_id"], "event_type": row["event_type"],
        "endpoint_id": row["endpoint_id"], "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
        "delivered_at": row["delivered_at"], "created_at": row["created_at"],
        "attempt_log": row.get("attempt_log", []),
    }


# --- events of the marketplace's state changes ------------------------------------------------

ORDER_EVENT_OF_STATUS = {
    "AWAITING_SHIPMENT": "order.paid",
    "IN_TRANSIT": "order.shipped",
    "DELIVERED": "order.delivered",
    "COMPLETED": "order.completed",
    "CANCELLED": "order.cancelled",
    "EXPIRED": "order.expired",
}


def _order_document(cursor, order_id: str) -> dict:
    # The same schema GET /api/v1/orders/{id} answers with, so `data` is what the shop's
    # seller (and an admin) sees there.
    from ..documents import OrderSchema

    return OrderSchema().dump(order_store.get_order(cursor, order_id))


def order_event(cursor, event_type: str, order: dict) -> None:
    """Announce an order change (in the transaction making it). Orders still being placed
    (invisible to every API) announce nothing."""
    if order.get("placed_at") is None and event_type != "order.created":
        return
    store.record_event(cursor, event_type, lambda: _order_document(cursor, order["id"]),
                       shop_id=order["shop_id"])


def order_status_event(cursor, order: dict, new_status: str) -> None:
    event_type = ORDER_EVENT_OF_STATUS.get(str(new_status))
    if event_type is not None:
        order_event(cursor, event_type, order)


def refund_event(cursor, order_id: str, amount: int) -> None:
    order = order_store.get_order(cursor, order_id, placed_only=False)
    if order is None:
        return

    def data() -> dict:
        return {"order_id": order_id, "amount": {"amount": int(amount), "currency": "IDR"},
                "order": _order_document(cursor, order_id)}

    store.record_event(cursor, "refund.succeeded", data, shop_id=order["shop_id"])


def commission_events(cursor, order_id: str, commissions: dict[str, int]) -> None:
    """`commission.earned` to each creator a completed order credited: the commission
    posted (net of refunds) and only that creator's own lines, as GET
    /api/v1/creators/me/orders shows them (never the buyer, never other lines)."""
    if not commissions:
        return
    items = order_store.order_items(cursor, order_id)

    def data(creator_id: str, amount: int) -> dict:
        lines = [item for item in items
                 if (item["attribution"] or {}).get("creator_id") == creator_id]
        return {
            "order_id": order_id,
            "commission": {"amount": int(amount), "currency": "IDR"},
            "items": [
                {"product_id": item["product_id"], "title": item["title"],
                 "quantity": item["quantity"],
                 "line_total": {"amount": int(item["line_total"]), "currency": "IDR"},
                 "content_id": item["attribution"]["content_id"],
                 "commission_rate_bps": item["attribution"]["commission_rate_bps"],
                 "commission": {"amount": item["attribution"]["commission"],
                                "currency": "IDR"}}
                for item in lines
            ],
        }

    for creator_id, amount in sorted(commissions.items()):
        store.record_event(cursor, "commission.earned",
                           lambda c=creator_id, a=amount: data(c, a), creator_id=creator_id)


def payout_event(cursor, payout: dict) -> None:
    # The shape GET /api/v1/sellers/me/payouts shows the shop.
    from ..documents import PayoutSchema, present_payout

    store.record_event(cursor, "payout.created",
                       lambda: PayoutSchema().dump(present_payout(payout)),
                       shop_id=payout["shop_id"])


# --- the dispatcher -------------------------------------------------------------------------


def dispatch_due(ctx: Context, limit: int = 200) -> int:
    """Deliver due deliveries with `webhook_dispatch_concurrency` at once; returns how many
    attempts were made. Each attempt holds its delivery's row lock from claim to record."""
    if not dispatch_one(ctx):  # idle: one query, no threads
        return 0
    concurrency = max(1, ctx.config.webhook_dispatch_concurrency)
    if concurrency == 1:
        return 1 + _dispatch_loop(ctx, limit - 1)
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        share = max(1, limit // concurrency)
        return 1 + sum(pool.map(lambda _: _dispatch_loop(ctx, share), range(concurrency)))


def _dispatch_loop(ctx: Context, limit: int) -> int:
    done = 0
    while done < limit and dispatch_one(ctx):
        done += 1
    return done


def dispatch_one(ctx: Context) -> bool:
    """Claim one due delivery, send it, record the attempt; False when none is due.

    The row stays locked during the request: a dispatcher killed mid-request leaves it
    pending (its transaction never commits), so it is sent again, never lost."""
    schedule = rules.parse_schedule(ctx.config.webhook_retry_schedule)
    with ctx.database.transaction() as cursor:
        row = store.claim_due(cursor)
        if row is None:
            return False
        now = datetime.now(UTC)
        box = _box(ctx)
        try:
            signing = rules.active_secrets(
                box.decrypt(row["secret_encrypted"]),
                box.decrypt(row["previous_secret_encrypted"])
                if row["previous_secret_encrypted"] else None,
                row["previous_secret_expires_at"], now,
            )
        except Exception as exc:  # a wrong or missing key: retried, and visible in the log
            result = sender.AttemptResult(None, 0, f"cannot decrypt the endpoint secret: "
                                          f"{exc.__class__.__name__}", None)
        else:
            timestamp = int(now.timestamp())
            headers = {
                "content-type": "application/json",
                "user-agent": "Etalase-Webhooks/1",
                "webhook-id": row["event_id"],
                "webhook-timestamp": str(timestamp),
                "webhook-signature": rules.signature_header(
                    signing, row["event_id"], timestamp, row["body"]),
            }
            result = sender.send(row["url"], headers, row["body"].encode(),
                                 timeout=ctx.config.webhook_timeout_seconds,
                                 allow_private=ctx.config.webhook_allow_private_targets)
        _record(cursor, row, result, schedule)
    # The endpoint's health in a transaction of its own: this one locked only the delivery,
    # so it can never deadlock with a DELETE of the endpoint (endpoint, then deliveries).
    # A healthy endpoint that succeeded again has nothing to note.
    if not (result.delivered and row["failing_since"] is None):
        with ctx.database.transaction() as cursor:
            _note_health(ctx, cursor, row["endpoint_id"], result.delivered)
    return True


def _record(cursor, row: dict, result: sender.AttemptResult,
            schedule: tuple[int, ...]) -> None:
    store.record_attempt(cursor, row["id"], status_code=result.status_code,
                         duration_ms=result.duration_ms, error=result.error,
                         response_body=result.response_body)
    if result.delivered:
        store.finish_attempt(cursor, row["id"], delivered=True, retry_in_seconds=None)
        return
    delay = rules.retry_delay(row["attempts"] + 1, schedule)
    store.finish_attempt(cursor, row["id"], delivered=False, retry_in_seconds=delay)
    log.info("webhook attempt failed",
             extra={"delivery_id": row["id"], "endpoint_id": row["endpoint_id"],
                    "status_code": result.status_code, "error": result.error,
                    "retry_in": delay})


def _note_health(ctx: Context, cursor, endpoint_id: str, delivered: bool) -> None:
    """Success clears the failure clock; failing everything for 5 days disables."""
    if delivered:
        store.endpoint_succeeded(cursor, endpoint_id)
        return
    failing_since, disabled = store.endpoint_failed(cursor, endpoint_id)
    after = timedelta(seconds=ctx.config.webhook_disable_after_seconds)
    if not disabled and rules.should_disable(failing_since, store.db_now(cursor), after):
        reason = rules.disabled_reason(failing_since)
        store.update_endpoint(cursor, endpoint_id, disabled=True,
                              disabled_reason=reason, disabled_at="now()")
        _audit(cursor, endpoint_id, "disabled", DISPATCHER_ACTOR, {"reason": reason})
        log.warning("webhook endpoint disabled",
                    extra={"endpoint_id": endpoint_id, "reason": reason})

