"""JWT signing key rotation without a restart of the verifiers (docs/security.md):

1. publish the new public key next to the old one (the services reload the JWKS file when
   it changes, within their 5 s reload interval);
2. switch the storefront to sign with the new key (its env names the key; a restart);
3. after the longest token lifetime, remove the old key: its tokens are refused.

Runs on the `hardened` stack (its own JWKS), never on the shared session stack. Also the
KeySet reload rules it relies on, without a stack.
"""

from __future__ import annotations

import json
import os
import time

import jwt
import pytest
from security_client import Client, SigningKey, assert_problem, claims_of, write_jwks

from servicekit.auth import KeySet, TokenVerifier

CHECKS = (("storefront", "/api/v1/auth/me"), ("transaction", "/api/v1/orders?role=buyer"))


def _statuses(client: Client, token: str) -> set[int]:
    return {client.get(path, token=token, service=service).status_code
            for service, path in CHECKS}


def _wait(client: Client, token: str, status: int, timeout: float = 15.0) -> None:
    """Both services answer `status` for `token`, several times in a row (every worker
    has reloaded)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 3:
        streak = streak + 1 if _statuses(client, token) == {status} else 0
        if streak:
            continue
        assert time.monotonic() < deadline, f"services never answered {status}"
        time.sleep(0.25)


def test_signing_key_rotation(hardened_stack):
    stack = hardened_stack
    client = Client(stack, auth_via="storefront")
    original_jwks = stack.jwks_path.read_text()
    old_jwk = json.loads(original_jwks)["keys"][0]
    old_token = client.login("buyer@etalase.test")
    assert jwt.get_unverified_header(old_token)["kid"] == stack.jwt_kid
    assert _statuses(client, old_token) == {200}

    new = SigningKey.generate(kid="rotated-2")
    new_pem_path = stack.keys_dir / f"jwt-{new.kid}.pem"
    fd = os.open(new_pem_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(new.private_pem)
    claims = claims_of(old_token)
    now = int(time.time())
    try:
        # 1. not yet published: a token signed with the new key is refused everywhere
        early = new.sign({**claims, "iat": now, "exp": now + 600})
        assert _statuses(client, early) == {401}

        # 1. published next to the old key: both keys are accepted
        write_jwks(stack.jwks_path, [old_jwk, new.public_jwk])
        _wait(client, early, 200)
        assert _statuses(client, old_token) == {200}
        # the storefront publishes what the verifiers use
        published = client.get("/internal/jwks.json", service="storefront").json()
        assert {k["kid"] for k in published["keys"]} == {stack.jwt_kid, new.kid}

        # 2. the issuer switches to the new key
        stack.env_overrides.setdefault("storefront", {}).update(
            {"JWT_PRIVATE_KEY_FILE": str(new_pem_path), "JWT_KID": new.kid})
        stack.restart_process("storefront")
        new_token = client.login("buyer@etalase.test")
        assert jwt.get_unverified_header(new_token)["kid"] == new.kid
        assert _statuses(client, new_token) == {200}
        assert _statuses(client, old_token) == {200}  # still published: still valid

        # 3. the old key is withdrawn: its tokens are refused by both services
        write_jwks(stack.jwks_path, [new.public_jwk])
        _wait(client, old_token, 401)
        for service, path in CHECKS:
            body = assert_problem(client.get(path, token=old_token, service=service), 401)
            assert "unknown key" in body["detail"]
        assert _statuses(client, new_token) == {200}
        # ... and a forged token claiming the old kid is no better
        forged = SigningKey.generate(kid=stack.jwt_kid).sign({**claims, "exp": now + 600})
        assert _statuses(client, forged) == {401}
    finally:
        # Leave the stack as it was (other tests share it): both keys published, signing
        # with the new one (tokens cached by other tests stay valid).
        write_jwks(stack.jwks_path, [old_jwk, new.public_jwk])


# ----------------------------------------------------------------------------- KeySet


def _token(key: SigningKey) -> str:
    now = int(time.time())
    return key.sign({"sub": "u1", "roles": ["buyer"], "iat": now, "exp": now + 60})


def test_keyset_sees_a_rewrite_with_the_same_mtime(tmp_path):
    """Rewrites faster than the filesystem's timestamp granularity are still noticed."""
    path = tmp_path / "jwks.json"
    first, second = SigningKey.generate("k1"), SigningKey.generate("k2")
    write_jwks(path, [first.public_jwk])
    mtime = path.stat().st_mtime_ns
    verifier = TokenVerifier(KeySet(path, reload_interval=0))
    assert verifier.verify(_token(first)).account_id == "u1"
    write_jwks(path, [second.public_jwk])
    os.utime(path, ns=(mtime, mtime))  # same mtime as before (coarse timestamps)
    assert verifier.verify(_token(second)).account_id == "u1"
    with pytest.raises(Exception) as refused:
        verifier.verify(_token(first))
    assert getattr(refused.value, "status", None) == 401


def test_keyset_keeps_its_keys_when_the_file_is_broken(tmp_path):
    """A half-written JWKS neither fails every request (500) nor accepts anything new."""
    path = tmp_path / "jwks.json"
    key = SigningKey.generate("k1")
    write_jwks(path, [key.public_jwk])
    verifier = TokenVerifier(KeySet(path, reload_interval=0))
    assert verifier.verify(_token(key)).account_id == "u1"
    path.write_text('{"keys": [{"kty": "RSA", "kid": "k1", "n": ')  # truncated
    assert verifier.verify(_token(key)).account_id == "u1"
    path.write_text('{"keys": [{"kty": "RSA", "kid": "k1", "n": "!!", "e": "AQAB"}]}')
    assert verifier.verify(_token(key)).account_id == "u1"
    # repaired (with another key): picked up again
    other = SigningKey.generate("k2")
    write_jwks(path, [other.public_jwk])
    assert verifier.verify(_token(other)).account_id == "u1"
    path.unlink()  # withdrawn entirely: nothing is accepted (fail closed)
    with pytest.raises(Exception) as refused:
        verifier.verify(_token(other))
    assert getattr(refused.value, "status", None) == 401
