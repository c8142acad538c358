"""Fixtures for the storefront's integration tests: a real Postgres and a real server.

Two ways to get a target:
- the shared session `stack` fixture (tests/conftest.py, from devstack/) when it exists:
  public calls go through the gateway, internal calls straight to the storefront;
- otherwise, or with STOREFRONT_TEST_TARGET=local, a scratch database
  (env STOREFRONT_TEST_DATABASE_URL) that is wiped and migrated, and the storefront under
  a real multi-worker, multi-threaded
  gunicorn on a free port, with a throwaway RSA key and JWKS.

Tests only talk to `storefront.api` / `storefront.internal` (the suites' ApiClient,
tests/api_client.py) and `storefront.sql` for checks in the storefront's own database, so
switching targets is a fixture change, not a test change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.extras
import pytest
import requests
from api_client import ApiClient
from storefront_support import make_rsa_key, unique_email

from devstack import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRATCH_DSN = "postgresql://storefront:sf@127.0.0.1:55999/etalase_storefront"


@dataclass
class StorefrontTarget:
    api: ApiClient  # public API (the gateway in a full stack)
    internal: ApiClient  # the storefront itself, carrying X-Internal-Token
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


def _from_stack(stack) -> StorefrontTarget:
    """The shared devstack: public calls through the gateway, internal ones direct."""
    env = stack.env("storefront")
    for web_only in ("BIND", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(web_only, None)
    token = stack.secrets["internal_token"]
    return StorefrontTarget(
        api=ApiClient(stack.urls.gateway),
        internal=ApiClient(stack.urls.storefront, {"X-Internal-Token": token}),
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
            api=ApiClient(base_url),
            internal=ApiClient(base_url, {"X-Internal-Token": token}),
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
                token=storefront.api.login(email, password),
                json={"name": f"Toko {uuid.uuid4().hex[:8]}", "city": "Bandung"},
            )
            assert created.status_code == 201, created.text
            actor.shop_id = created.json()["id"]
        actor.token = storefront.api.login(email, password)
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
