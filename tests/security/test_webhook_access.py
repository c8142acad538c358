"""Webhook endpoints are their owner's alone: every party (anonymous, buyer, seller, another
seller, creator, admin) is tried on every operation. Someone else's endpoint or delivery
is a 404 and stays exactly as it was; secrets are shown once and stored encrypted; target
URLs are checked; registrations and test sends are rate-limited."""

from __future__ import annotations

import uuid

import pytest
from security_client import assert_problem

ENDPOINTS = "/api/v1/webhooks/endpoints"
URL = "http://127.0.0.1:9/hooks"  # allowed on the test stack (WEBHOOK_ALLOW_PRIVATE_TARGETS=1)


def _create(client, token, **body):
    response = client.post(ENDPOINTS, token=token,
                           json={"url": URL, "events": ["order.paid"], **body})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def creator(client):
    return client.token("creator@etalase.test")


@pytest.fixture(scope="module")
def admin(client):
    return client.token("admin@etalase.test")


@pytest.fixture(scope="module")
def sellers_endpoint(client, seller):
    endpoint = _create(client, seller, description="security suite")
    yield endpoint
    client.request("DELETE", f"{ENDPOINTS}/{endpoint['id']}", token=seller)


def _row(client, endpoint_id):
    return client.sql("transaction", "SELECT url, events, disabled, secret_encrypted, "
                      "updated_at FROM webhook_endpoints WHERE id = %s", (endpoint_id,))


def _all_operations(endpoint_id: str, delivery_id: str):
    return [
        ("GET", f"{ENDPOINTS}/{endpoint_id}", None),
        ("PATCH", f"{ENDPOINTS}/{endpoint_id}", {"disabled": True}),
        ("DELETE", f"{ENDPOINTS}/{endpoint_id}", None),
        ("POST", f"{ENDPOINTS}/{endpoint_id}/rotate-secret", None),
        ("POST", f"{ENDPOINTS}/{endpoint_id}/test", None),
        ("GET", f"{ENDPOINTS}/{endpoint_id}/deliveries", None),
        ("POST", f"/api/v1/webhooks/deliveries/{delivery_id}/retry", None),
    ]


@pytest.fixture(scope="module")
def sellers_delivery(client, seller, sellers_endpoint):
    sent = client.post(f"{ENDPOINTS}/{sellers_endpoint['id']}/test", token=seller)
    assert sent.status_code == 202, sent.text
    return sent.json()


def test_anonymous_gets_401_everywhere(client, sellers_endpoint, sellers_delivery):
    assert_problem(client.get(ENDPOINTS), 401)
    assert_problem(client.post(ENDPOINTS, json={"url": URL, "events": ["*"]}), 401)
    for method, path, body in _all_operations(sellers_endpoint["id"], sellers_delivery["id"]):
        assert_problem(client.request(method, path, json=body), 401)


def test_a_buyer_cannot_have_endpoints(client, buyer):
    assert_problem(client.get(ENDPOINTS, token=buyer), 403)
    assert_problem(client.post(ENDPOINTS, token=buyer, json={"url": URL, "events": ["*"]}), 403)


@pytest.mark.parametrize("intruder", ["seller2", "creator", "admin", "buyer"])
def test_nobody_else_sees_or_touches_a_sellers_endpoint(
        client, request, intruder, sellers_endpoint, sellers_delivery):
    token = request.getfixturevalue(intruder)
    endpoint_id = sellers_endpoint["id"]
    before = _row(client, endpoint_id)
    expected = 403 if intruder == "buyer" else 404
    for method, path, body in _all_operations(endpoint_id, sellers_delivery["id"]):
        assert_problem(client.request(method, path, token=token, json=body), expected)
    if intruder != "buyer":
        listing = client.get(ENDPOINTS, token=token)
        assert listing.status_code == 200
        assert endpoint_id not in {e["id"] for e in listing.json()["data"]}
    assert _row(client, endpoint_id) == before


def test_owners_see_their_own_and_never_a_secret_again(client, seller, creator, admin,
                                                      sellers_endpoint):
    for token, kind in ((seller, "shop"), (creator, "creator"), (admin, "admin")):
        mine = _create(client, token) if token is not seller else sellers_endpoint
        try:
            assert mine["owner_kind"] == kind
            got = client.get(f"{ENDPOINTS}/{mine['id']}", token=token)
            assert got.status_code == 200 and "secret" not in got.json()
            listed = client.get(ENDPOINTS, token=token).json()["data"]
            assert mine["id"] in {e["id"] for e in listed}
            assert all("secret" not in e for e in listed)
        finally:
            if token is not seller:
                client.request("DELETE", f"{ENDPOINTS}/{mine['id']}", token=token)


def test_the_secret_is_encrypted_at_rest(client, sellers_endpoint):
    stored = _row(client, sellers_endpoint["id"])[0][3]
    assert stored and "whsec_" not in stored
    raw = client.sql("transaction", "SELECT count(*) FROM webhook_endpoints "
                     "WHERE secret_encrypted LIKE '%%whsec_%%'")
    assert raw[0][0] == 0


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
    ({"url": "http://user:pw@127.0.0.1/x", "events": ["*"]}, "url"),
    ({"url": URL, "events": ["order.teleported"]}, "events"),
    ({"url": URL, "events": []}, "events"),
    ({"url": URL}, "events"),
    ({"events": ["*"]}, "url"),
    ({"url": URL, "events": ["*"], "secret": "whsec_mine"}, "secret"),
    ({"url": "http://127.0.0.1/\x00", "events": ["*"]}, "url"),
])
def test_bad_registrations_are_422_problems(client, seller, body, field):
    problem = assert_problem(client.post(ENDPOINTS, token=seller, json=body), 422)
    assert any(field in name for name in problem.get("errors", {})), problem


def test_bad_ids_and_patches(client, seller, sellers_endpoint):
    assert_problem(client.get(f"{ENDPOINTS}/not-a-uuid", token=seller), 404)
    assert_problem(client.get(f"{ENDPOINTS}/{uuid.uuid4()}", token=seller), 404)
    assert_problem(client.request("PATCH", f"{ENDPOINTS}/{sellers_endpoint['id']}",
                                  token=seller, json={"disabled": "yes"}), 422)
    assert_problem(client.get(f"{ENDPOINTS}?limit=0", token=seller), 422)
    assert_problem(client.get(f"{ENDPOINTS}?cursor=garbage", token=seller), 422)


def test_test_sends_are_rate_limited(client, seller, sellers_endpoint):
    statuses = [client.post(f"{ENDPOINTS}/{sellers_endpoint['id']}/test", token=seller)
                for _ in range(6)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert limited[0].headers.get("Retry-After")
    assert_problem(limited[0], 429)


def test_registrations_are_rate_limited(client):
    _, token = client.register("creator")
    answers = []
    for _ in range(22):
        response = client.post(ENDPOINTS, token=token, json={"url": URL, "events": ["*"]})
        answers.append(response.status_code)
        if response.status_code == 201:  # deleting does not give the allowance back
            client.request("DELETE", f"{ENDPOINTS}/{response.json()['id']}", token=token)
    assert answers.count(201) == 20 and answers[-1] == 429, answers
