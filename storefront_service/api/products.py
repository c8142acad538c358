"""Products: sellers manage their own; anyone searches and reads."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..domain.errors import NotFound
from ..store import catalog
from .common import BEARER, authenticated, caller, database, keyset, paginate, problem_doc
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
@problem_doc(blp, 401, 403, 409, 422)
def create_product(body):
    """Add a product to the caller's shop (the shop is looked up from the account)."""
    return catalog.create_product(database(), owner_id=caller("seller").account_id, **body)


@blp.route("", methods=["GET"])
@blp.arguments(ProductQuerySchema(), location="query")
@blp.response(200, ProductPageSchema)
@problem_doc(blp, 422)
def list_products(args):
    """Products for sale, newest first; `q` searches titles and descriptions."""
    rows = catalog.list_products(
        database(), keyset(args), query=args["q"] or None, shop_id=args["shop_id"]
    )
    return paginate(rows, args["limit"])


@blp.route("/<uuid:product_id>", methods=["GET"])
@blp.response(200, ProductSchema)
@problem_doc(blp, 404)
def get_product(product_id):
    """Any product by id, including inactive ones (existing orders link to them)."""
    product = catalog.get_product(database(), str(product_id))
    if product is None:
        raise NotFound("No such product.")
    return product


@blp.route("/<uuid:product_id>", methods=["PATCH"])
@authenticated("seller")
@blp.doc(security=BEARER)
@blp.arguments(ProductPatchSchema(), example={"price": 175000, "stock": 30})
@blp.response(200, ProductSchema)
@problem_doc(blp, 401, 403, 404, 422)
def update_product(changes, product_id):
    """Change a product of the caller's shop; another seller's product answers 404."""
    return catalog.update_product(
        database(),
        product_id=str(product_id),
        owner_id=caller("seller").account_id,
        changes=changes,
    )
