"""One client's rejected request never breaks another client's (issue 12, item 4).

A service may refuse a request without reading its body (401 before parsing, a body that
is not JSON). gunicorn then drains at most 64 KiB of what is left and closes the
keep-alive connection; nginx, which was told nothing, hands that dead connection to the
next request, whoever sent it, and answers 502. Checked on the real stack: nginx in front
of both services' gunicorns.
"""

from __future__ import annotations

import uuid

import requests

from tools import shopper

BODY_SIZES = (200_000, 900_000)


def _refused_bodies(gateway: str, buyer: str):
    """Requests the services refuse before reading their (large) bodies."""
    pad = "x" * max(BODY_SIZES)
    for size in BODY_SIZES:
        body = ('{"items":[],"pad":"' + pad[:size] + '"}').encode()
        # the marketplace: not JSON as far as Content-Type goes -> 422 unread
        yield ("POST", f"{gateway}/api/v1/checkout", body,
               {"Authorization": f"Bearer {buyer}", "Content-Type": "text/plain",
                "Idempotency-Key": str(uuid.uuid4())})
        # the showcase: anonymous -> 401 before the body is parsed
        yield ("PUT", f"{gateway}/api/v1/cart/items/{uuid.uuid4()}", body,
               {"Content-Type": "application/json"})


def test_a_refused_large_body_never_costs_a_bystander_a_502(stack):
    gateway = stack.urls.gateway
    buyer = shopper.login(gateway, "buyer@etalase.test")
    seller = shopper.login(gateway, shopper.DEMO_SELLER)
    bystanders = [
        (f"{gateway}/api/v1/orders", seller),  # marketplace
        (f"{gateway}/api/v1/cart", buyer),  # showcase
    ]
    answers: list[int] = []
    refused: list[int] = []
    # One client connection to nginx, so the refused request and the bystanders are served
    # by the same nginx worker and share its pool of connections to the services.
    http = requests.Session()
    for _ in range(12):
        for method, url, body, headers in _refused_bodies(gateway, buyer):
            response = http.request(method, url, data=body, headers=headers, timeout=30)
            refused.append(response.status_code)
            assert response.headers["Content-Type"].startswith("application/problem+json")
            for _ in range(3):
                for bystander, token in bystanders:
                    answers.append(http.get(
                        bystander, headers={"Authorization": f"Bearer {token}"},
                        timeout=30).status_code)
    assert set(refused) <= {401, 415, 422}, refused
    assert answers.count(502) == 0, f"{answers.count(502)} of {len(answers)} bystanders got 502"
    assert set(answers) == {200}
