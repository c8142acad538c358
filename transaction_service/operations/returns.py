"""Returns, refunds and disputes after delivery (DESIGN.md §12).

Every move locks the order row first, then the return row (the same order as every other
order change, so they never deadlock), asks the state table (domain/returns.py) whether
this party may make it, and writes the new state, its audit entry, its webhook event and
whatever it sets off (the refund, the restock) in one transaction.

Money: the refund is the returned lines' value from the order's price snapshot, or the
accepted offer, or the admin's amount (never above the lines' value) — never the client's
— capped at what is left on the order; it goes through `operations.refunds.refund` keyed
`ret-{return_id}` (one refund per return, whatever retries), so the provider refunds part
of the payment or, where it cannot, a manual refund waits. The return stays REFUND_PENDING
until the refund's money has left escrow, then REFUNDED (`refund_settled`).
"""

from __future__ import annotations

import logging

import psycopg2

from servicekit.auth import Principal
from servicekit.pagination import decode_cursor, invalid_cursor, page

from ..context import Context
from ..domain import refunds as refund_rules
from ..domain import returns as rules
from ..domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from ..domain.returns import ReturnStatus
from ..store import audit as audit_store
from ..store import orders as order_store
from ..store import outbox
from ..store import refunds as refund_store
from ..store import returns as return_store
from ..store import webhooks as webhook_store
from . import refunds
from .common import can_view, is_uuid, not_found

log = logging.getLogger("transaction.returns")

AUTO_APPROVE_ACTOR = "system:return-auto-approve"


def refund_key(return_id: str) -> str:
    return f"ret-{return_id}"


def _not_found(return_id: str) -> NotFound:
    return NotFound(f"No return {return_id} is visible to you.")


# The return rules (domain/returns.py) say which kind of refusal each is by the status
# they document; anything else they refuse conflicts with the return's state.
_REFUSAL_KINDS = {403: Forbidden, 404: NotFound, 422: Invalid}


def _refused(error: rules.ReturnError) -> DomainError:
    kind = _REFUSAL_KINDS.get(error.status)
    if kind is None:
        return Conflict(error.message, slug=error.code, title="Return refused",
                        errors=error.errors)
    return kind(error.message, slug=error.code, errors=error.errors)


def parties(principal: Principal, order: dict) -> set[str]:
    """The parties `principal` is for this order: buyer, seller (of its shop), admin."""
    found = set()
    if principal.has_role("buyer") and order["buyer_id"] == principal.account_id:
        found.add(rules.BUYER)
    if (principal.has_role("seller") and principal.shop_id is not None
            and order["shop_id"] == principal.shop_id):
        found.add(rules.SELLER)
    if principal.has_role("admin"):
        found.add(rules.ADMIN)
    return found


def _party_for(action: str, mine: set[str]) -> str:
    wanted = rules.ACTIONS[action][0]
    if wanted in mine:
        return wanted
    return next(iter(sorted(mine)), "nobody")


def _audit(cursor, ret: dict, action: str, *, actor: str | None, data: dict) -> None:
    # On the order, so its audit trail (with proofs) shows the return's every step.
    audit_store.append(cursor, entity="order", entity_id=ret["order_id"],
                       action=f"return.{action}", actor=actor,
                       data={"return_id": ret["id"], **data})


def _event(cursor, event_type: str, return_id: str, shop_id: str) -> None:
    def data() -> dict:
        from ..documents import ReturnSchema

        return ReturnSchema().dump(return_store.get(cursor, return_id))

    webhook_store.record_event(cursor, event_type, data, shop_id=shop_id)


def _set(cursor, ret: dict, target: ReturnStatus, *, actor: str | None, action: str,
         changes: dict | None = None, data: dict | None = None) -> None:
    """Write a transition already checked by the state table."""
    return_store.update(cursor, ret["id"], status=str(target), **(changes or {}))
    _audit(cursor, ret, action, actor=actor,
           data={"from": ret["status"], "to": str(target), **(data or {})})
    log.info("return transition", extra={"return_id": ret["id"], "from": ret["status"],
                                         "to": str(target)})
    ret["status"] = str(target)


# --- opening ------------------------------------------------------------------------------


def open_return(ctx: Context, order_id: str, principal: Principal, *, type_: str,
                items: list[dict], reason: str, note: str | None) -> dict:
    with ctx.database.transaction() as cursor:
        order = order_store.lock_order(cursor, order_id)
        if order is None or order["placed_at"] is None or not can_view(principal, order):
            raise not_found(order_id)
        if rules.BUYER not in parties(principal, order):
            raise Forbidden("Only the order's buyer can open a return.")
        cursor.execute("SELECT now() AS now")
        now = cursor.fetchone()["now"]
        try:
            rules.check_opening(order["status"], order.get("delivered_at"), now,
                                ctx.config.return_window_seconds, type_, reason)
            if return_store.open_for_order(cursor, order_id) is not None:
                raise rules.ReturnError(409, "return-already-open",
                                        "This order already has an open return.")
            lines = rules.returnable_lines(order_store.order_items(cursor, order_id), items,
                                           return_store.claimed_quantities(cursor, order_id))
        except rules.ReturnError as error:
            raise _refused(error) from None
        cursor.execute("SAVEPOINT return_insert")
        try:
            ret = return_store.insert(
                cursor, order_id=order_id, buyer_id=order["buyer_id"],
                shop_id=order["shop_id"], type_=type_, reason=reason, note=note, lines=lines,
                lines_value=rules.lines_value(lines))
        except psycopg2.errors.UniqueViolation:
            # The order row lock makes this unreachable; the index is the last word.
            cursor.execute("ROLLBACK TO SAVEPOINT return_insert")
            raise Conflict("This order already has an open return.", title="Return refused",
                           slug="return-already-open") from None
        cursor.execute("RELEASE SAVEPOINT return_insert")
        _audit(cursor, ret, "requested", actor=principal.account_id,
               data={"type": type_, "reason": reason, "lines_value": ret["lines_value"],
                     "items": [{"product_id": line.product_id, "quantity": line.quantity}
                               for line in lines]})
        _event(cursor, "return.requested", ret["id"], order["shop_id"])
        return return_store.get(cursor, ret["id"])


# --- reading ------------------------------------------------------------------------------


def get_return(ctx: Context, return_id: str, principal: Principal) -> dict:
    if not is_uuid(return_id):
        raise _not_found(return_id)
    with ctx.database.transaction() as cursor:
        ret = return_store.get(cursor, return_id)
        if ret is None or not parties(principal, ret):
            raise _not_found(return_id)
        return ret


def list_returns(ctx: Context, principal: Principal, *, role: str | None, status: str | None,
                 order_id: str | None, cursor_token: str | None, limit: int) -> dict:
    role = role or next((r for r in ("buyer", "seller", "admin") if principal.has_role(r)),
                        None)
    filters: dict = {}
    if role == "buyer" and principal.has_role("buyer"):
        filters["buyer_id"] = principal.account_id
    elif role == "seller" and principal.has_role("seller") and principal.shop_id:
        filters["shop_id"] = principal.shop_id
    elif role == "admin" and principal.has_role("admin"):
        filters["disputes_first"] = status is None
    else:
        raise Forbidden(f"You cannot list returns as {role or 'this role'}.")
    after = _decode(cursor_token)
    with ctx.database.transaction() as cursor:
        rows = return_store.list_returns(cursor, status=status, after=after, limit=limit,
                                         order_id=order_id, **filters)
    result = page(rows, limit, key=lambda row: [int(row["rank"]), row["created_at"].isoformat(),
                                                row["id"]])
    for row in result["data"]:
        row.pop("rank", None)
    return result


def _decode(token: str | None):
    values = decode_cursor(token, 3)
    if values is None:
        return None
    from datetime import datetime

    try:
        rank, created_at = int(values[0]), datetime.fromisoformat(str(values[1]))
    except (TypeError, ValueError):
        raise invalid_cursor() from None
    if created_at.tzinfo is None or not is_uuid(str(values[2])) or rank not in (0, 1):
        raise invalid_cursor()
    return rank, created_at, str(values[2])


# --- moves --------------------------------------------------------------------------------


def act(ctx: Context, return_id: str, action: str, principal: Principal,
        body: dict | None = None) -> dict:
    """One party's move on a return (approve, reject, offer, received, ship, accept-offer,
    escalate, cancel, resolve)."""
    body = body or {}
    if not is_uuid(return_id):
        raise _not_found(return_id)
    with ctx.database.transaction() as cursor:
        order_id = return_store.order_of(cursor, return_id)
        if order_id is None:
            raise _not_found(return_id)
        order = order_store.lock_order(cursor, order_id)
        ret = return_store.lock(cursor, return_id)
        mine = parties(principal, order)
        if not mine:
            raise _not_found(return_id)
        if action == "resolve":
            action = "resolve-refund" if body.get("decision") == "refund" else "resolve-close"
        try:
            target = rules.move(ret["status"], action, _party_for(action, mine))
            _apply(ctx, cursor, order, ret, action, target, actor=principal.account_id,
                   body=body)
        except rules.ReturnError as error:
            raise _refused(error) from None
        _event(cursor, "return.updated", return_id, order["shop_id"])
        return return_store.get(cursor, return_id)


def _apply(ctx: Context, cursor, order: dict, ret: dict, action: str, target: ReturnStatus,
           *, actor: str, body: dict) -> None:
    if action in ("approve", "auto-approve"):
        _set(cursor, ret, target, actor=actor, action="approved",
             changes={"responded_at": "now()"}, data={"by_default": action == "auto-approve"})
        if ret["type"] == rules.RETURN_AND_REFUND:
            _set(cursor, ret, rules.move(ret["status"], "await-shipment", rules.SYSTEM),
                 actor=actor, action="awaiting_buyer_shipment")
        else:
            _request_refund(ctx, cursor, order, ret, actor=actor)
    elif action == "reject":
        _set(cursor, ret, target, actor=actor, action="rejected",
             changes={"responded_at": "now()", "reject_reason": body["reason"]},
             data={"reason": body["reason"]})
    elif action == "offer":
        amount = rules.check_offer(body.get("amount"), int(ret["lines_value"]))
        _set(cursor, ret, target, actor=actor, action="offered",
             changes={"responded_at": "now()", "offer_amount": amount},
             data={"amount": amount})
    elif action == "ship":
        _set(cursor, ret, target, actor=actor, action="buyer_shipped",
             changes={"shipped_at": "now()", "tracking_number": body["tracking_number"]},
             data={"tracking_number": body["tracking_number"]})
    elif action == "received":
        _set(cursor, ret, target, actor=actor, action="received",
             changes={"received_at": "now()", "restock_queued": True})
        # The returned units go back on the shelf, exactly once (keyed on the return).
        outbox.enqueue(cursor, outbox.RETURN_RESTOCK,
                       {"order_id": order["id"], "return_id": ret["id"],
                        "items": [{"product_id": i["product_id"], "quantity": i["quantity"]}
                                  for i in ret["items"]]},
                       order_id=order["id"])
        _request_refund(ctx, cursor, order, ret, actor=actor)
    elif action == "accept-offer":
        _request_refund(ctx, cursor, order, ret, actor=actor,
                        offer=int(ret["offer_amount"]), action="offer_accepted")
    elif action == "escalate":
        _set(cursor, ret, target, actor=actor, action="disputed",
             data={"note": (body.get("note") or "")[:500]})
    elif action == "cancel":
        _set(cursor, ret, target, actor=actor, action="cancelled",
             changes={"closed_at": "now()"})
    elif action == "resolve-refund":
        _request_refund(ctx, cursor, order, ret, actor=actor, resolved=body.get("amount"),
                        action="resolved", changes={"resolution": "refund",
                                                    "resolution_note": body.get("note")})
    elif action == "resolve-close":
        _set(cursor, ret, target, actor=actor, action="resolved",
             changes={"resolution": "close", "resolution_note": body.get("note"),
                      "closed_at": "now()"}, data={"decision": "close"})


def _request_refund(ctx: Context, cursor, order: dict, ret: dict, *, actor: str,
                    offer: int | None = None, resolved: int | None = None,
                    action: str = "refund_requested", changes: dict | None = None) -> None:
    """Ask for this return's refund and move it to REFUND_PENDING (REFUNDED at once if the
    money has already left escrow)."""
    # After an approval or a receipt the table is asked here; accept-offer and resolve were
    # checked by the caller's own move (both lead to REFUND_PENDING).
    target = (rules.move(ret["status"], "request-refund", rules.SYSTEM)
              if ret["status"] in (ReturnStatus.APPROVED, ReturnStatus.RECEIVED)
              else ReturnStatus.REFUND_PENDING)
    existing = refund_store.for_orders(cursor, [order["id"]]).get(order["id"], [])
    left = int(order["total"]) - refund_rules.requested_total(existing)
    amount = rules.refund_due(int(ret["lines_value"]), offer, resolved, left)
    row = refunds.refund(ctx, cursor, order, amount=amount, key=refund_key(ret["id"]),
                         reason=f"return {ret['id']} ({ret['reason']})"[:255], actor=actor,
                         return_id=ret["id"])
    lines = [rules.ReturnLine(i["product_id"], int(i["quantity"]), int(i["unit_price"]))
             for i in ret["items"]]
    return_store.set_line_refunds(cursor, ret["id"], rules.line_refunds(lines, amount))
    _set(cursor, ret, target, actor=actor, action=action,
         changes={"refund_amount": amount, "refund_id": row["id"], **(changes or {})},
         data={"amount": amount, "refund_id": row["id"], "method": row["method"]})
    if row["status"] == refund_rules.SUCCEEDED:
        refund_settled(cursor, row, actor=actor)


def refund_settled(cursor, refund_row: dict, *, actor: str) -> bool:
    """The refund of a return has left escrow (the provider confirmed it, or the admin
    recorded the manual transfer): the return is REFUNDED. Called by operations/refunds in
    the transaction that records it. True if the return moved."""
    return_id = refund_row.get("return_id")
    if not return_id:
        return False
    ret = return_store.lock(cursor, return_id)
    if ret is None or ret["status"] != ReturnStatus.REFUND_PENDING:
        return False
    _set(cursor, ret, rules.move(ret["status"], "refund-settled", rules.SYSTEM), actor=actor,
         action="refunded", changes={"refunded_at": "now()"},
         data={"refund_id": refund_row["id"], "amount": int(refund_row["amount"])})
    _event(cursor, "return.updated", return_id, ret["shop_id"])
    return True


def open_return_refusal(cursor, order_id: str) -> Conflict | None:
    """Why an order with an open return cannot complete (None: it can)."""
    if return_store.open_for_order(cursor, order_id) is None:
        return None
    return Conflict("This order has an open return; it completes once the return is closed.",
                    title="Return open", slug="return-open")


# --- worker -------------------------------------------------------------------------------


def auto_approve_due(ctx: Context, limit: int = 100) -> int:
    """Approve the returns whose seller stayed silent for RETURN_RESPONSE_SECONDS."""
    done = 0
    while done < limit:
        with ctx.database.transaction() as cursor:
            claimed = return_store.claim_unanswered(cursor, ctx.config.return_response_seconds)
            if claimed is None:
                break
            return_id, order_id = claimed
            cursor.execute("SAVEPOINT auto_approve")
            order = order_store.lock_order(cursor, order_id)  # held already by the claim
            ret = return_store.lock(cursor, return_id)
            try:
                target = rules.move(ret["status"], "auto-approve", rules.SYSTEM)
                _apply(ctx, cursor, order, ret, "auto-approve", target,
                       actor=AUTO_APPROVE_ACTOR, body={})
            except (rules.ReturnError, DomainError) as error:
                cursor.execute("ROLLBACK TO SAVEPOINT auto_approve")
                log.error("auto-approve refused; needs attention",
                          extra={"return_id": return_id, "error": str(error)})
                break  # not again at once: the next tick retries
            _event(cursor, "return.updated", return_id, order["shop_id"])
        done += 1
    return done
