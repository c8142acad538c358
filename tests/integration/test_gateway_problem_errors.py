"""Every error at the gateway is application/problem+json (issue 12, item 6), including
the ones nginx makes while still reading the request (a bare CR, a header or request line
too long) and the ones gunicorn would make behind it (its 414 for a 4-8 KB request line).
Real nginx in front of the real services (the `stack` fixture)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import pytest
import requests

from tools import shopper


def _raw(gateway: str, request: bytes) -> tuple[int, dict, bytes]:
    """Send bytes as they are (requests/http.client refuse a bare CR) and read the answer."""
    url = urlparse(gateway)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    return status, headers, body


def _assert_problem(status: int, headers: dict, body: bytes, expected: int) -> dict:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/problem+json"), headers
    problem = json.loads(body)
    assert problem["status"] == expected and problem["title"] and problem["type"]
    assert problem["request_id"]
    return problem


@pytest.fixture(scope="module")
def gateway(stack):
    return stack.urls.gateway


def test_a_10000_character_idempotency_key_is_a_problem(gateway):
    buyer = shopper.login(gateway, "buyer@etalase.test")
    response = requests.post(f"{gateway}/api/v1/checkout", json={},
                             headers={"Authorization": f"Bearer {buyer}",
                                      "Idempotency-Key": "k" * 10_000}, timeout=10)
    _assert_problem(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                    response.content, 431)


def test_a_bare_cr_in_a_header_is_a_problem(gateway):
    host = urlparse(gateway).netloc.encode()
    status, headers, body = _raw(gateway, b"GET /api/v1/products HTTP/1.1\r\nHost: " + host
                                 + b"\r\nX-Request-ID: abc\rdef\r\nConnection: close\r\n\r\n")
    _assert_problem(status, headers, body, 400)


def test_a_malformed_request_line_is_a_problem(gateway):
    status, headers, body = _raw(gateway, b"GET /a b c\x01 HTTP/1.1\r\n\r\n")
    _assert_problem(status, headers, body, 400)


@pytest.mark.parametrize("length", [4_500, 5_800, 7_000, 9_000, 20_000])
def test_long_request_lines_are_answered_by_the_service_or_refused_as_a_problem(
        gateway, length):
    """4-6 KiB reaches the service (which answers its own JSON); longer is nginx's 414
    problem; gunicorn's HTML 414 never reaches the client."""
    response = requests.get(f"{gateway}/api/v1/feed", params={"cursor": "a" * length},
                            timeout=10)
    headers = {k.lower(): v for k, v in response.headers.items()}
    if length < 6_000:
        assert response.status_code in (200, 400, 422), response.text[:300]
        assert response.headers["Content-Type"].startswith(
            ("application/json", "application/problem+json"))
        if response.status_code >= 400:
            _assert_problem(response.status_code, headers, response.content,
                            response.status_code)
    else:
        problem = _assert_problem(response.status_code, headers, response.content, 414)
        assert "request line" in problem["detail"]


def test_a_long_uri_on_a_marketplace_route_is_a_problem_too(gateway):
    response = requests.get(f"{gateway}/api/v1/orders", params={"cursor": "b" * 5_000},
                            timeout=10)
    assert response.status_code in (401, 422), response.text[:300]
    assert response.headers["Content-Type"].startswith("application/problem+json")
