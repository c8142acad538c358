"""Shops: a seller opens at most one; anyone can browse them."""

from __future__ import annotations

from flask_smorest import Blueprint

from servicekit.pagination import PageArgsSchema

from ..domain.errors import NotFound
from ..store import shops
from .common import BEARER, authenticated, caller, keyset, paginate, problems
from .context import ctx
from .schemas import ShopCreateSchema, ShopPageSchema, ShopSchema

blp = Blueprint("shops", __name__, url_prefix="/api/v1/shops", description="Shops.")


@blp.route("", methods=["POST"])
@authenticated("seller")
@blp.doc(security=BEARER)
@blp.arguments(
    ShopCreateSchema(),
    example={"name": "Toko Batik Lestari", "description": "Batik tulis Solo", "city": "Solo"},
)
@blp.response(201, ShopSchema)
@problems(blp, 401, 403, 409, 422)
def create_shop(body):
    """Open the caller's shop (sellers only; one per seller)."""
    return shops.create_shop(ctx().database, owner_id=caller("seller").account_id, **body)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema(), location="query")
@blp.response(200, ShopPageSchema)
@problems(blp, 422)
def list_shops(args):
    """Shops, newest first."""
    return paginate(shops.list_shops(ctx().database, keyset(args)), args["limit"])


@blp.route("/<uuid:shop_id>", methods=["GET"])
@blp.response(200, ShopSchema)
@problems(blp, 404)
def get_shop(shop_id):
    """One shop by id."""
    shop = shops.get_shop(ctx().database, str(shop_id))
    if shop is None:
        raise NotFound("No such shop.")
    return shop
