"""Register, log in, who am I; token verification."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from storefront_support import make_rsa_key, unique_email


def _register(storefront, **overrides):
    body = {"email": unique_email("auth"), "password": "correct-horse-battery",
            "name": "Sari Wulandari", "role": "buyer"}
    body.update(overrides)
    return storefront.api.post("/api/v1/auth/register", json=body), body


def test_register_returns_the_account(storefront):
    response, body = _register(storefront, name="  Sari  ", role="creator")
    assert response.status_code == 201, response.text
    account = response.json()
    assert account["email"] == body["email"] and account["name"] == "Sari"
    assert account["role"] == "creator" and account["shop_id"] is None
    uuid.UUID(account["id"])
    assert "password" not in response.text and "argon2" not in response.text
    stored = storefront.sql("SELECT password_hash FROM accounts WHERE id = %s", (account["id"],))
    assert stored[0]["password_hash"].startswith("$argon2id$")


def test_duplicate_email_is_409_whatever_the_case(storefront):
    response, body = _register(storefront)
    assert response.status_code == 201
    again, _ = _register(storefront, email=body["email"].upper())
    assert again.status_code == 409
    assert again.json()["type"].endswith("/email-taken")


@pytest.mark.parametrize(
    "overrides",
    [
        {"role": "admin"},
        {"role": "wizard"},
        {"email": "not-an-email"},
        {"email": "a\u0000b@example.com"},
        {"password": "short"},
        {"password": 12345678},
        {"name": ""},
        {"name": "   "},
        {"name": "Nul\u0000name"},
        {"name": "x" * 101},
        {"unexpected": "field"},
    ],
)
def test_invalid_registrations_are_422_and_write_nothing(storefront, overrides):
    response, body = _register(storefront, **overrides)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    if isinstance(body["email"], str) and "\u0000" not in body["email"]:
        assert storefront.sql(
            "SELECT count(*) AS n FROM accounts WHERE lower(email) = lower(%s)", (body["email"],)
        )[0]["n"] == 0


def test_login_issues_an_rs256_token_verifiable_with_the_jwks(storefront, make_actor):
    seller = make_actor("seller")
    response = storefront.api.post(
        "/api/v1/auth/login",
        json={"email": seller.email.upper(), "password": "correct-horse-battery"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["kid"]
    jwks = storefront.internal.get("/internal/jwks.json").json()
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]].key
    claims = jwt.decode(body["access_token"], key=key, algorithms=["RS256"])
    assert claims["sub"] == seller.id
    assert claims["roles"] == ["seller"]
    assert claims["shop_id"] == seller.shop_id
    assert claims["exp"] - claims["iat"] == body["expires_in"]


def test_wrong_password_and_unknown_email_look_the_same(storefront, make_actor):
    buyer = make_actor("buyer")
    wrong = storefront.api.post("/api/v1/auth/login",
                                json={"email": buyer.email, "password": "wrong-password"})
    unknown = storefront.api.post("/api/v1/auth/login",
                                  json={"email": unique_email("nobody"), "password": "whatever1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["type"] == unknown.json()["type"]


def test_login_validation(storefront):
    response = storefront.api.post("/api/v1/auth/login", json={"email": "x@example.com"})
    assert response.status_code == 422
    response = storefront.api.post("/api/v1/auth/login",
                                   json={"email": "x@example.com", "password": "p", "x": 1})
    assert response.status_code == 422


def test_me(storefront, make_actor):
    creator = make_actor("creator")
    response = storefront.api.get("/api/v1/auth/me", token=creator.token)
    assert response.status_code == 200
    assert response.json()["id"] == creator.id and response.json()["role"] == "creator"


def _token(pem, kid, **claims):
    now = int(time.time())
    payload = {"sub": str(uuid.uuid4()), "roles": ["buyer"], "iat": now, "exp": now + 600}
    payload.update(claims)
    return jwt.encode(payload, pem, algorithm="RS256", headers={"kid": kid})


def test_me_refuses_missing_forged_and_expired_tokens(storefront):
    assert storefront.api.get("/api/v1/auth/me").status_code == 401
    assert storefront.api.get("/api/v1/auth/me", token="garbage").status_code == 401
    buyer_id = jwt.decode(storefront.api.login("buyer@etalase.test", "etalase-demo"),
                          options={"verify_signature": False})["sub"]
    # Control: the storefront's own key and kid make a token it accepts, so the refusals
    # below are about what each token changes.
    valid = _token(storefront.private_key_pem, storefront.kid, sub=buyer_id)
    assert storefront.api.get("/api/v1/auth/me", token=valid).status_code == 200
    other_pem, _ = make_rsa_key("intruder")
    forged = _token(other_pem, storefront.kid, sub=buyer_id)
    response = storefront.api.get("/api/v1/auth/me", token=forged)
    assert response.status_code == 401
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    expired = _token(storefront.private_key_pem, storefront.kid, sub=buyer_id,
                     iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    assert storefront.api.get("/api/v1/auth/me", token=expired).status_code == 401
    unknown_kid = _token(storefront.private_key_pem, "no-such-kid", sub=buyer_id)
    assert storefront.api.get("/api/v1/auth/me", token=unknown_kid).status_code == 401
