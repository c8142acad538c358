"""Hostile input: SQL injection strings, oversized and malformed JSON, forged provider
notifications. Every case answers 4xx (or an honest empty result) and stores nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from security_client import ADDRESS, assert_problem, assert_unchanged

SQLI = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE products; --",
    "\" OR \"\"=\"",
    "1; SELECT pg_sleep(5)--",
    "' UNION SELECT id, email, password_hash, NULL FROM accounts --",
    "%' AND 1=0 UNION SELECT NULL--",
    "\\'; DELETE FROM orders WHERE '1'='1",
    "admin'--",
    "\x00' OR 1=1",
]


def test_sql_injection_in_search_and_ids_is_inert(client, buyer):
    """`q` is a bound parameter (no rows leak, no error); ids and filters are validated."""
    counts = client.counts()
    for payload in SQLI:
        resp = client.get("/api/v1/products", params={"q": payload})
        if "\x00" in payload:
            assert_problem(resp, (400, 422))
        else:
            assert resp.status_code == 200, (payload, resp.text)
            assert resp.json()["data"] == [], payload  # no title matches: nothing leaks
        assert_problem(client.get("/api/v1/products", params={"shop_id": payload}), 422)
        assert_problem(client.get("/api/v1/products", params={"cursor": payload}), 422)
        assert_problem(client.get("/api/v1/orders", token=buyer,
                                  params={"status": payload}), 422)
        assert_problem(client.get("/api/v1/orders", token=buyer,
                                  params={"cursor": payload}), (400, 422))
        quoted = payload.replace("\x00", "")
        for path in (f"/api/v1/products/{quoted}", f"/api/v1/orders/{quoted}",
                     f"/api/v1/shops/{quoted}", f"/api/v1/contents/{quoted}"):
            resp = client.get(path, token=buyer)
            assert_problem(resp, (400, 404))
    assert_unchanged(counts, client.counts())


def test_quotes_in_a_valid_email_are_stored_literally(client):
    email = f"o'brien--{uuid.uuid4().hex[:6]}@etalase.test"
    resp = client.post("/api/v1/auth/register", json={
        "email": email, "password": "long-enough-pw", "name": "O'Brien", "role": "buyer"})
    assert resp.status_code == 201, resp.text
    assert client.sql("storefront", "SELECT name FROM accounts WHERE email = %s",
                      (email,)) == [("O'Brien",)]
    assert client.login(email, "long-enough-pw")
    assert_problem(client.post("/api/v1/auth/login", json={
        "email": email.replace("'", "' OR '1'='1"), "password": "long-enough-pw"}), 401)


def test_sql_injection_in_credentials_and_bodies_stores_nothing(client, seller):
    counts = client.counts(idempotency=False)
    # Logins cost an argon2 verification each (by design): a few representative payloads.
    for payload in SQLI[:4]:
        for email in (payload, f"{payload}@etalase.test"):
            resp = client.request("POST", "/api/v1/auth/login",
                                  json={"email": email, "password": payload})
            assert_problem(resp, (401, 422))
        # a valid email with an injection as password is just a wrong password
        assert_problem(client.request("POST", "/api/v1/auth/login", json={
            "email": "admin@etalase.test", "password": payload}), 401)
    for payload in SQLI:
        # (`admin'--@etalase.test` is a valid address: registering it is not an attack)
        for email in (payload, f"buyer@etalase.test{payload}"):
            resp = client.request("POST", "/api/v1/auth/register", json={
                "email": email, "password": "long-enough-pw", "name": "x", "role": "buyer"})
            assert_problem(resp, 422)
        resp = client.request("PATCH", f"/api/v1/products/{uuid.uuid4()}", token=seller,
                              json={"price": payload})
        assert_problem(resp, 422)
        resp = client.post("/api/v1/checkout", token=client.token("buyer@etalase.test"),
                           headers={"Idempotency-Key": str(uuid.uuid4())},
                           json={"items": [{"product_id": payload, "quantity": 1}],
                                 "shipping_address": ADDRESS,
                                 "payment_method": "bank_transfer"})
        assert_problem(resp, 422)
    assert_unchanged(counts, client.counts(idempotency=False))
    # the tables the payloads named are all still there and intact
    assert client.sql("storefront", "SELECT count(*) FROM accounts WHERE role = 'admin'")[0][0]


MALFORMED = [
    (b"{", "application/json"),
    (b'{"email": "a@b.c", "password": }', "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b'"just a string"', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b'{"title": "x", "price": 1e309, "stock": 1}', "application/json"),
    (b'{"title": "NaN price", "price": NaN, "stock": 1}', "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
    (b'{"a":' * 3000 + b"1" + b"}" * 3000, "application/json"),
    (b"title=x&price=1&stock=1", "application/x-www-form-urlencoded"),
    (b"<xml/>", "application/xml"),
]


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("POST", "/api/v1/auth/register", None),
        ("POST", "/api/v1/auth/login", None),
        ("POST", "/api/v1/products", "seller"),
        ("PUT", f"/api/v1/cart/items/{uuid.UUID(int=1)}", "buyer"),
        ("POST", "/api/v1/checkout", "buyer"),
        ("POST", "/api/v1/payments/notifications/sandbox", None),
    ],
)
def test_malformed_json_is_a_4xx_problem(client, method, path, role):
    """Including JSON nested thousands deep (used to exhaust the decoder's recursion and
    answer 500; servicekit.problems now answers 400)."""
    token = client.token(f"{role}@etalase.test") if role else None
    counts = client.counts(idempotency=False)
    for body, content_type in MALFORMED:
        resp = client.request(method, path, token=token, data=body,
                              headers={"Content-Type": content_type,
                                       "Idempotency-Key": str(uuid.uuid4())})
        assert_problem(resp, (400, 415, 422))
    assert_unchanged(counts, client.counts(idempotency=False))


def test_oversized_payloads_are_refused(client, seller, buyer):
    counts = client.counts(idempotency=False)
    big = b'{"title": "' + b"x" * (1024 * 1024 + 10) + b'", "price": 1, "stock": 1}'
    for path, token in (("/api/v1/products", seller), ("/api/v1/checkout", buyer),
                        ("/api/v1/payments/notifications/sandbox", None),
                        ("/api/v1/auth/register", None)):
        resp = client.post(path, token=token, data=big,
                           headers={"Content-Type": "application/json",
                                    "Idempotency-Key": str(uuid.uuid4())})
        body = assert_problem(resp, 413)
        assert body["request_id"] == resp.headers["X-Request-ID"]
    # under the gateway limit but over the field limits: a validation error
    resp = client.post("/api/v1/products", token=seller, json={
        "title": "y" * 100_000, "description": "z" * 500_000, "price": 1, "stock": 1})
    assert_problem(resp, 422)
    resp = client.post("/api/v1/checkout", token=buyer,
                       headers={"Idempotency-Key": "k" * 256},
                       json={"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}],
                             "shipping_address": ADDRESS, "payment_method": "bank_transfer"})
    assert_problem(resp, (400, 422))
    many = [{"product_id": str(uuid.uuid4()), "quantity": 1} for _ in range(5000)]
    resp = client.post("/api/v1/checkout", token=buyer,
                       headers={"Idempotency-Key": str(uuid.uuid4())},
                       json={"items": many, "shipping_address": ADDRESS,
                             "payment_method": "bank_transfer"})
    assert_problem(resp, (404, 422))
    for quantity in (0, -1, 10**12, "1", 1.5, None):
        resp = client.post("/api/v1/checkout", token=buyer,
                           headers={"Idempotency-Key": str(uuid.uuid4())},
                           json={"items": [{"product_id": str(uuid.uuid4()),
                                            "quantity": quantity}],
                                 "shipping_address": ADDRESS, "payment_method": "bank_transfer"})
        assert_problem(resp, 422)
    assert_unchanged(counts, client.counts(idempotency=False))


# ----------------------------------------------------------------------------- payments


@pytest.fixture(scope="module")
def unpaid(client, seller):
    _, buyer = client.register("buyer")
    product = client.create_product(seller)
    return {"order": client.checkout(buyer, product["id"]), "token": buyer}


def _payment_state(client, order_id: str):
    return {
        "order": client.sql("transaction", "SELECT status, paid_at, updated_at FROM orders "
                            "WHERE id = %s", (order_id,)),
        "payments": client.sql("transaction", "SELECT * FROM payments WHERE order_id = %s",
                               (order_id,)),
        "notifications": client.sql("transaction", "SELECT count(*) FROM payment_notifications "
                                    "WHERE order_id = %s AND transaction_status <> 'pending'",
                                    (order_id,)),
        **client.counts(),
    }


def _flip_last(signature: str) -> str:
    return signature[:-1] + ("1" if signature[-1] == "0" else "0")


def test_forged_payment_notifications_change_nothing(client, unpaid):
    order = unpaid["order"]
    before = _payment_state(client, order["id"])
    total = order["total"]["amount"]
    good = client.notification(order)
    cases = [
        (client.notification(order, key="not-the-server-key"), 401),  # forged signature
        ({k: v for k, v in good.items() if k != "signature_key"}, 401),  # unsigned
        ({**good, "signature_key": ""}, 401),
        ({**good, "signature_key": None}, 401),
        ({**good, "signature_key": _flip_last(good["signature_key"])}, 401),
        ({**good, "signature_key": good["signature_key"][:-2]}, 401),
        ({**good, "signature_key": good["signature_key"] + "00"}, 401),
        # a genuine notification replayed with a changed amount: the signature breaks
        ({**good, "gross_amount": f"{total - 1000}.00"}, 401),
        ({**good, "gross_amount": "1.00"}, 401),
        # ... and one re-signed by someone who knows the key but not the order total
        (client.notification(order, gross=f"{total + 5000}.00"), 422),
        (client.notification(order, gross="1.00"), 422),
        (client.notification(order, gross="-150000.00"), 422),
        (client.notification(order, gross="1e9"), 422),
        # status replayed onto another order id (signature covers order_id)
        ({**good, "order_id": str(uuid.uuid4())}, 401),
        # sql in the fields the signature covers
        (client.notification({**order, "id": "' OR '1'='1"}), (404, 422)),
    ]
    for body, status in cases:
        resp = client.post("/api/v1/payments/notifications/sandbox", json=body)
        assert_problem(resp, status)
    assert client.post("/api/v1/payments/notifications/midtrans", json=good).status_code in (
        401, 404)
    assert_unchanged(before, _payment_state(client, order["id"]))
    assert client.order(order["id"], unpaid["token"])["status"] == "UNPAID"


def test_notification_body_is_json_only(client, unpaid):
    good = client.notification(unpaid["order"])
    before = _payment_state(client, unpaid["order"]["id"])
    form = "&".join(f"{k}={v}" for k, v in good.items())
    resp = client.post("/api/v1/payments/notifications/sandbox", data=form,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(resp, (400, 415, 422))
    resp = client.post("/api/v1/payments/notifications/sandbox",
                       data=json.dumps([good]), headers={"Content-Type": "application/json"})
    assert_problem(resp, (400, 422))
    assert_unchanged(before, _payment_state(client, unpaid["order"]["id"]))
