"""`Idempotency-Key` for money-moving POSTs (DESIGN.md §6, Stripe semantics).

Use it on a view *below* the flask-smorest decorators, so request validation happens
first (an invalid body never consumes a key) and the stored response is exactly the one
sent (after `@blp.response` serialised it, or after a Problem became problem+json). It
also declares the header in the OpenAPI document (`documented`, the one declaration of
`Idempotency-Key`; a view calling `run` itself applies `@documented`):

    @blp.route("/payouts", methods=["POST"])
    @blp.arguments(PayoutRequestSchema())
    @blp.response(201, PayoutSchema)
    @idempotent
    def create_payout(body): ...

or, inside a view, `return run(principal, lambda: do_it(...))`.

Behaviour per (caller, key): first request runs and its response (2xx and 4xx results
except 401/403) is stored; same key + same method/path/body -> the stored status and body
with `Idempotent-Replayed: true`; same key + different request -> 422
`idempotency-key-reused`; same key while the first still runs -> 409
`idempotency-key-in-use` with `Retry-After`; 5xx (e.g. 503 storefront down) -> the key is
released so the client can retry with it. Missing key -> 400 `idempotency-key-required`;
empty, > 255 characters or control characters -> 422 naming `Idempotency-Key`. A view may
refuse before calling `run` (the checkout refuses a product it knows is sold out that way):
such an answer is not stored.

A key is never run twice (DESIGN.md §6). The checkout records the order it placed on the
key in the transaction that places it (`current_hold()` + `store.record_order`); if the
response then cannot be stored, a retry gets that order from `recover(order_id)` with
`Idempotent-Replayed: true`. When releasing a key after a 5xx fails (the database is
what went away), a background thread keeps trying until the lock would have timed out,
so the retry the 503 asked for is not refused with 409 for a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import wraps

from flask import Response, after_this_request, g, request
from flask_smorest import Blueprint

from servicekit.auth import Principal
from servicekit.problems import Problem

from ..domain.idempotency import key_problem, request_fingerprint
from ..store import idempotency as store
from .auth import principal as current_caller
from .context import ctx

log = logging.getLogger("transaction.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Answers that depend on who asked rather than on what was asked are not kept.
_NOT_STORED = {401, 403}

KEY_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": True,
    "description": "Client-chosen unique key (at most 255 characters); a retry with the same "
    "key and body replays the first answer.",
    "schema": {"type": "string", "maxLength": 255},
}
# `doc` is a static method: it needs no blueprint. Lists are not merged by later `doc`
# calls, so a view declares no other manual parameters beside it.
documented = Blueprint.doc(parameters=[KEY_PARAMETER])


def _lock_timeout() -> int:
    return ctx().config.idempotency_lock_timeout_seconds


def read_key() -> str:
    key = request.headers.get(HEADER)
    problem = key_problem(key)
    if problem == "missing":
        raise Problem(
            400, "Idempotency-Key required",
            "This request moves money: send an Idempotency-Key header (a unique value per "
            "operation, at most 255 characters) and reuse it when retrying.",
            slug="idempotency-key-required", errors={HEADER: ["Missing header."]},
        )
    if problem:
        raise Problem(422, "Validation failed", problem, slug="validation-error",
                      errors={HEADER: [problem]})
    return key


def current_hold() -> store.Hold | None:
    """The key this request holds (inside `run`), for operations that record their result
    on it in their own transaction."""
    return g.get("idempotency_hold")


def _release_later(database, *, account_id: str, key: str, lock_token: str,
                   give_up_after: float) -> None:
    """Keep trying to release a key whose attempt failed (e.g. the database dropped),
    so a retry is not refused until the lock times out. Releasing is idempotent and
    conditional on our lock token, so a late success never frees someone else's key."""

    def attempt() -> None:
        deadline = time.monotonic() + give_up_after
        delay = 0.1
        while time.monotonic() < deadline:
            time.sleep(delay)
            try:
                store.release(database, account_id=account_id, key=key, lock_token=lock_token)
                log.info("idempotency key released after retrying", extra={"key": key})
                return
            except Exception:  # noqa: BLE001 - the database is still away: try again
                delay = min(delay * 2, 2.0)
        log.warning("idempotency key left to its lock timeout", extra={"key": key})

    threading.Thread(target=attempt, name="idempotency-release", daemon=True).start()


def run(principal: Principal, operation: Callable[[], object],
        recover: Callable[[str], object] | None = None):
    """Run `operation` at most once per (caller, Idempotency-Key); see the module doc.
    `recover(order_id)` answers for a key whose first attempt recorded an order but not
    its response."""
    key = read_key()
    database = ctx().database
    claim = store.claim(
        database,
        account_id=principal.account_id,
        key=key,
        request_hash=request_fingerprint(request.method, request.path,
                                         request.get_data(cache=True)),
        method=request.method,
        path=request.path,
        lock_timeout_seconds=_lock_timeout(),
    )
    if claim.outcome == store.REPLAY:
        response = Response(claim.body, status=claim.status,
                            content_type=claim.content_type or "application/json")
        response.headers[REPLAYED_HEADER] = "true"
        return response
    if claim.outcome == store.MISMATCH:
        raise Problem(
            422, "Idempotency-Key reused",
            "This Idempotency-Key was already used for a different request.",
            slug="idempotency-key-reused", errors={HEADER: ["Used for a different request."]},
        )
    if claim.outcome == store.IN_PROGRESS or (
        claim.outcome == store.RECOVER and recover is None
    ):
        raise Problem(
            409, "Idempotency-Key in use",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            slug="idempotency-key-in-use", headers={"Retry-After": "1"},
        )

    account_id, token = principal.account_id, claim.lock_token
    recovering = claim.outcome == store.RECOVER

    @after_this_request
    def _remember(response: Response) -> Response:
        # Runs for normal and error-handler responses alike, with the final body.
        if recovering and response.status_code < 300:
            response.headers[REPLAYED_HEADER] = "true"
        release = response.status_code >= 500 or response.status_code in _NOT_STORED
        try:
            if release:
                store.release(database, account_id=account_id, key=key, lock_token=token)
            else:
                store.complete(
                    database, account_id=account_id, key=key, lock_token=token,
                    status=response.status_code, body=response.get_data(as_text=True),
                    content_type=response.content_type,
                )
        except Exception:
            log.exception("could not record the idempotent response", extra={"key": key})
            if release:
                _release_later(database, account_id=account_id, key=key, lock_token=token,
                               give_up_after=_lock_timeout())
            # Otherwise the key stays in progress: with an order recorded on it a retry
            # recovers that order; without, the lock is retaken after its timeout.
        return response

    if recovering:
        log.info("replaying a recorded outcome", extra={"key": key, "order_id": claim.order_id})
        return recover(claim.order_id)
    g.idempotency_hold = store.Hold(account_id=account_id, key=key, lock_token=token)
    return operation()


def idempotent(view=None, *, recover: Callable[[str], object] | None = None):
    """Decorator form of `run` for a view whose caller is the request's JWT principal:
    `@idempotent`, or `@idempotent(recover=...)` for a view that records its order."""

    def decorate(view):
        @documented
        @wraps(view)
        def wrapper(*args, **kwargs):
            return run(current_caller(), lambda: view(*args, **kwargs), recover)

        return wrapper

    return decorate(view) if view is not None else decorate
