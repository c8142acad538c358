"""Tokens of an account that is disabled or does not exist stop acting (issue 12, item 7).

An admin disables an account on the showcase (`POST /api/v1/admin/accounts/{id}/disable`).
From then on its validly signed tokens get a 401 problem from the showcase at once and
from the marketplace within its account-status cache (ACCOUNT_STATUS_CACHE_SECONDS, 30 s),
never a 500, and no order is placed for it even inside that window (the showcase refuses
to reserve stock for an inactive buyer). Checked on the real stack through the gateway.
"""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
import requests

from tools import shopper

ADMIN = "admin@etalase.test"
CACHE_SECONDS = 30  # the marketplace default, which the session stack uses


def _auth(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _problem(response: requests.Response, *statuses: int) -> dict:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return response.json()


def _me(gateway: str, token: str) -> dict:
    response = requests.get(f"{gateway}/api/v1/auth/me", headers=_auth(token), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _disable(gateway: str, token: str | None, account_id: str) -> requests.Response:
    return requests.post(f"{gateway}/api/v1/admin/accounts/{account_id}/disable",
                         headers=_auth(token), timeout=10)


def _acts(gateway: str, token: str, product_id: str) -> dict[str, requests.Response]:
    """What a buyer's token can try on both services."""
    http = requests.Session()
    headers = _auth(token)
    return {
        "me": http.get(f"{gateway}/api/v1/auth/me", headers=headers, timeout=10),
        "cart": http.get(f"{gateway}/api/v1/cart", headers=headers, timeout=10),
        "cart-put": http.put(f"{gateway}/api/v1/cart/items/{product_id}", json={"quantity": 1},
                             headers=headers, timeout=10),
        "orders": http.get(f"{gateway}/api/v1/orders", headers=headers, timeout=10),
        "checkout": shopper.checkout(http, gateway, token, product_id),
    }


@pytest.fixture(scope="module")
def gateway(stack) -> str:
    return stack.urls.gateway


@pytest.fixture(scope="module")
def product_id(gateway) -> str:
    seller = shopper.login(gateway, shopper.DEMO_SELLER)
    return shopper.create_product(gateway, seller, stock=1000, title="Disable test")["id"]


def _orders_of(stack, buyer_id: str) -> int:
    import psycopg2

    with psycopg2.connect(stack.dsn("transaction")) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders WHERE buyer_id = %s", (buyer_id,))
        (count,) = cursor.fetchone()
    conn.close()
    return count


def test_only_an_admin_disables_an_account(gateway):
    target = shopper.new_buyer(gateway, "disable-target")
    target_id = _me(gateway, target)["id"]
    parties = {
        "anonymous": None,
        "buyer": shopper.login(gateway, "buyer@etalase.test"),
        "seller": shopper.login(gateway, shopper.DEMO_SELLER),
        "creator": shopper.login(gateway, "creator@etalase.test"),
    }
    for party, token in parties.items():
        refused = _disable(gateway, token, target_id)
        _problem(refused, 401 if token is None else 403)
        assert _me(gateway, target)["id"] == target_id, party  # still active
    admin = shopper.login(gateway, ADMIN)
    done = _disable(gateway, admin, target_id)
    assert done.status_code == 200, done.text
    assert done.json()["id"] == target_id and done.json()["disabled_at"]
    again = _disable(gateway, admin, target_id)  # idempotent: the first time is kept
    assert again.status_code == 200 and again.json()["disabled_at"] == done.json()["disabled_at"]
    _problem(_disable(gateway, admin, str(uuid.uuid4())), 404)
    _problem(_disable(gateway, admin, "not-an-id"), 404)
    _problem(_disable(gateway, admin, _me(gateway, admin)["id"]), 409)


def test_a_disabled_account_is_refused_by_both_services_and_places_no_order(
        stack, gateway, product_id):
    admin = shopper.login(gateway, ADMIN)
    fresh = shopper.new_buyer(gateway, "disable-fresh")  # never seen by the marketplace
    known = shopper.new_buyer(gateway, "disable-known")  # its status is cached there
    fresh_id, known_id = _me(gateway, fresh)["id"], _me(gateway, known)["id"]
    known_email = _me(gateway, known)["email"]
    placed = shopper.checkout(requests.Session(), gateway, known, product_id)
    assert placed.status_code == 201, placed.text
    for account_id in (fresh_id, known_id):
        assert _disable(gateway, admin, account_id).status_code == 200
    disabled_at = time.monotonic()

    for name, response in _acts(gateway, fresh, product_id).items():
        assert _problem(response, 401)["type"].endswith("/account-inactive"), name
    # The marketplace still trusts its cached answer for `known` for up to 30 s, but the
    # showcase refuses at once, and so does a checkout (no stock for an inactive buyer).
    acts = _acts(gateway, known, product_id)
    for name in ("me", "cart", "cart-put", "checkout"):
        assert _problem(acts[name], 401)["type"].endswith("/account-inactive"), name
    assert _orders_of(stack, fresh_id) == 0 and _orders_of(stack, known_id) == 1
    while True:
        orders = requests.get(f"{gateway}/api/v1/orders", headers=_auth(known), timeout=10)
        if orders.status_code == 401 or time.monotonic() - disabled_at > CACHE_SECONDS + 10:
            break
        assert orders.status_code == 200, orders.text
        time.sleep(1)
    _problem(orders, 401)
    assert time.monotonic() - disabled_at <= 60
    login = requests.post(f"{gateway}/api/v1/auth/login", timeout=10, json={
        "email": known_email, "password": shopper.DEMO_PASSWORD})
    assert _problem(login, 403)["type"].endswith("/account-disabled")
    assert _orders_of(stack, known_id) == 1


def test_a_token_of_an_account_that_does_not_exist_acts_nowhere(stack, gateway, product_id):
    now = int(time.time())
    ghost_id = str(uuid.uuid4())
    token = jwt.encode(
        {"sub": ghost_id, "roles": ["buyer"], "iat": now, "exp": now + 600},
        stack.jwt_private_key_path.read_bytes(), algorithm="RS256",
        headers={"kid": stack.jwt_kid})
    for name, response in _acts(gateway, token, product_id).items():
        assert _problem(response, 401)["type"].endswith("/account-inactive"), name
    assert _orders_of(stack, ghost_id) == 0
