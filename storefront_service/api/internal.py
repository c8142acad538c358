"""Internal API for the marketplace: stock reservations, and the public JWKS.

Never routed by the gateway (it answers 404 for /internal/). Reservation endpoints require
the marketplace's X-Internal-Token; a user's JWT is refused with 401.
"""

from __future__ import annotations

import json

from flask import Response
from flask_smorest import Blueprint

from servicekit.problems import Problem

from ..domain import reservations as rules
from ..domain.errors import NotFound
from ..store import accounts, catalog, reservations
from .common import INTERNAL, internal_caller, problems
from .context import ctx
from .schemas import (
    AccountStatusSchema,
    JwksSchema,
    ProductShopsRequestSchema,
    ProductShopsSchema,
    ReservationRequestSchema,
    ReservationSchema,
    ReturnRestockRequestSchema,
    ReturnRestockSchema,
)

blp = Blueprint(
    "internal", __name__, url_prefix="/internal", description="Service-to-service API."
)

_RESERVE_EXAMPLE = {
    "order_id": "0b6f3c52-7a3e-4d8e-9d43-2f9a1c7e5b10",
    "buyer_id": "5d2a9e61-3c4b-4f0a-8e7d-6b1c2d3e4f50",
    "items": [{"product_id": "3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c11", "quantity": 2}],
}


@blp.route("/jwks.json", methods=["GET"])
@blp.response(200, JwksSchema, description="The JSON Web Key Set (cacheable for 5 minutes).")
@problems(blp, 503)
def jwks():
    """The public keys that verify user tokens. Public keys are not secrets, so no
    credential is needed; the gateway does not route /internal/ anyway."""
    try:
        with open(ctx().config.jwks_file, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        raise Problem(503, "Service Unavailable", "The key set is not available.",
                      slug="jwks-unavailable", headers={"Retry-After": "30"}) from None
    return Response(
        json.dumps(document),
        mimetype="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )


@blp.route("/accounts/<uuid:account_id>", methods=["GET"])
@internal_caller
@blp.doc(security=INTERNAL)
@blp.response(200, AccountStatusSchema)
@problems(blp, 401, 404)
def account_status(account_id):
    """Whether an account exists and is active: the marketplace asks (and caches the answer
    for at most 30 s) before it trusts a user token."""
    status = accounts.account_status(ctx().database, str(account_id))
    if status is None:
        raise NotFound("No such account.")
    return status


@blp.route("/products/shops", methods=["POST"])
@internal_caller
@blp.doc(security=INTERNAL)
@blp.arguments(ProductShopsRequestSchema(),
               example={"product_ids": [_RESERVE_EXAMPLE["items"][0]["product_id"]]})
@blp.response(200, ProductShopsSchema)
@problems(blp, 401, 422)
def product_shops(body):
    """Which shop sells each product (and whether it is for sale): the marketplace splits
    a cart of several shops into one order, and one reservation, per shop."""
    ids = sorted({str(product_id) for product_id in body["product_ids"]})
    return {"products": catalog.shops_of(ctx().database, ids)}


@blp.route("/reservations", methods=["POST"])
@internal_caller
@blp.doc(security=INTERNAL)
@blp.arguments(ReservationRequestSchema(), example=_RESERVE_EXAMPLE)
@blp.response(201, ReservationSchema, description="Stock taken.")
@blp.alt_response(200, schema=ReservationSchema, success=True,
                  description="Repeat of an earlier identical request.")
@problems(blp, 401, 404, 409, 422)
def reserve(body):
    """Atomically take stock for every item (all from one shop) or none; idempotent on
    `order_id`. Repeated product ids are merged by adding their quantities.

    Each line answers its `attribution` `{content_id, creator_id, commission_rate_bps}` or
    null: the item's `content_id` (it must tag the product and not be the buyer's own,
    else 422), else the buyer's cart attribution within ATTRIBUTION_WINDOW_SECONDS. It is
    decided once and frozen: a repeat answers the same, whatever changed since."""
    items = rules.merge_items([(str(i["product_id"]), i["quantity"]) for i in body["items"]])
    # A product listed twice with contents: the last one named wins (last touch).
    content_ids = {str(i["product_id"]): str(i["content_id"])
                   for i in body["items"] if i.get("content_id")}
    reservation, created = reservations.reserve(
        ctx().database,
        order_id=str(body["order_id"]),
        buyer_id=str(body["buyer_id"]),
        items=dict(items),
        ttl_seconds=ctx().config.reservation_ttl_seconds,
        content_ids=content_ids,
        attribution_window_seconds=ctx().config.attribution_window_seconds,
    )
    return reservation, 201 if created else 200


@blp.route("/reservations/<uuid:order_id>", methods=["GET"])
@internal_caller
@blp.doc(security=INTERNAL)
@blp.response(200, ReservationSchema)
@problems(blp, 401, 404)
def get_reservation(order_id):
    reservation = reservations.get(ctx().database, str(order_id))
    if reservation is None:
        raise NotFound(f"No reservation for order {order_id}.")
    return reservation


@blp.route("/reservations/<uuid:order_id>/commit", methods=["POST"])
@internal_caller
@blp.doc(security=INTERNAL)
@blp.response(200, ReservationSchema)
@problems(blp, 401, 404, 409)
def commit_reservation(order_id):
    """The order was paid: the sale is final and the items leave the buyer's cart.
    Idempotent; 409 if the reservation was released."""
    return reservations.commit(ctx().database, str(order_id))


@blp.route("/reservations/<uuid:order_id>/release", methods=["POST"])
@internal_caller
@blp.doc(security=INTERNAL)
@blp.response(200, ReservationSchema)
@problems(blp, 401, 404, 409)
def release_reservation(order_id):
    """The order was cancelled or expired unpaid: the stock goes back. Idempotent; 409 if
    the reservation was committed."""
    return reservations.release(ctx().database, str(order_id))


@blp.route("/reservations/<uuid:order_id>/restock", methods=["POST"])
@internal_caller
@blp.doc(security=INTERNAL)
@blp.response(200, ReservationSchema)
@problems(blp, 401, 404, 409)
def restock_reservation(order_id):
    """A paid order was cancelled after its reservation was committed: the units go back
    into stock (inactive products too) and the reservation becomes `restocked`.
    Idempotent, stock returned once; 409 if the reservation is active (commit or release
    it instead) or released (its stock already went back)."""
    return reservations.restock(ctx().database, str(order_id))


@blp.route("/reservations/<uuid:order_id>/returns/<uuid:return_id>", methods=["POST"])
@internal_caller
@blp.doc(security=INTERNAL)
@blp.arguments(ReturnRestockRequestSchema(),
               example={"items": [{"product_id": "3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c11",
                                   "quantity": 1}]})
@blp.response(200, ReturnRestockSchema)
@problems(blp, 401, 404, 409, 422)
def restock_returned_units(body, order_id, return_id):
    """A marketplace return was received: exactly these units of a committed reservation go
    back into stock, once per `return_id` (a repeat answers the same restock; other units
    for the same return are a 409). 422 for more units than the reservation has left to
    return; 409 if the reservation is not committed."""
    items: dict[str, int] = {}
    for item in body["items"]:
        product_id = str(item["product_id"])
        items[product_id] = items.get(product_id, 0) + item["quantity"]
    return reservations.restock_returned(ctx().database, str(order_id), str(return_id), items)
