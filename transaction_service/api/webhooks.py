"""Webhook endpoints of the caller, test sends, the delivery log and retries (DESIGN.md §13).

Sellers' endpoints receive their shop's events, creators' their commission events, admins'
every event. Another owner's endpoint or delivery is a 404, never a 403 (its existence is
not disclosed).
"""

from __future__ import annotations

from flask_smorest import Blueprint

from servicekit.pagination import PageArgsSchema, decode_keyset_cursor, keyset_page

from ..operations import webhooks as operations
from .auth import principal
from .context import ctx
from .docs import problems
from .schemas import (
    WebhookDeliveryPageSchema,
    WebhookDeliverySchema,
    WebhookEndpointCreateSchema,
    WebhookEndpointPageSchema,
    WebhookEndpointSchema,
    WebhookEndpointUpdateSchema,
    WebhookEndpointWithSecretSchema,
)

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks",
                description="Signed event deliveries to integrators (Standard Webhooks).")

_SECURITY = [{"bearerAuth": []}]
# A secret in an answer must not be kept by any cache.
_NO_STORE = {"Cache-Control": "no-store"}
_404 = "No such endpoint (or delivery) among yours."


@blp.route("/endpoints", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.arguments(WebhookEndpointCreateSchema(), example={
    "url": "https://example.com/etalase/webhooks", "events": ["order.paid", "order.shipped"],
    "description": "fulfilment system"})
@blp.response(201, WebhookEndpointWithSecretSchema)
@problems(blp, 401, 403, 409, 422, 429, 503,
          s409="too-many-endpoints: delete one first.",
          s422="Invalid body; a URL that is not https:// or that resolves to a loopback, "
               "private, link-local or metadata address.",
          s429="Too many registrations this hour; see Retry-After.")
def create_endpoint(body):
    """Register an endpoint. The answer carries its `secret` (`whsec_...`): the only time it
    is shown; keep it to verify the `webhook-signature` header."""
    return operations.create_endpoint(ctx(), principal(), body), 201, _NO_STORE


@blp.route("/endpoints", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.arguments(PageArgsSchema(), location="query")
@blp.response(200, WebhookEndpointPageSchema)
@problems(blp, 401, 403, 422)
def list_endpoints(args):
    """Your endpoints, newest first (never their secrets)."""
    rows = operations.list_endpoints(ctx(), principal(), limit=args["limit"],
                                     after=decode_keyset_cursor(args["cursor"]))
    return keyset_page(rows, args["limit"])


@blp.route("/endpoints/<uuid:endpoint_id>", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.response(200, WebhookEndpointSchema)
@problems(blp, 401, 403, 404, s404=_404)
def get_endpoint(endpoint_id):
    """One endpoint; `disabled_reason` says why it no longer receives events."""
    return operations.get_endpoint(ctx(), principal(), str(endpoint_id))


@blp.route("/endpoints/<uuid:endpoint_id>", methods=["PATCH"])
@blp.doc(security=_SECURITY)
@blp.arguments(WebhookEndpointUpdateSchema(), example={"disabled": False})
@blp.response(200, WebhookEndpointSchema)
@problems(blp, 401, 403, 404, 422, s404=_404)
def update_endpoint(body, endpoint_id):
    """Change the URL, the events or the description, or disable / enable it (enabling
    again clears an automatic disable)."""
    return operations.update_endpoint(ctx(), principal(), str(endpoint_id), body)


@blp.route("/endpoints/<uuid:endpoint_id>", methods=["DELETE"])
@blp.doc(security=_SECURITY)
@blp.response(204)
@problems(blp, 401, 403, 404, s404=_404)
def delete_endpoint(endpoint_id):
    """Remove the endpoint with its deliveries."""
    operations.delete_endpoint(ctx(), principal(), str(endpoint_id))
    return ""


@blp.route("/endpoints/<uuid:endpoint_id>/rotate-secret", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(200, WebhookEndpointWithSecretSchema)
@problems(blp, 401, 403, 404, s404=_404)
def rotate_secret(endpoint_id):
    """A new secret (shown only here). For 24 hours the previous one signs beside it: the
    `webhook-signature` header then carries two `v1,` signatures."""
    return operations.rotate_secret(ctx(), principal(), str(endpoint_id)), 200, _NO_STORE


@blp.route("/endpoints/<uuid:endpoint_id>/test", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(202, WebhookDeliverySchema)
@problems(blp, 401, 403, 404, 409, 429, s404=_404, s409="endpoint-disabled.",
          s429="Too many test sends this minute; see Retry-After.")
def send_test(endpoint_id):
    """Queue a `webhook.test` event to this endpoint (delivered within seconds; follow it in
    the delivery log)."""
    return operations.send_test(ctx(), principal(), str(endpoint_id)), 202


@blp.route("/endpoints/<uuid:endpoint_id>/deliveries", methods=["GET"])
@blp.doc(security=_SECURITY)
@blp.arguments(PageArgsSchema(), location="query")
@blp.response(200, WebhookDeliveryPageSchema)
@problems(blp, 401, 403, 404, 422, s404=_404)
def list_deliveries(args, endpoint_id):
    """Newest first; each with every attempt (time, HTTP status, duration, error and at
    most 1 KiB of the answer)."""
    rows = operations.list_deliveries(ctx(), principal(), str(endpoint_id),
                                      limit=args["limit"],
                                      after=decode_keyset_cursor(args["cursor"]))
    return keyset_page(rows, args["limit"])


@blp.route("/deliveries/<uuid:delivery_id>/retry", methods=["POST"])
@blp.doc(security=_SECURITY)
@blp.response(202, WebhookDeliverySchema)
@problems(blp, 401, 403, 404, 409, s404=_404, s409="already-delivered.")
def retry_delivery(delivery_id):
    """Send a pending or failed delivery again now (same `webhook-id`)."""
    return operations.retry_delivery(ctx(), principal(), str(delivery_id)), 202
