"""Fixtures for the storefront's integration tests: a real Postgres and a real server.

Two ways to get a target:
- the shared session `stack` fixture (tests/conftest.py, from devstack/) when it exists:
  public calls go through the gateway, internal calls straight to the storefront;
- otherwise, or with STOREFRONT_TEST_TARGET=local, a scratch database
  (env STOREFRONT_TEST_DATABASE_URL) that is wiped and migrated, and the storefront under
  a real multi-worker, multi-threaded
  gunicorn on a free port, with a throwaway RSA key and JWKS.

Tests only talk to `storefront.api` / `storefront.internal` (HttpClient: base URL +
requests) and `storefront.sql` for checks in the storefront's own database, so switching
targets is a fixture change, not a test change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import psycopg2
import psycopg2.extras
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRATCH_DSN = "postgresql://storefront:sf@127.0.0.1:55999/etalase_storefront"


class HttpClient:
    """A base URL plus requests; one session per thread (sessions are not thread-safe)."""

    def __init__(self, base_url: str, headers: dict | None = None):
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def request(self, method: str, path: str, *, token: str | None = None,
                headers: dict | None = None, **kwargs) -> requests.Response:
        merged = dict(self.headers)
        if token:
            merged["Authorization"] = f"Bearer {token}"
        merged.update(headers or {})
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.base_url + path, headers=merged, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@dataclass
class StorefrontTarget:
    api: HttpClient  # public API (the gateway in a full stack)
    internal: HttpClient  # the storefront itself, carrying X-Internal-Token
    database_url: str
    internal_token: str
    env: dict = field(default_factory=dict)  # environment for CLI commands
    private_key_pem: bytes | None = None  # the key the storefront signs with
    kid: str | None = None

    def sql(self, query: str, params=None) -> list[dict]:
        """Run one statement in the storefront database (autocommit) and return rows."""
        conn = psycopg2.connect(self.database_url)
        try:
            conn.autocommit = True
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "storefront_service", *args],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )


def make_rsa_key(kid: str) -> tuple[bytes, dict]:
    """A throwaway RSA key: (private PEM, JWKS document with the public part)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return pem, {"keys": [jwk]}


def _from_stack(stack) -> StorefrontTarget:
    """The shared devstack: public calls through the gateway, internal ones direct."""
    env = stack.env("storefront")
    for web_only in ("BIND", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(web_only, None)
    token = stack.secrets["internal_token"]
    return StorefrontTarget(
        api=HttpClient(stack.urls.gateway),
        internal=HttpClient(stack.urls.storefront, {"X-Internal-Token": token}),
        database_url=stack.dsn("storefront"),
        internal_token=token,
        env=env,
        private_key_pem=stack.jwt_private_key_path.read_bytes(),
        kid=stack.jwt_kid,
    )


def _reset_scratch_database(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP SCHEMA IF EXISTS public CASCADE")
            cur.execute("CREATE SCHEMA public")
    finally:
        conn.close()


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log_path.read_text()[-4000:]}")
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"storefront not ready:\n{log_path.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def storefront(request, tmp_path_factory) -> StorefrontTarget:
    stack = None
    if os.environ.get("STOREFRONT_TEST_TARGET", "stack") != "local":
        try:
            stack = request.getfixturevalue("stack")
        except pytest.FixtureLookupError:
            stack = None
    if stack is not None:
        yield _from_stack(stack)
        return

    dsn = os.environ.get("STOREFRONT_TEST_DATABASE_URL", SCRATCH_DSN)
    _reset_scratch_database(dsn)
    workdir = tmp_path_factory.mktemp("storefront")
    kid = f"test-{uuid.uuid4().hex[:8]}"
    pem, jwks = make_rsa_key(kid)
    (workdir / "signing.pem").write_bytes(pem)
    (workdir / "jwks.json").write_text(json.dumps(jwks))
    port = free_port()
    token = uuid.uuid4().hex
    env = dict(os.environ)
    env.update(
        DATABASE_URL=dsn,
        JWKS_FILE=str(workdir / "jwks.json"),
        JWT_PRIVATE_KEY_FILE=str(workdir / "signing.pem"),
        JWT_KID=kid,
        INTERNAL_TOKEN=token,
        BIND=f"127.0.0.1:{port}",
        # Real parallelism for the concurrency tests: 4 processes x 8 threads; each
        # process's pool must be at least as large as its thread count.
        WEB_CONCURRENCY="4",
        WEB_THREADS="8",
        DB_POOL_MAX="10",
        LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics"),
    )
    # CLI commands are not gunicorn workers: no BIND, no multiprocess metrics directory.
    cli_env = {k: v for k, v in env.items()
               if k not in ("BIND", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR")}
    migrate = subprocess.run(
        [sys.executable, "-m", "storefront_service", "migrate"],
        cwd=REPO_ROOT, env=cli_env, capture_output=True, text=True, timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    log_path = workdir / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "storefront_service/gunicorn_conf.py",
             "storefront_service.wsgi:app"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, process, log_path)
        yield StorefrontTarget(
            api=HttpClient(base_url),
            internal=HttpClient(base_url, {"X-Internal-Token": token}),
            database_url=dsn,
            internal_token=token,
            env=cli_env,
            private_key_pem=pem,
            kid=kid,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


# ----------------------------------------------------------------------------- actors


@dataclass
class Actor:
    id: str
    email: str
    role: str
    token: str
    shop_id: str | None = None


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@test.etalase.dev"


def login(storefront: StorefrontTarget, email: str, password: str) -> str:
    response = storefront.api.post("/api/v1/auth/login",
                                   json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def make_actor(storefront):
    """Register and log in a fresh account; sellers get a shop unless shop=False."""

    def make(role: str, *, shop: bool = True) -> Actor:
        email, password = unique_email(role), "correct-horse-battery"
        response = storefront.api.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "name": f"Test {role}", "role": role},
        )
        assert response.status_code == 201, response.text
        actor = Actor(response.json()["id"], email, role, "")
        if role == "seller" and shop:
            created = storefront.api.post(
                "/api/v1/shops",
                token=login(storefront, email, password),
                json={"name": f"Toko {uuid.uuid4().hex[:8]}", "city": "Bandung"},
            )
            assert created.status_code == 201, created.text
            actor.shop_id = created.json()["id"]
        actor.token = login(storefront, email, password)
        return actor

    return make


@pytest.fixture
def make_product(storefront):
    def make(seller: Actor, **overrides) -> dict:
        body = {
            "title": f"Produk uji {uuid.uuid4().hex[:8]}",
            "description": "Barang untuk pengujian",
            "price": 150000,
            "stock": 10,
        }
        body.update(overrides)
        response = storefront.api.post("/api/v1/products", token=seller.token, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    return make
