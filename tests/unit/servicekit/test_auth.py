"""JWT verification rules (DESIGN.md §4): only RS256 from a published key is accepted."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from servicekit.auth import KeySet, TokenVerifier
from servicekit.problems import Problem


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(private_key, kid):
    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


@pytest.fixture(scope="module")
def keys():
    return {"k1": _new_key(), "k2": _new_key()}


@pytest.fixture
def jwks_path(tmp_path, keys):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(keys["k1"], "k1")]}))
    return path


@pytest.fixture
def verifier(jwks_path):
    return TokenVerifier(KeySet(jwks_path, reload_interval=0))


def _claims(**overrides):
    now = int(time.time())
    claims = {"sub": "acc-1", "roles": ["buyer"], "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key, kid="k1", **claims):
    return jwt.encode(_claims(**claims), key, algorithm="RS256", headers={"kid": kid})


def _expect_401(verifier, token):
    with pytest.raises(Problem) as caught:
        verifier.verify(token)
    assert caught.value.status == 401
    return caught.value


def test_valid_token_gives_principal(verifier, keys):
    principal = verifier.verify(_sign(keys["k1"], roles=["seller"], shop_id="shop-9"))
    assert principal.account_id == "acc-1"
    assert principal.roles == frozenset({"seller"})
    assert principal.shop_id == "shop-9"


def test_alg_none_is_refused(verifier):
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "k1"}).encode())
    body = base64.urlsafe_b64encode(json.dumps(_claims()).encode())
    token = header.decode().rstrip("=") + "." + body.decode().rstrip("=") + "."
    _expect_401(verifier, token)


def test_hs256_signed_with_the_public_key_is_refused(verifier, keys):
    public_pem = keys["k1"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # PyJWT refuses to HMAC-sign with a PEM key, which is the attack; build it by hand.
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    signing_input = (
        b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps(_claims()).encode())
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    _expect_401(verifier, signing_input + "." + b64(signature))


def test_unknown_kid_is_refused(verifier, keys):
    _expect_401(verifier, _sign(keys["k1"], kid="nope"))


def test_token_signed_by_another_key_under_a_known_kid_is_refused(verifier, keys):
    _expect_401(verifier, _sign(keys["k2"], kid="k1"))


def test_expired_token_is_refused(verifier, keys):
    past = int(time.time()) - 3600
    problem = _expect_401(verifier, _sign(keys["k1"], iat=past - 600, exp=past))
    assert "expired" in problem.detail


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "roles"])
def test_missing_claims_are_refused(verifier, keys, missing):
    _expect_401(verifier, _sign(keys["k1"], **{missing: None}))


def test_unknown_role_is_refused(verifier, keys):
    _expect_401(verifier, _sign(keys["k1"], roles=["buyer", "root"]))


def test_key_rotation(jwks_path, keys):
    verifier = TokenVerifier(KeySet(jwks_path, reload_interval=0))
    old_token = _sign(keys["k1"], kid="k1")
    new_token = _sign(keys["k2"], kid="k2")
    _expect_401(verifier, new_token)

    # Publish the new key beside the old one: both work.
    jwks_path.write_text(json.dumps({"keys": [_jwk(keys["k1"], "k1"), _jwk(keys["k2"], "k2")]}))
    _bump_mtime(jwks_path)
    assert verifier.verify(old_token).account_id == "acc-1"
    assert verifier.verify(new_token).account_id == "acc-1"

    # Remove the old key: its tokens stop working.
    jwks_path.write_text(json.dumps({"keys": [_jwk(keys["k2"], "k2")]}))
    _bump_mtime(jwks_path)
    _expect_401(verifier, old_token)
    assert verifier.verify(new_token).account_id == "acc-1"


def _bump_mtime(path):
    import os

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
