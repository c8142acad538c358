"""Input rules of the API schemas, without a server."""

from __future__ import annotations

import marshmallow as ma
import pytest

from storefront_service.api import schemas


def test_text_is_stripped_and_refuses_nul():
    schema = schemas.ShopCreateSchema()
    assert schema.load({"name": "  Toko Maju  "})["name"] == "Toko Maju"
    with pytest.raises(ma.ValidationError):
        schema.load({"name": "Toko\x00Maju"})
    with pytest.raises(ma.ValidationError):
        schema.load({"name": "    "})  # empty after stripping


@pytest.mark.parametrize("price", [1.0, 2.5, True, "1000", 0, -5, None])
def test_prices_are_strict_positive_integers(price):
    with pytest.raises(ma.ValidationError) as error:
        schemas.ProductCreateSchema().load({"title": "Produk", "price": price, "stock": 1})
    assert "price" in error.value.messages


def test_unknown_fields_are_refused():
    with pytest.raises(ma.ValidationError) as error:
        schemas.CartItemPutSchema().load({"quantity": 1, "price": 5})
    assert "price" in error.value.messages


def test_images_must_be_http_urls():
    load = schemas.ProductCreateSchema().load
    base = {"title": "Produk", "price": 1, "stock": 0}
    assert load({**base, "images": ["https://cdn.example.com/a.jpg"]})["images"]
    for bad in ("ftp://cdn.example.com/a.jpg", "javascript:alert(1)", "/static/a.jpg"):
        with pytest.raises(ma.ValidationError):
            load({**base, "images": [bad]})


def test_money_is_dumped_as_an_object():
    dumped = schemas.ReservationItemSchema().dump(
        {"product_id": "5b0c7f1e-2f55-4f5e-9c1a-6e7461736501", "shop_id": None, "title": "x",
         "quantity": 1, "unit_price": 150000}
    )
    assert dumped["unit_price"] == {"amount": 150000, "currency": "IDR"}
