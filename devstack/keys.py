"""Local secrets and the JWT signing key pair, created once and reused.

`<data>/secrets.json` holds the database role passwords, the storefront's internal token
and the sandbox server key; `<data>/keys/` holds `jwt-<kid>.pem` (private, RS256) and
`jwks.json` (the public JWKS the services verify tokens with).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path

SECRET_NAMES = (
    "storefront_db_password",
    "transaction_db_password",
    "internal_token",
    "sandbox_server_key",
    # 32 random bytes, URL-safe base64: a Fernet key for webhook secrets at rest.
    "webhook_encryption_key",
)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (created with that mode, no race)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def ensure_secrets(data_dir: Path) -> dict[str, str]:
    """Load `<data>/secrets.json`, adding any missing secret (never rotating existing ones)."""
    path = Path(data_dir) / "secrets.json"
    current: dict[str, str] = {}
    if path.exists():
        current = json.loads(path.read_text())
    missing = [name for name in SECRET_NAMES if not current.get(name)]
    if missing:
        for name in missing:
            current[name] = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, (json.dumps(current, indent=2, sort_keys=True) + "\n").encode())
    return current


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638 thumbprint of an RSA JWK: a stable, content-derived key id."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def ensure_jwt_keys(keys_dir: Path, kid: str | None = None) -> tuple[str, Path, Path]:
    """Return (kid, private key path, JWKS path), generating an RSA 2048 pair on first use.

    An existing pair is reused (tokens issued before a restart stay valid). `kid` defaults
    to the key's thumbprint; compose passes a fixed one so the service env can name it.
    """
    keys_dir = Path(keys_dir)
    jwks_path = keys_dir / "jwks.json"
    if jwks_path.exists():
        keys = json.loads(jwks_path.read_text()).get("keys", [])
        for key in keys:
            private = keys_dir / f"jwt-{key.get('kid')}.pem"
            if private.exists() and (kid is None or key.get("kid") == kid):
                return key["kid"], private, jwks_path

    # Imported here so `python -m devstack --help` works before dependencies are installed.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    kid = kid or jwk_thumbprint(jwk)
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    keys_dir.mkdir(parents=True, exist_ok=True)
    private_path = keys_dir / f"jwt-{kid}.pem"
    _write_private(private_path, pem)
    tmp = jwks_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    os.replace(tmp, jwks_path)
    return kid, private_path, jwks_path


# ----------------------------------------------------------------- transparency-log keys
# Ed25519 keys of the marketplace's audit log and of the showcase's witness (DESIGN.md §9):
# `<stem>.pem` (private) and `<stem>.vkeys` (C2SP verifier keys, the current one first,
# retired ones after it so old checkpoints still verify). The names must match the
# services' AUDIT_LOG_ORIGIN and WITNESS_NAME (their defaults are these).

AUDIT_LOG_ORIGIN = "etalase.test/marketplace/audit"
WITNESS_NAME = "etalase.test/showcase/witness"
AUDIT_LOG_STEM = "audit-log"
WITNESS_STEM = "witness"


def _verifier_line(name: str, pem: bytes, cosigner: bool) -> str:
    from servicekit.tlog import Signer

    return Signer.from_pem(name, pem, cosigner=cosigner).verifier.vkey


def _write_vkeys(path: Path, current: str) -> None:
    lines = [current]
    if path.exists():
        lines += [line for line in path.read_text().splitlines()
                  if line.strip() and line != current]
    tmp = path.with_suffix(".vkeys.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def ensure_note_key(keys_dir: Path, stem: str, name: str, *, cosigner: bool,
                    rotate: bool = False) -> tuple[Path, Path]:
    """Return (private key path, vkeys path), generating the key on first use; `rotate`
    replaces the key, keeping the old verifier key as retired in the vkeys file."""
    from servicekit.tlog import generate_private_pem

    keys_dir = Path(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    private = keys_dir / f"{stem}.pem"
    vkeys = keys_dir / f"{stem}.vkeys"
    if rotate or not private.exists():
        _write_private(private, generate_private_pem())
    _write_vkeys(vkeys, _verifier_line(name, private.read_bytes(), cosigner))
    return private, vkeys


def ensure_audit_keys(log_dir: Path, witness_dir: Path | None = None, *,
                      rotate: tuple[str, ...] = ()) -> dict[str, Path]:
    """The log's and the witness's keys (each directory mounted only where it is needed);
    `rotate` names the ones to replace ("audit-log", "witness")."""
    log_key, log_vkeys = ensure_note_key(log_dir, AUDIT_LOG_STEM, AUDIT_LOG_ORIGIN,
                                         cosigner=False, rotate="audit-log" in rotate)
    witness_key, witness_vkeys = ensure_note_key(witness_dir or log_dir, WITNESS_STEM,
                                                 WITNESS_NAME, cosigner=True,
                                                 rotate="witness" in rotate)
    return {"log_key": log_key, "log_vkeys": log_vkeys, "witness_key": witness_key,
            "witness_vkeys": witness_vkeys}
