"""The gateway's own defences, on real stacks: problem+json for every error it makes,
security headers, the CORS allow-list, rate limits (per address, per bearer token, login),
and the optional TLS termination (config built with a throwaway self-signed certificate).
"""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import time
import urllib.request
from dataclasses import replace

import pytest
import requests
from security_client import ALLOWED_ORIGIN, assert_problem, assert_unchanged, raw_request

from devstack import free_port
from devstack.gateway import find_nginx, prepare_gateway
from gateway.build import (
    CONTENT_SECURITY_POLICY,
    compose_settings,
    parse_origins,
    write_config,
)

NGINX = find_nginx()
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _has_security_headers(resp) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.url, dict(resp.headers))
    assert "Strict-Transport-Security" not in resp.headers  # plain HTTP: no HSTS
    assert resp.headers.get("Server", "nginx") == "nginx"  # server_tokens off: no version
    assert resp.headers.get("X-Request-ID")


def test_gateway_errors_are_problems_with_security_headers(client, buyer):
    counts = client.counts()
    cases = [
        (client.get("/api/v1/nope"), 404),
        (client.get("/internal/jwks.json"), 404),
        (client.get("/no-such-page.html"), 404),
        (client.request("DELETE", "/api/v1/checkout", token=buyer), 405),
        (client.request("PUT", "/api/v1/orders", token=buyer), 405),
        (client.request("TRACE", "/api/v1/products"), 405),
        (client.request("POST", "/"), 405),
        (client.post("/api/v1/products", token=buyer, data=b"x" * (1024 * 1024 + 1),
                     headers={"Content-Type": "application/json"}), 413),
    ]
    for resp, status in cases:
        body = assert_problem(resp, status)
        assert body["request_id"] == resp.headers["X-Request-ID"]
        _has_security_headers(resp)
        if status == 405 and resp.request.method != "TRACE":  # nginx refuses TRACE itself
            assert resp.headers["Allow"] and resp.headers["Allow"] in body["detail"]
    assert_unchanged(counts, client.counts())


def test_service_responses_carry_the_security_headers(client, buyer):
    for resp in (client.get("/api/v1/products"), client.get("/api/v1/cart", token=buyer),
                 client.get("/api/v1/orders", token=buyer), client.get("/api/v1/cart"),
                 client.get("/healthz"), client.get("/readyz")):
        _has_security_headers(resp)
        assert "Content-Security-Policy" not in resp.headers or resp.url.endswith("/")


def test_web_page_has_the_content_security_policy(client):
    for path in ("/", "/index.html", "/app.css"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        _has_security_headers(resp)
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "script-src 'self'",
                      "base-uri 'self'", "form-action 'self'", "img-src 'self' data:"):
        assert directive in CONTENT_SECURITY_POLICY


def test_no_cors_without_an_allow_list(client):
    """The session stack configures no origins: no browser origin gets CORS headers and a
    preflight is just a disallowed method."""
    for origin in ("https://evil.example", "null", "http://127.0.0.1"):
        resp = client.get("/api/v1/products", headers={"Origin": origin})
        assert resp.status_code == 200
        assert "Access-Control-Allow-Origin" not in resp.headers
        resp = client.request("OPTIONS", "/api/v1/products", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET"})
        assert_problem(resp, 405)
        assert "Access-Control-Allow-Origin" not in resp.headers


# ----------------------------------------------------------------------------- hardened


def test_cors_allow_list_is_honoured(hardened):
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    resp = hardened.request("OPTIONS", "/api/v1/checkout",
                            headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert resp.status_code == 204, resp.text
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert resp.headers["Access-Control-Allow-Methods"] == "POST"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    assert "Idempotency-Key" in resp.headers["Access-Control-Allow-Headers"]
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in resp.headers
    assert "Origin" in resp.headers.get("Vary", "")
    _has_security_headers(resp)

    # a disallowed origin (also look-alikes) gets nothing: no 204, no CORS headers
    for origin in ("https://evil.example", "https://shop.etalase.test.evil.example",
                   "http://shop.etalase.test", "https://shop.etalase.test:8443", "null",
                   "https://evil.example/https://shop.etalase.test"):
        resp = hardened.request("OPTIONS", "/api/v1/checkout",
                                headers={"Origin": origin, **preflight})
        assert_problem(resp, 405)
        assert "Access-Control-Allow-Origin" not in resp.headers, origin
        resp = hardened.get("/api/v1/products", headers={"Origin": origin})
        assert resp.status_code == 200
        assert "Access-Control-Allow-Origin" not in resp.headers, origin

    # actual requests from the allowed origin: the origin echoed (never "*"), ids exposed
    resp = hardened.get("/api/v1/products", headers={"Origin": ALLOWED_ORIGIN})
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "X-Request-ID" in resp.headers["Access-Control-Expose-Headers"]
    resp = hardened.get("/api/v1/nope", headers={"Origin": ALLOWED_ORIGIN})
    assert_problem(resp, 404)
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    # an OPTIONS without Access-Control-Request-Method is not a preflight
    resp = hardened.request("OPTIONS", "/api/v1/products", headers={"Origin": ALLOWED_ORIGIN})
    assert_problem(resp, 405)


def _burst(base_url: str, method: str, path: str, n: int, *, source: str,
           headers: dict | None = None, body: bytes | None = None) -> list[tuple[int, dict]]:
    out = []
    for _ in range(n):
        status, hdrs, raw = raw_request(base_url, method, path, body=body, source=source,
                                        headers=headers)
        out.append((status, hdrs))
        if status == 429:
            assert hdrs["content-type"].startswith("application/problem+json"), raw
            assert int(hdrs["retry-after"]) >= 1
            assert hdrs["x-content-type-options"] == "nosniff"
    return out


def test_rate_limit_per_client_address(hardened):
    """5 r/s with a burst of 15 per address: a quick burst of 40 trips it; another address
    is unaffected."""
    results = _burst(hardened.gateway, "GET", "/api/v1/feed", 40, source="127.0.0.21")
    statuses = [s for s, _ in results]
    assert statuses[0] == 200
    assert 429 in statuses, statuses
    status, _, _ = raw_request(hardened.gateway, "GET", "/api/v1/feed", source="127.0.0.22")
    assert status == 200


def test_rate_limit_per_bearer_token(hardened):
    """1 r/s with a burst of 4 per token, even when the token hops between addresses."""
    token = hardened.token("buyer@etalase.test")
    statuses = []
    for i in range(12):
        status, _, _ = raw_request(hardened.gateway, "GET", "/api/v1/cart",
                                   source=f"127.0.1.{10 + i}",
                                   headers={"Authorization": f"Bearer {token}"})
        statuses.append(status)
    assert statuses[0] == 200
    assert 429 in statuses, statuses
    # the same addresses without that token are not limited by it
    status, _, _ = raw_request(hardened.gateway, "GET", "/api/v1/feed", source="127.0.1.10")
    assert status == 200


def test_login_has_a_stricter_limit(hardened):
    """1 r/min with a burst of 3 for POSTs under /api/v1/auth/ per address; the wrong
    password is never even checked once the limit trips, and nothing is stored."""
    counts = hardened.counts()
    body = b'{"email": "buyer@etalase.test", "password": "wrong-password"}'
    results = _burst(hardened.gateway, "POST", "/api/v1/auth/login", 8, source="127.0.2.1",
                     headers={"Content-Type": "application/json"}, body=body)
    statuses = [s for s, _ in results]
    assert statuses[:4] == [401] * 4, statuses  # burst 3 + the first request
    assert set(statuses[4:]) == {429}, statuses
    # browsing from that address is still fine (the general limit is far higher)
    status, _, _ = raw_request(hardened.gateway, "GET", "/api/v1/products", source="127.0.2.1")
    assert status == 200
    assert_unchanged(counts, hardened.counts())


def test_access_log_is_json_with_route_and_upstream(hardened):
    rid = f"sec-log-{time.monotonic_ns()}"
    raw_request(hardened.gateway, "GET", "/api/v1/products?q=x", source="127.0.3.1",
                headers={"X-Request-ID": rid})
    raw_request(hardened.gateway, "GET", "/api/v1/nope", source="127.0.3.1",
                headers={"X-Request-ID": rid + "-404"})
    log = hardened.stack.log_path("gateway.access")
    deadline = time.monotonic() + 5
    entries: dict = {}
    while time.monotonic() < deadline and len(entries) < 2:
        for line in log.read_text().splitlines():
            record = json.loads(line)
            if record["request_id"] in (rid, rid + "-404"):
                entries[record["request_id"]] = record
        time.sleep(0.1)
    ok, missing = entries[rid], entries[rid + "-404"]
    assert ok["route"] == "/api/v1/products" and ok["upstream_name"] == "storefront"
    assert ok["status"] == 200 and ok["upstream"].startswith("127.0.0.1:")
    assert ok["upstream_response_time"] not in ("", "-")
    assert missing["status"] == 404 and missing["route"] == "-" and missing["upstream"] == ""


# ----------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    base = tmp_path_factory.mktemp("tls")
    (base / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (base / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (base / "key.pem").chmod(0o600)
    return base / "cert.pem", base / "key.pem"


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_compose_config_with_tls_passes_nginx_t(tmp_path, self_signed):
    cert, key = self_signed
    settings = replace(
        compose_settings(upstream_host_override="127.0.0.1", tls_cert=str(cert),
                         tls_key=str(key), tls_listen=str(free_port()),
                         cors_allowed_origins=(ALLOWED_ORIGIN,)),
        temp_dir=str(tmp_path),
    )
    conf = write_config(settings, tmp_path / "nginx.conf")
    result = subprocess.run([NGINX, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = conf.read_text()
    assert "ssl_certificate " in text and "TLSv1.2 TLSv1.3" in text
    assert 'on "max-age=' in text  # HSTS, for TLS connections only
    assert "return 301 https://$host:" in text


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_tls_gateway_redirects_http_and_sends_hsts(tmp_path, self_signed):
    """A local gateway with TLS on: HTTP answers health checks and redirects the rest to
    HTTPS; HTTPS responses carry HSTS and the other security headers."""
    cert, key = self_signed
    http_port, https_port = free_port(), free_port()
    launch = prepare_gateway(
        NGINX, tmp_path / "run", tmp_path / "logs", listen_port=http_port,
        upstream_ports={"storefront": free_port(), "transaction": free_port(),
                        "sandbox": free_port()},
        tls_cert=str(cert), tls_key=str(key), tls_listen=f"127.0.0.1:{https_port}",
    )
    proc = subprocess.Popen(launch.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(  # noqa: S310 - a local test URL
                    f"https://localhost:{https_port}/healthz", context=context, timeout=2
                ) as resp:
                    headers = resp.headers
                    assert resp.status == 200
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "TLS gateway did not start"
                time.sleep(0.1)
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert headers["X-Frame-Options"] == "DENY"

        plain = requests.get(f"http://127.0.0.1:{http_port}/api/v1/products?q=1",
                             allow_redirects=False, timeout=5)
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://127.0.0.1:{https_port}/api/v1/products?q=1"
        assert "Strict-Transport-Security" not in plain.headers
        health = requests.get(f"http://127.0.0.1:{http_port}/healthz", timeout=5)
        assert health.status_code == 200 and "Strict-Transport-Security" not in health.headers
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cors_allow_list_must_be_explicit_origins():
    assert parse_origins(" https://a.example , http://localhost:5173/ ,") == (
        "https://a.example", "http://localhost:5173")
    assert parse_origins("") == ()
    for bad in ("*", "https://*.example", "a.example", "https://a.example/path",
                "javascript:alert(1)", 'https://a.example"; add_header X 1'):
        with pytest.raises(ValueError):
            parse_origins(bad)
