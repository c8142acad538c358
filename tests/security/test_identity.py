"""Identity: both services verify the RS256 JWT themselves and refuse anything else.

Every forged token is tried on endpoints of both services, through the gateway (which
passes Authorization through untouched) and straight at the service ports (so a service
never relies on the gateway). Each case proves the databases did not change.
"""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm
from security_client import (
    ADDRESS,
    SigningKey,
    assert_problem,
    assert_unchanged,
    claims_of,
    hs256_with_public_key,
    raw_request,
    unsigned_token,
    write_jwks,
)

# (service, method, path, body) - reads and writes of both services.
ENDPOINTS = [
    ("storefront", "GET", "/api/v1/auth/me", None),
    ("storefront", "GET", "/api/v1/cart", None),
    ("storefront", "POST", "/api/v1/products",
     {"title": "Forged product", "price": 1000, "stock": 1}),
    ("storefront", "POST", "/api/v1/shops", {"name": "Forged shop"}),
    ("transaction", "GET", "/api/v1/orders", None),
    ("transaction", "GET", "/api/v1/sellers/me/balance", None),
    ("transaction", "POST", "/api/v1/checkout", {
        "items": [{"product_id": str(uuid.uuid4()), "quantity": 1}],
        "shipping_address": ADDRESS, "payment_method": "bank_transfer"}),
    ("transaction", "GET", "/api/v1/admin/audit/verify", None),
    ("transaction", "GET", "/api/v1/audit/entries/0", None),
    ("transaction", "GET", f"/api/v1/orders/{uuid.uuid4()}/audit", None),
]


def _forgeries(client, seller_token: str) -> dict[str, str]:
    """Tokens that must all be refused, derived from a real seller token."""
    real = claims_of(seller_token)
    real_kid = jwt.get_unverified_header(seller_token)["kid"]
    now = int(time.time())
    admin = {**real, "roles": ["admin", "seller"], "iat": now, "exp": now + 600}
    public_pem = _public_pem(client)
    head, body, sig = seller_token.split(".")
    tampered_body = unsigned_token({}, {**real, "roles": ["admin"]}).split(".")[1]
    stranger = SigningKey.generate(kid=real_kid)  # the right kid, somebody else's key
    outsider = SigningKey.generate()  # a key nobody published
    return {
        "alg-none": unsigned_token({"alg": "none", "typ": "JWT", "kid": real_kid}, admin),
        "alg-none-no-kid": unsigned_token({"alg": "none", "typ": "JWT"}, admin),
        "alg-None-mixed-case": unsigned_token({"alg": "None", "kid": real_kid}, admin),
        "hs256-with-public-key": hs256_with_public_key(admin, real_kid, public_pem),
        "tampered-claims": f"{head}.{tampered_body}.{sig}",
        "truncated-signature": f"{head}.{body}.{sig[:-6]}",
        "no-signature": f"{head}.{body}.",
        "wrong-key-same-kid": stranger.sign(admin),
        "unknown-kid": outsider.sign(admin),
        "no-kid": stranger.sign(admin, kid=""),
        "garbage": "not-a-jwt",
        "empty-segments": "..",
    }


def _public_pem(client) -> bytes:
    """The stack's real public signing key (PEM), as an attacker could fetch it."""
    jwks = json.loads(client.stack.jwks_path.read_text())
    key = RSAAlgorithm.from_jwk(jwks["keys"][0])
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def forged(client, seller) -> dict[str, str]:
    return _forgeries(client, seller)


@pytest.fixture(scope="module")
def own_key(client):
    """A key published in the session stack's JWKS next to the real one, so tokens we
    sign are valid except for the flaw under test (expired, missing claims, ...)."""
    path = client.stack.jwks_path
    original = path.read_text()
    key = SigningKey.generate()
    write_jwks(path, [*json.loads(original)["keys"], key.public_jwk])
    try:
        yield key
    finally:
        tmp = path.with_suffix(".json.restore")
        tmp.write_text(original)
        tmp.replace(path)


def _try_everywhere(client, token: str, *, via_gateway: bool = True):
    for service, method, path, body in ENDPOINTS:
        targets = ["gateway", service] if via_gateway else [service]
        for target in targets:
            resp = client.request(method, path, token=token, json=body, service=target)
            yield service, target, path, resp


def test_forged_tokens_are_refused_by_both_services(client, forged):
    before = client.counts()
    for name, token in forged.items():
        for _service, target, path, resp in _try_everywhere(client, token):
            body = assert_problem(resp, 401)
            assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), (name, path)
            assert body["type"].endswith("unauthorized"), (name, target, path, body)
    assert_unchanged(before, client.counts())


def _wait_for_key(client, token: str, timeout: float = 12.0) -> None:
    """The services reload the JWKS within their reload interval (5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        ok = [client.get(p, token=token, service=s).status_code == 200
              for s, p in (("storefront", "/api/v1/auth/me"),
                           ("transaction", "/api/v1/orders?role=buyer"))]
        if all(ok):
            return
        assert time.monotonic() < deadline, "the published key was not picked up"
        time.sleep(0.25)


def test_tokens_with_bad_claims_are_refused(client, own_key, buyer):
    """Signed with a published key, but expired, without required claims, or with roles
    the issuer never grants: all 401 on both services."""
    real = claims_of(buyer)
    now = int(time.time())
    valid = {**real, "iat": now, "exp": now + 600}
    _wait_for_key(client, own_key.sign(valid))  # our key works: the flaws below are why
    cases = {
        "expired": {**valid, "iat": now - 7200, "exp": now - 3600},
        "no-exp": {k: v for k, v in valid.items() if k != "exp"},
        "no-sub": {k: v for k, v in valid.items() if k != "sub"},
        "no-iat": {k: v for k, v in valid.items() if k != "iat"},
        "no-roles": {k: v for k, v in valid.items() if k != "roles"},
        "empty-roles": {**valid, "roles": []},
        "unknown-role": {**valid, "roles": ["superuser"]},
        "roles-not-a-list": {**valid, "roles": "admin"},
        "exp-not-a-number": {**valid, "exp": "tomorrow"},
    }
    before = client.counts()
    for name, claims in cases.items():
        token = own_key.sign(claims)
        for _service, _target, path, resp in _try_everywhere(client, token):
            assert_problem(resp, 401)
            assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), (name, path)
    assert_unchanged(before, client.counts())


def test_missing_or_malformed_authorization_header(client):
    before = client.counts()
    for header in ("", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Token abc"):
        for _service, method, path, body in ENDPOINTS:
            if path == "/api/v1/admin/audit/verify":
                continue
            resp = client.request(method, path, json=body,
                                  headers={"Authorization": header} if header else None)
            assert_problem(resp, 401)
    assert_unchanged(before, client.counts())


# ----------------------------------------------------------------------------- internal


INTERNAL_CALLS = [
    ("POST", "/internal/reservations", {
        "order_id": str(uuid.uuid4()), "buyer_id": str(uuid.uuid4()),
        "items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]}),
    ("GET", f"/internal/reservations/{uuid.uuid4()}", None),
    ("POST", f"/internal/reservations/{uuid.uuid4()}/commit", None),
    ("POST", f"/internal/reservations/{uuid.uuid4()}/release", None),
    ("POST", f"/internal/reservations/{uuid.uuid4()}/restock", None),
    ("POST", "/internal/witness/add-checkpoint", None),
]


def test_user_jwt_is_refused_on_internal_endpoints(client, buyer, seller):
    """Straight at the storefront port (the gateway 404s /internal): a user's JWT, even a
    valid admin-looking one, is not the service credential."""
    admin = client.token("admin@etalase.test")
    before = client.counts()
    for token in (buyer, seller, admin):
        for method, path, body in INTERNAL_CALLS:
            resp = client.request(method, path, token=token, json=body, service="storefront")
            assert_problem(resp, 401)
            # A JWT smuggled into the service-credential header is no better.
            resp = client.request(method, path, json=body, service="storefront",
                                  headers={"X-Internal-Token": token})
            assert_problem(resp, 401)
    for method, path, body in INTERNAL_CALLS:  # no credential, or a wrong one
        assert_problem(client.request(method, path, json=body, service="storefront"), 401)
        resp = client.request(method, path, json=body, service="storefront",
                              headers={"X-Internal-Token": "guess"})
        assert_problem(resp, 401)
    assert_unchanged(before, client.counts())


INTERNAL_VARIANTS = [
    "/internal/jwks.json",
    "/internal/reservations",
    "/internal/witness/add-checkpoint",
    "/internal/",
    "/internal",
    "//internal/jwks.json",
    "/./internal/jwks.json",
    "/%69nternal/jwks.json",
    "/%69%6e%74%65%72%6e%61%6c/jwks.json",
    "/internal%2fjwks.json",
    "/api/v1/shops/../../../internal/jwks.json",
    "/api/v1/shops/%2e%2e/%2e%2e/%2e%2e/internal/jwks.json",
    "/api/v1/shops/..%2f..%2f..%2finternal%2fjwks.json",
    "/api/v1/products/%2E%2E/%2E%2E/%2E%2E/internal/reservations",
    "/sandbox/../internal/jwks.json",
    "/api/v1/shops/%252e%252e/%252e%252e/%252e%252e/internal/jwks.json",
    "/api/v1/auth/..%5c..%5c..%5cinternal%5cjwks.json",
    "/internal/jwks.json?x=/api/v1/feed",
    "/internal/jwks.json%00.css",
    "/INTERNAL/jwks.json",
]


@pytest.mark.parametrize("path", INTERNAL_VARIANTS)
def test_internal_api_is_unreachable_through_the_gateway(client, path):
    before = client.counts()
    for method in ("GET", "POST"):
        status, headers, raw = raw_request(
            client.gateway, method, path, body=b"{}" if method == "POST" else None,
            headers={"X-Internal-Token": client.stack.secrets["internal_token"],
                     "Content-Type": "application/json"},
        )
        assert status in (400, 404, 405), (path, method, status, raw[:200])
        assert b'"keys"' not in raw  # the JWKS (a canary for reaching /internal) never leaks
        if status != 400:  # nginx answers a malformed request line with its own 400 page
            assert headers["content-type"].startswith("application/problem+json"), raw[:200]
    assert_unchanged(before, client.counts())
