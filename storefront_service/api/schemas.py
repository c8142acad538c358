"""Request and response schemas (marshmallow 4) of the showcase API.

Input rules: unknown fields are refused (422); texts are stripped and may not contain NUL
(Postgres cannot store it); integers are strict (no floats, strings or booleans); URLs are
http(s) only; ids are UUIDs.
"""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import fields, validate

from servicekit.pagination import PageArgsSchema

from ..domain import attribution as attribution_rules
from ..domain import cart as cart_rules
from ..domain.money import money

MAX_PRICE = 1_000_000_000_000  # one trillion rupiah: far above any real product
MAX_STOCK = 1_000_000

# ----------------------------------------------------------------------------- fields


class Text(fields.String):
    """A string that is stripped and never contains NUL."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ma.ValidationError("Must not contain NUL characters.")
        return text.strip()


class HttpUrl(fields.Url):
    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(max=2048))
        super().__init__(schemes={"http", "https"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs)


class EmailAddress(fields.Email):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs)


class UtcDateTime(fields.DateTime):
    """ISO-8601 in UTC whatever the database session's time zone."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def StrictInt(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    return fields.Integer(strict=True, **kwargs)


class StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class MoneySchema(ma.Schema):
    amount = fields.Integer(required=True, metadata={"example": 150000})
    currency = fields.String(required=True, metadata={"example": "IDR"})


class MoneyField(fields.Nested):
    """Integer rupiah in, `{"amount": n, "currency": "IDR"}` out (dump only); documented
    in OpenAPI as the `Money` schema."""

    def __init__(self, **kwargs):
        super().__init__(MoneySchema, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else money(int(value))


def money_field(**kwargs):
    """A money value: documented as MoneySchema, dumped from an integer column."""
    kwargs.setdefault("metadata", {})
    kwargs["metadata"].setdefault("description", "Integer rupiah.")
    return MoneyField(dump_only=True, **kwargs)


def page_schema(name: str, item: type[ma.Schema]) -> type[ma.Schema]:
    return type(
        name,
        (ma.Schema,),
        {
            "data": fields.List(fields.Nested(item)),
            "next_cursor": fields.String(
                allow_none=True,
                metadata={"description": "Pass as `cursor` to get the next page; null at end."},
            ),
        },
    )


# ----------------------------------------------------------------------------- accounts

ROLES_SELF_SERVICE = ("buyer", "seller", "creator")


class JwkSchema(ma.Schema):
    """One public RSA key (RFC 7517); private members are never published."""

    kty = fields.String(required=True, metadata={"example": "RSA"})
    kid = fields.String(required=True, metadata={"example": "local-1"})
    alg = fields.String(metadata={"example": "RS256"})
    use = fields.String(metadata={"example": "sig"})
    n = fields.String(required=True, metadata={"description": "modulus, base64url"})
    e = fields.String(required=True, metadata={"example": "AQAB"})


class JwksSchema(ma.Schema):
    keys = fields.List(fields.Nested(JwkSchema), required=True)


class RegisterSchema(StrictSchema):
    email = EmailAddress(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=8, max=128))
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf(ROLES_SELF_SERVICE))


class LoginSchema(StrictSchema):
    # Text: a NUL would reach Postgres, which cannot store it (was a 500, found by fuzzing).
    email = Text(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class AccountSchema(ma.Schema):
    id = fields.UUID()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    shop_id = fields.UUID(allow_none=True, metadata={"description": "Sellers with a shop."})
    created_at = UtcDateTime()


class AdminAccountSchema(AccountSchema):
    disabled_at = UtcDateTime(allow_none=True,
                              metadata={"description": "When an admin disabled it; null: active."})


class AccountStatusSchema(ma.Schema):
    id = fields.UUID()
    role = fields.String()
    active = fields.Boolean(metadata={"description": "False once an admin disabled it."})


class TokenSchema(ma.Schema):
    access_token = fields.String(metadata={"description": "RS256 JWT"})
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer(metadata={"example": 3600})


# ----------------------------------------------------------------------------- shops


class ShopCreateSchema(StrictSchema):
    name = Text(required=True, validate=validate.Length(min=3, max=80))
    description = Text(load_default="", validate=validate.Length(max=2000))
    city = Text(load_default=None, allow_none=True, validate=validate.Length(min=1, max=80))


# How `fields.Function` values shaped like PersonSchema are documented in OpenAPI.
PERSON_DOC = {
    "type": "object",
    "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}},
}


class PersonSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()


class ShopSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()
    description = fields.String()
    city = fields.String(allow_none=True)
    owner = fields.Function(
        lambda row: {"id": str(row["owner_id"]), "name": row["owner_name"]},
        metadata={"description": "The seller who owns the shop.", **PERSON_DOC},
    )
    created_at = UtcDateTime()


ShopPageSchema = page_schema("ShopPage", ShopSchema)


# ----------------------------------------------------------------------------- products

PRODUCT_STATUSES = ("active", "inactive")


class ProductCreateSchema(StrictSchema):
    title = Text(required=True, validate=validate.Length(min=3, max=200))
    description = Text(load_default="", validate=validate.Length(max=5000))
    price = StrictInt(
        required=True,
        validate=validate.Range(min=1, max=MAX_PRICE),
        metadata={"description": "Integer rupiah.", "example": 150000},
    )
    stock = StrictInt(required=True, validate=validate.Range(min=0, max=MAX_STOCK))
    status = fields.String(load_default="active", validate=validate.OneOf(PRODUCT_STATUSES))
    images = fields.List(HttpUrl(), load_default=list, validate=validate.Length(max=10))
    commission_rate_bps = StrictInt(
        load_default=0,
        validate=validate.Range(min=0, max=attribution_rules.MAX_COMMISSION_RATE_BPS),
        metadata={"description": "Commission offered to creators whose content sells it, in "
                                 "basis points (0-8000; 0 = not offered).", "example": 1000},
    )


class ProductPatchSchema(StrictSchema):
    title = Text(validate=validate.Length(min=3, max=200))
    description = Text(validate=validate.Length(max=5000))
    price = StrictInt(validate=validate.Range(min=1, max=MAX_PRICE))
    stock = StrictInt(validate=validate.Range(min=0, max=MAX_STOCK))
    status = fields.String(validate=validate.OneOf(PRODUCT_STATUSES))
    images = fields.List(HttpUrl(), validate=validate.Length(max=10))
    commission_rate_bps = StrictInt(
        validate=validate.Range(min=0, max=attribution_rules.MAX_COMMISSION_RATE_BPS),
        metadata={"description": "Commission offered to creators whose content sells it, in "
                                 "basis points (0-8000; 0 = not offered).", "example": 1000},
    )

    @ma.validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "_body")


class ProductSchema(ma.Schema):
    id = fields.UUID()
    shop_id = fields.UUID()
    shop_name = fields.String()
    title = fields.String()
    description = fields.String()
    price = money_field()
    stock = fields.Integer()
    in_stock = fields.Function(lambda row: row["stock"] > 0, metadata={"type": "boolean"})
    status = fields.String()
    images = fields.List(fields.String())
    commission_rate_bps = fields.Integer(
        metadata={"description": "Commission offered to creators (basis points; 0 = none)."}
    )
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


ProductPageSchema = page_schema("ProductPage", ProductSchema)


class ProductQuerySchema(PageArgsSchema):
    q = Text(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "Web-search syntax: words, \"phrases\", -excluded, or."},
    )
    shop_id = fields.UUID(load_default=None)
    status = fields.String(
        load_default="active",
        validate=validate.OneOf((*PRODUCT_STATUSES, "all")),
        metadata={"description": "active (default, anyone); inactive or all: only the "
                                 "shop's own seller, for their shop (shop_id defaults to it)."},
    )


# ----------------------------------------------------------------------------- content

CONTENT_KINDS = ("video", "live")


class ContentCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(CONTENT_KINDS))
    title = Text(required=True, validate=validate.Length(min=3, max=200))
    media_url = HttpUrl(required=True)
    product_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=20))

    @ma.validates("product_ids")
    def _distinct(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ma.ValidationError("Tag each product once.")


class TaggedProductSchema(ma.Schema):
    id = fields.UUID()
    shop_id = fields.UUID()
    shop_name = fields.String()
    title = fields.String()
    price = money_field()
    in_stock = fields.Function(lambda row: row["stock"] > 0, metadata={"type": "boolean"})
    stock = fields.Integer()
    image = fields.Function(
        lambda row: row["images"][0] if row["images"] else None,
        metadata={"type": "string", "nullable": True},
    )


class ContentSchema(ma.Schema):
    id = fields.UUID()
    kind = fields.String()
    title = fields.String()
    media_url = fields.String()
    creator = fields.Function(
        lambda row: {"id": str(row["creator_id"]), "name": row["creator_name"]},
        metadata={"description": "The creator who posted it.", **PERSON_DOC},
    )
    products = fields.List(
        fields.Nested(TaggedProductSchema),
        metadata={"description": "Tagged products still for sale, in tagging order."},
    )
    created_at = UtcDateTime()


FeedPageSchema = page_schema("FeedPage", ContentSchema)


# ----------------------------------------------------------------------------- cart


class CartItemPutSchema(StrictSchema):
    quantity = StrictInt(
        required=True,
        validate=validate.Range(min=1, max=cart_rules.MAX_QUANTITY),
        metadata={"example": 2},
    )
    content_id = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={"description": "The video or live session the product was added from "
                                 "(must tag it); the last one wins for 7 days."},
    )


class CartAttributionSchema(ma.Schema):
    content_id = fields.UUID()
    content_kind = fields.String(metadata={"description": "video | live"})
    content_title = fields.String()
    creator = fields.Dict(metadata={"description": "The creator.", **PERSON_DOC})
    attributed_at = UtcDateTime()


class CartItemSchema(ma.Schema):
    product_id = fields.UUID()
    shop_id = fields.UUID()
    shop_name = fields.String()
    title = fields.String()
    image = fields.String(allow_none=True)
    quantity = fields.Integer()
    stock = fields.Integer()
    unit_price = money_field(metadata={"description": "Current price."})
    price_when_added = money_field()
    price_change = fields.String(
        allow_none=True, metadata={"description": "cheaper | dearer | null"}
    )
    available = fields.Boolean()
    unavailable_reason = fields.String(
        allow_none=True,
        metadata={"description": "inactive | out_of_stock | insufficient_stock | null"},
    )
    line_total = money_field()
    attribution = fields.Nested(
        CartAttributionSchema,
        allow_none=True,
        metadata={"description": "The content this item was added from, while it counts."},
    )


class CartSchema(ma.Schema):
    buyer_id = fields.UUID()
    items = fields.List(fields.Nested(CartItemSchema))
    subtotal = money_field(metadata={"description": "Available items at current prices."})
    available_quantity = fields.Integer()


# ----------------------------------------------------------------------------- internal


class ReservationItemRequestSchema(StrictSchema):
    product_id = fields.UUID(required=True)
    quantity = StrictInt(required=True, validate=validate.Range(min=1, max=999))
    content_id = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={"description": "The content the buyer bought this line from; without it "
                                 "the buyer's cart attribution (within the window) applies."},
    )


class ReservationRequestSchema(StrictSchema):
    order_id = fields.UUID(required=True)
    buyer_id = fields.UUID(required=True)
    items = fields.List(
        fields.Nested(ReservationItemRequestSchema),
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "Repeated product ids are merged (quantities added)."},
    )


class ProductShopsRequestSchema(StrictSchema):
    product_ids = fields.List(fields.UUID(), required=True,
                              validate=validate.Length(min=1, max=50))


class ProductShopSchema(ma.Schema):
    product_id = fields.UUID()
    shop_id = fields.UUID()
    status = fields.String()


class ProductShopsSchema(ma.Schema):
    products = fields.List(fields.Nested(ProductShopSchema),
                           metadata={"description": "Unknown product ids are left out."})


class ReturnRestockItemSchema(StrictSchema):
    product_id = fields.UUID(required=True)
    quantity = StrictInt(required=True, validate=validate.Range(min=1, max=999))


class ReturnRestockRequestSchema(StrictSchema):
    items = fields.List(fields.Nested(ReturnRestockItemSchema), required=True,
                        validate=validate.Length(min=1, max=50))


class ReturnRestockSchema(ma.Schema):
    return_id = fields.UUID()
    order_id = fields.UUID()
    created_at = UtcDateTime()
    items = fields.List(fields.Nested(ReturnRestockItemSchema))


class AttributionSchema(ma.Schema):
    content_id = fields.UUID(required=True)
    creator_id = fields.UUID(required=True)
    commission_rate_bps = fields.Integer(
        required=True, metadata={"description": "The product's rate when the stock was taken."}
    )


class ReservationItemSchema(ma.Schema):
    product_id = fields.UUID()
    shop_id = fields.UUID()
    title = fields.String()
    quantity = fields.Integer()
    unit_price = money_field(metadata={"description": "Authoritative price at reservation."})
    attribution = fields.Nested(
        AttributionSchema,
        allow_none=True,
        metadata={"description": "The creator credited with this line, frozen at sale; null "
                                 "when no content attributes it."},
    )


class ReservationSchema(ma.Schema):
    order_id = fields.UUID()
    buyer_id = fields.UUID()
    shop_id = fields.UUID()
    status = fields.String(
        metadata={"description": "active | committed | released | restocked"}
    )
    expires_at = UtcDateTime()
    created_at = UtcDateTime()
    committed_at = UtcDateTime(allow_none=True)
    released_at = UtcDateTime(allow_none=True)
    restocked_at = UtcDateTime(allow_none=True)
    items = fields.List(fields.Nested(ReservationItemSchema))
