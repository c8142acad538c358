"""The generated nginx configuration: syntax (`nginx -t`) and behaviour.

Behaviour is checked against a real nginx started from the local target with stand-in
upstreams (tiny HTTP servers in this process that echo what they received), so these tests
need nginx but not the services or Postgres.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from devstack import free_port
from devstack.gateway import find_nginx, prepare_gateway
from gateway.build import (
    COMPOSE_OUT,
    build_config,
    compose_settings,
    k8s_settings,
    local_settings,
    write_config,
)
from gateway.routes import ROUTES

NGINX = find_nginx()
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


def nginx_test(conf: Path, prefix: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NGINX, "-t", "-e", "stderr", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
    )


# ----------------------------------------------------------------------------- syntax


def test_local_config_passes_nginx_t(tmp_path):
    settings = local_settings(tmp_path / "run", listen=f"127.0.0.1:{free_port()}")
    conf = write_config(settings, tmp_path / "run" / "nginx.conf")
    result = nginx_test(conf, tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "daemon off;" in conf.read_text()


def test_local_config_without_sandbox_passes_nginx_t(tmp_path):
    settings = local_settings(tmp_path / "run", with_sandbox=False)
    conf = write_config(settings, tmp_path / "run" / "nginx.conf")
    assert nginx_test(conf, tmp_path / "run").returncode == 0
    text = conf.read_text()
    assert "/sandbox/" not in text and "etalase_sandbox" not in text


def test_compose_config_passes_nginx_t(tmp_path):
    # nginx resolves upstream host names when loading, and the compose names only exist
    # inside compose: substitute 127.0.0.1. Temp paths go to tmp so no root is needed.
    settings = replace(compose_settings(upstream_host_override="127.0.0.1"), temp_dir=str(tmp_path))
    conf = write_config(settings, tmp_path / "nginx.conf")
    result = nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("with_sandbox", [False, True], ids=["k8s-base", "k8s-local"])
def test_k8s_config_passes_nginx_t(tmp_path, with_sandbox):
    # The ConfigMaps of deploy/k8s, with the Service names replaced as for compose.
    settings = k8s_settings(with_sandbox=with_sandbox, runtime_dir=str(tmp_path))
    settings = replace(settings, upstreams={n: f"127.0.0.1:{a.rsplit(':', 1)[1]}"
                                            for n, a in settings.upstreams.items()})
    conf = tmp_path / "nginx.conf"
    conf.write_text(build_config(settings))
    result = nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr


def test_committed_compose_config_is_up_to_date():
    committed = COMPOSE_OUT.read_text()
    assert committed == build_config(compose_settings()), (
        "gateway/generated/nginx.compose.conf is stale: run `make gateway-config`"
    )
    assert "do not edit" in committed.splitlines()[0]
    for host in ("storefront:8000", "transaction:8000", "sandbox:8000"):
        assert f"server {host};" in committed
    assert "listen 8080;" in committed
    # The official image runs `nginx -g 'daemon off;'`: a daemon directive would clash.
    assert "daemon" not in committed
    assert "127.0.0.1" not in committed


# ----------------------------------------------------------------------------- behaviour


class StubUpstream:
    """An HTTP server that answers every request with a JSON echo of it."""

    def __init__(self, name: str):
        self.name = name
        self.port = free_port()
        self.ready_status = 200
        self.delay = 0.0
        self.seen: list[dict] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = {
                    "service": stub.name,
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body_length": len(body),
                }
                stub.seen.append(record)
                status = 200
                if self.path.startswith("/readyz"):
                    status = stub.ready_status
                if stub.delay:
                    time.sleep(stub.delay)
                payload = json.dumps(record).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                # the real services echo the id too; the gateway must not duplicate it
                self.send_header("X-Request-ID", "from-upstream")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class RunningGateway:
    def __init__(self, url: str, stubs: dict[str, StubUpstream], log_dir: Path):
        self.url = url
        self.stubs = stubs
        self.log_dir = log_dir

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.url + path, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    base = tmp_path_factory.mktemp("gateway")
    stubs = {name: StubUpstream(name) for name in ("storefront", "transaction", "sandbox")}
    for stub in stubs.values():
        stub.start()
    port = free_port()
    launch = prepare_gateway(
        NGINX,
        base / "run",
        base / "logs",
        listen_port=port,
        upstream_ports={name: stub.port for name, stub in stubs.items()},
        # short read timeout for the 504 test; a tiny login allowance for the 429 test
        proxy_read_timeout="1s",
        auth_rate="1r/m",
        auth_burst=2,
    )
    log = open(base / "nginx.out", "wb")
    proc = subprocess.Popen(launch.argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("nginx did not start:\n" + (base / "nginx.out").read_text())
        time.sleep(0.1)
    yield RunningGateway(url, stubs, base / "logs")
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    for stub in stubs.values():
        stub.stop()
    shutil.rmtree(launch.temp_dir, ignore_errors=True)


def assert_problem(resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("https://")
    assert body["request_id"] == resp.headers["X-Request-ID"]
    return body


def sample_path(prefix: str) -> str:
    return prefix + "x" if prefix.endswith("/") else prefix


def test_healthz_is_answered_by_nginx(gw):
    resp = gw.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert resp.headers["X-Request-ID"]
    assert "nginx/" not in resp.headers.get("Server", "")  # server_tokens off


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.prefix)
def test_each_route_reaches_its_upstream_with_the_path(gw, route):
    method = route.methods[0]
    path = sample_path(route.prefix)
    # A client's guess at the service credential must never reach any upstream.
    resp = gw.request(method, path + "?a=1", json={} if method != "GET" else None,
                      headers={"X-Internal-Token": "guess"})
    assert resp.status_code == 200, resp.text
    echo = resp.json()
    assert echo["service"] == route.upstream
    assert echo["method"] == method
    expected = path[len(route.prefix) - 1 :] if route.strip_prefix else path
    assert echo["path"] == expected + "?a=1"
    assert "x-internal-token" not in echo["headers"]


def test_collection_prefix_does_not_catch_longer_names(gw):
    assert_problem(gw.get("/api/v1/shopsXYZ"), 404)
    assert gw.get("/api/v1/shops/123/products").json()["service"] == "storefront"


def test_sandbox_prefix_is_stripped(gw):
    resp = gw.request("POST", "/sandbox/v2/order-1/pay")
    assert resp.json()["path"] == "/v2/order-1/pay"


def test_request_id_generated_passed_upstream_and_returned_once(gw):
    resp = gw.get("/api/v1/feed")
    rid = resp.headers["X-Request-ID"]
    assert rid and rid != "from-upstream"
    assert resp.headers["X-Request-ID"].count(",") == 0  # exactly one header value
    assert resp.json()["headers"]["x-request-id"] == rid


def test_request_id_from_caller_is_kept_when_well_formed(gw):
    resp = gw.get("/api/v1/feed", headers={"X-Request-ID": "client-abc.123"})
    assert resp.headers["X-Request-ID"] == "client-abc.123"
    assert resp.json()["headers"]["x-request-id"] == "client-abc.123"


def test_malformed_request_id_is_replaced(gw):
    resp = gw.get("/api/v1/feed", headers={"X-Request-ID": 'evil"id with spaces'})
    rid = resp.headers["X-Request-ID"]
    assert rid != 'evil"id with spaces' and rid
    assert resp.json()["headers"]["x-request-id"] == rid


@pytest.mark.parametrize(
    "path",
    [
        "/internal",
        "/internal/reservations",
        "/internal/jwks.json",
        "/api/v1/shops/../../../internal/reservations",
        "/api/v1/shops/%2e%2e/%2e%2e/%2e%2e/internal/reservations",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_internal_paths_are_never_routed(gw, path, method):
    before = sum(len(s.seen) for s in gw.stubs.values())
    # http.client sends the path as written (requests would normalise the dots away).
    conn = http.client.HTTPConnection(gw.url.removeprefix("http://"), timeout=10)
    conn.request(method, path, body=b"{}" if method == "POST" else None)
    raw = conn.getresponse()
    body = json.loads(raw.read())
    conn.close()
    assert raw.status == 404
    assert raw.getheader("Content-Type").startswith("application/problem+json")
    assert body["status"] == 404 and body["request_id"] == raw.getheader("X-Request-ID")
    assert sum(len(s.seen) for s in gw.stubs.values()) == before


def test_unknown_api_path_is_a_json_404(gw):
    body = assert_problem(gw.get("/api/v1/nope"), 404)
    assert body["title"] == "Not Found"
    assert_problem(gw.request("DELETE", "/api/v2/orders"), 404)


def test_wrong_method_is_a_json_405_with_allow(gw):
    resp = gw.get("/api/v1/checkout")
    body = assert_problem(resp, 405)
    assert resp.headers["Allow"] == "POST"
    assert "POST" in body["detail"]
    resp = gw.request("DELETE", "/api/v1/orders/1")
    assert_problem(resp, 405)
    assert resp.headers["Allow"] == "GET, HEAD, POST"
    # HEAD comes with GET
    assert gw.request("HEAD", "/api/v1/products").status_code == 200


def test_body_over_1m_is_a_json_413(gw):
    resp = gw.request(
        "POST",
        "/api/v1/checkout",
        data=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(resp, 413)


def test_body_under_1m_is_buffered_and_passed(gw):
    # larger than nginx's in-memory body buffer: exercises the (unprivileged) temp dir
    resp = gw.request("POST", "/api/v1/checkout", data=b"x" * (900 * 1024))
    assert resp.status_code == 200, resp.text
    assert resp.json()["body_length"] == 900 * 1024


def test_static_page_is_served(gw):
    resp = gw.get("/")
    assert resp.status_code == 200
    assert "text/html" in resp.headers["Content-Type"]
    assert "Etalase" in resp.text
    assert_problem(gw.get("/no-such-file.js"), 404)
    assert_problem(gw.request("POST", "/"), 405)


def test_readyz_requires_both_services(gw):
    sf, tx = gw.stubs["storefront"], gw.stubs["transaction"]
    try:
        assert gw.get("/readyz").status_code == 200
        sf.ready_status = 503
        resp = gw.get("/readyz")
        body = assert_problem(resp, 503)
        assert "storefront" in body["detail"] and resp.headers["Retry-After"]
        sf.ready_status = 200
        tx.ready_status = 503
        body = assert_problem(gw.get("/readyz"), 503)
        assert "transaction" in body["detail"]
    finally:
        sf.ready_status = tx.ready_status = 200
    assert gw.get("/readyz").status_code == 200


def test_upstream_down_is_a_json_502(gw):
    stub = gw.stubs["sandbox"]
    stub.stop()
    try:
        assert_problem(gw.request("POST", "/sandbox/v2/x/pay"), 502)
    finally:
        stub.start()  # same port again (SO_REUSEADDR)
    assert gw.request("POST", "/sandbox/v2/x/pay").status_code == 200


def test_slow_upstream_is_a_json_504(gw):
    stub = gw.stubs["transaction"]
    stub.delay = 2.5  # read timeout is 1s in this fixture
    try:
        assert_problem(gw.get("/api/v1/orders"), 504)
    finally:
        stub.delay = 0


def test_login_is_rate_limited_per_client(gw):
    # From 127.0.0.2 so other tests' logins (from 127.0.0.1) do not share the allowance.
    statuses = []
    for _ in range(6):
        conn = http.client.HTTPConnection(
            gw.url.removeprefix("http://"), timeout=10, source_address=("127.0.0.2", 0)
        )
        conn.request("POST", "/api/v1/auth/login", body=b"{}")
        resp = conn.getresponse()
        resp.read()
        statuses.append(resp.status)
        if resp.status == 429:
            assert resp.getheader("Retry-After") == "1"
        conn.close()
    assert statuses[:3] == [200, 200, 200]  # rate 1r/m with burst 2
    assert 429 in statuses
    # reads under /api/v1/auth/ (GET /me) are not counted against the login allowance
    conn = http.client.HTTPConnection(
        gw.url.removeprefix("http://"), timeout=10, source_address=("127.0.0.2", 0)
    )
    conn.request("GET", "/api/v1/auth/me")
    assert conn.getresponse().status == 200
    conn.close()


def test_access_log_is_json_with_request_id(gw):
    rid = "access-log-check-1"
    gw.get("/api/v1/feed", headers={"X-Request-ID": rid})
    log = gw.log_dir / "gateway.access.log"
    deadline = time.monotonic() + 5
    entry = None
    while time.monotonic() < deadline and entry is None:
        for line in log.read_text().splitlines():
            record = json.loads(line)
            if record["request_id"] == rid:
                entry = record
        time.sleep(0.1)
    assert entry is not None
    assert entry["method"] == "GET" and entry["uri"] == "/api/v1/feed"
    assert entry["status"] == 200
    assert entry["upstream"].startswith("127.0.0.1:")
    assert {"request_time", "upstream_response_time"} <= entry.keys()


# ----------------------------------------------------------------------------- real stack


def test_real_stack_is_ready_behind_the_gateway(stack, gateway_url):
    """devstack smoke test: everything started, and the gateway fronts both services."""
    assert requests.get(gateway_url + "/healthz", timeout=5).status_code == 200
    resp = requests.get(gateway_url + "/readyz", timeout=10)
    assert resp.status_code == 200, resp.text
    resp = requests.get(
        gateway_url + "/api/v1/feed", headers={"X-Request-ID": "smoke-1"}, timeout=10
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Request-ID"] == "smoke-1"
    assert_problem(requests.get(gateway_url + "/internal/jwks.json", timeout=5), 404)
    assert all(stack.running().values()), stack.running()


def test_real_stack_database_roles_are_separated(stack):
    import psycopg2

    for own, other in (
        ("storefront", "etalase_transaction"),
        ("transaction", "etalase_storefront"),
    ):
        psycopg2.connect(stack.dsn(own)).close()
        own_db = stack.dsn(own).rsplit("/", 1)[1]
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(stack.dsn(own).replace(own_db, other)).close()
    with psycopg2.connect(stack.dsn("superuser", "etalase_transaction")) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == ("postgres",)
