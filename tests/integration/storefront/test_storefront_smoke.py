def test_ready(storefront):
    assert storefront.api.get("/readyz").status_code == 200


def test_register_login_me(storefront, make_actor, make_product):
    seller = make_actor("seller")
    product = make_product(seller)
    assert product["price"] == {"amount": 150000, "currency": "IDR"}
    me = storefront.api.get("/api/v1/auth/me", token=seller.token)
    assert me.status_code == 200, me.text
    assert me.json()["shop_id"] == seller.shop_id
