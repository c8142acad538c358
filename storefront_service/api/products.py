"""Products: sellers manage their own; anyone searches and reads."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from ..domain.errors import Forbidden, NotFound
from ..domain.versions import versions_named
from ..store import catalog, shops
from .common import BEARER, authenticated, caller, keyset, paginate, problems
from .context import ctx
from .schemas import (
    ProductCreateSchema,
    ProductPageSchema,
    ProductPatchSchema,
    ProductQuerySchema,
    ProductSchema,
)

blp = Blueprint("products", __name__, url_prefix="/api/v1/products", description="Products.")

_CREATE_EXAMPLE = {
    "title": "Kemeja Batik Parang Lengan Panjang",
    "description": "Batik cap katun primisima, ukuran M-XL.",
    "price": 185000,
    "stock": 25,
    "images": ["https://cdn.example.com/batik-parang.jpg"],
}


@blp.route("", methods=["POST"])
@authenticated("seller")
@blp.doc(security=BEARER)
@blp.arguments(ProductCreateSchema(), example=_CREATE_EXAMPLE)
@blp.response(201, ProductSchema)
@problems(blp, 401, 403, 409, 422)
def create_product(body):
    """Add a product to the caller's shop (the shop is looked up from the account)."""
    return catalog.create_product(ctx().database, owner_id=caller("seller").account_id, **body)


@blp.route("", methods=["GET"])
@blp.arguments(ProductQuerySchema(), location="query")
@blp.response(200, ProductPageSchema)
@problems(blp, 401, 403, 422)
def list_products(args):
    """Products for sale, newest first; `q` searches titles and descriptions.

    A seller lists their own shop's withdrawn products with `status=inactive` (or both
    with `status=all`); nobody else sees another shop's inactive products.
    """
    shop_id = args["shop_id"]
    if args["status"] != "active":
        own_shop = shops.shop_id_of_owner(ctx().database, caller("seller").account_id)
        if own_shop is None or (shop_id is not None and str(shop_id) != str(own_shop)):
            raise Forbidden("Only a shop's own seller lists its inactive products.")
        shop_id = own_shop
    rows = catalog.list_products(
        ctx().database, keyset(args), query=args["q"] or None, shop_id=shop_id,
        status=args["status"],
    )
    return paginate(rows, args["limit"])


ETAG_HEADER = {"ETag": {"description": "The product's version; send it back in If-Match "
                                    "to change the product only if nobody else has.",
                     "schema": {"type": "string"}}}
IF_MATCH = {"in": "header", "name": "If-Match", "required": False,
            "description": "Change the product only if it is still at this ETag (412 if not).",
            "schema": {"type": "string"}}
IF_NONE_MATCH = {"in": "header", "name": "If-None-Match", "required": False,
                 "description": "304 without a body when the product is still at this ETag.",
                 "schema": {"type": "string"}}


def etag_of(product: dict) -> str:
    return str(product["version"])


def expected_versions() -> list[int] | None:
    """The versions If-Match names; None when absent or `*` (no condition). A tag that
    is not one of our versions can never match, so it is kept out and the write fails."""
    if_match = request.if_match
    if not if_match or if_match.star_tag:
        return None
    return versions_named(if_match.as_set())


@blp.route("/<uuid:product_id>", methods=["GET"])
@blp.doc(parameters=[IF_NONE_MATCH])
@blp.response(200, ProductSchema, headers=ETAG_HEADER)
@blp.alt_response(304, description="Not modified since the ETag in If-None-Match.")
@problems(blp, 404)
def get_product(product_id):
    """Any product by id, including inactive ones (existing orders link to them)."""
    product = catalog.get_product(ctx().database, str(product_id))
    if product is None:
        raise NotFound("No such product.")
    etag = etag_of(product)
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
        response.set_etag(etag)
        return response
    return product, 200, {"ETag": f'"{etag}"'}


@blp.route("/<uuid:product_id>", methods=["PATCH"])
@authenticated("seller")
@blp.doc(security=BEARER, parameters=[IF_MATCH])
@blp.arguments(ProductPatchSchema(), example={"price": 175000, "stock": 30})
@blp.response(200, ProductSchema, headers=ETAG_HEADER)
@problems(blp, 401, 403, 404, 412, 422)
def update_product(changes, product_id):
    """Change a product of the caller's shop; another seller's product answers 404.

    With If-Match (the ETag of a GET), the change applies only if nothing changed the
    product since, a sale's stock decrement included; otherwise 412 and nothing changes.
    """
    product = catalog.update_product(
        ctx().database,
        product_id=str(product_id),
        owner_id=caller("seller").account_id,
        changes=changes,
        expected_versions=expected_versions(),
    )
    return product, 200, {"ETag": f'"{etag_of(product)}"'}
