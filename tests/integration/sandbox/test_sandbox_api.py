"""The sandbox's Midtrans-compatible API under real gunicorn."""

import re
import uuid

import pytest
import requests

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def assert_problem(response, status, *, status_code=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["type"].startswith("https://")
    assert body["status_code"] == (status_code or str(status))
    return body


# charge ------------------------------------------------------------------------------------


def test_bank_transfer_charge_returns_a_virtual_account(sandbox, order_id):
    response = sandbox.charge(order_id, 150000, bank="bni")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status_code"] == "201"
    assert body["order_id"] == order_id
    uuid.UUID(body["transaction_id"])
    assert body["gross_amount"] == "150000.00"
    assert body["currency"] == "IDR"
    assert body["payment_type"] == "bank_transfer"
    assert body["transaction_status"] == "pending"
    assert body["fraud_status"] == "accept"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body["transaction_time"])
    assert body["expiry_time"] > body["transaction_time"]
    [va] = body["va_numbers"]
    assert va["bank"] == "bni"
    assert re.fullmatch(r"\d{10,18}", va["va_number"])
    assert "actions" not in body


@pytest.mark.parametrize(
    ("payment_type", "actions"),
    [
        ("gopay", ["generate-qr-code", "deeplink-redirect", "get-status", "cancel"]),
        ("shopeepay", ["deeplink-redirect"]),
        ("qris", ["generate-qr-code"]),
    ],
)
def test_ewallet_charge_returns_midtrans_actions(sandbox, order_id, payment_type, actions):
    response = sandbox.charge(order_id, 25000, payment_type=payment_type)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["payment_type"] == payment_type
    assert "va_numbers" not in body
    by_name = {action["name"]: action for action in body["actions"]}
    assert list(by_name) == actions
    if "deeplink-redirect" in by_name:
        action = by_name["deeplink-redirect"]
        assert action["method"] == "GET"
        assert action["url"].endswith(f"/v2/{order_id}/pay")
        page = requests.get(action["url"], timeout=5)
        assert page.status_code == 200
        assert "text/html" in page.headers["Content-Type"]
        assert order_id in page.text
    if "generate-qr-code" in by_name:
        qr = requests.get(by_name["generate-qr-code"]["url"], timeout=5)
        assert qr.status_code == 200
        assert qr.headers["Content-Type"] == "image/png"
        assert qr.content.startswith(b"\x89PNG")


def test_qr_code_of_an_unknown_or_other_transaction_is_404(sandbox, order_id):
    created = sandbox.charge(order_id, 25000, payment_type="shopeepay").json()
    for path in (f"/v2/gopay/{created['transaction_id']}/qr-code",
                 f"/v2/gopay/{uuid.uuid4()}/qr-code"):
        response = requests.get(sandbox.url(path), timeout=5)
        assert response.status_code == 404


@pytest.mark.parametrize("then", ["pending", "settlement", "expire"])
def test_a_second_charge_for_an_order_id_is_406(sandbox, order_id, then):
    """Midtrans refuses any charge for an order_id already used, whatever its amount:
    a merchant retrying must ask the status instead."""
    first = sandbox.charge(order_id, 99000).json()
    if then == "settlement":
        sandbox.pay(order_id)
    elif then == "expire":
        sandbox.post(f"/v2/{order_id}/expire")
    for amount in (99000, 99001):
        again = sandbox.charge(order_id, amount)
        body = assert_problem(again, 406)
        assert "Duplicate order ID" in body["status_message"]
    # the original is untouched and still findable
    status = sandbox.get(f"/v2/{order_id}/status").json()
    assert status["transaction_id"] == first["transaction_id"]
    assert status["gross_amount"] == "99000.00"
    assert status["transaction_status"] == then


def test_charge_accepts_unknown_midtrans_fields_and_custom_expiry(sandbox, order_id):
    response = sandbox.charge(
        order_id,
        10000,
        custom_expiry={"expiry_duration": 2, "unit": "hour", "order_time": "ignored"},
        customer_details={"first_name": "Budi"},
        item_details=[{"id": "p1", "price": 10000, "quantity": 1, "name": "Batik"}],
    )
    assert response.status_code == 201, response.text


# status ------------------------------------------------------------------------------------


def test_status_by_order_id_and_by_transaction_id(sandbox, order_id, expected_signature):
    created = sandbox.charge(order_id, 150000).json()
    by_order = sandbox.get(f"/v2/{order_id}/status")
    assert by_order.status_code == 200
    body = by_order.json()
    assert body["transaction_status"] == "pending"
    assert body["status_code"] == "201"
    assert body["signature_key"] == expected_signature(
        order_id, "201", "150000.00", sandbox.server_key
    )
    by_transaction = sandbox.get(f"/v2/{created['transaction_id']}/status").json()
    assert by_transaction["order_id"] == order_id


def test_status_of_unknown_order_is_404(sandbox):
    assert_problem(sandbox.get("/v2/no-such-order/status"), 404)


# auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [None, ("wrong-key", ""), ("it-server-key", "a-password"), ("", "")],
    ids=["missing", "wrong-key", "non-empty-password", "empty"],
)
def test_core_api_requires_the_server_key(sandbox, order_id, auth):
    calls = [
        requests.post(sandbox.url("/v2/charge"), auth=auth, timeout=5, json={
            "payment_type": "gopay",
            "transaction_details": {"order_id": order_id, "gross_amount": 1000},
        }),
        requests.get(sandbox.url(f"/v2/{order_id}/status"), auth=auth, timeout=5),
        requests.post(sandbox.url(f"/v2/{order_id}/cancel"), auth=auth, timeout=5),
        requests.post(sandbox.url(f"/v2/{order_id}/refund"), auth=auth, timeout=5,
                      json={"refund_key": "k"}),
    ]
    for response in calls:
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    # nothing was created
    assert sandbox.get(f"/v2/{order_id}/status").status_code == 404


def test_bearer_tokens_are_not_basic_auth(sandbox):
    response = requests.get(
        sandbox.url("/v2/x/status"), headers={"Authorization": "Bearer it-server-key"}, timeout=5
    )
    assert_problem(response, 401)


# bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payment_type": "bank_transfer",
          "transaction_details": {"order_id": "o-1", "gross_amount": 1000}}, "bank_transfer"),
        ({"payment_type": "credit_card",
          "transaction_details": {"order_id": "o-1", "gross_amount": 1000}}, "payment_type"),
        ({"payment_type": "gopay",
          "transaction_details": {"order_id": "o-1", "gross_amount": 0}},
         "transaction_details.gross_amount"),
        ({"payment_type": "gopay",
          "transaction_details": {"order_id": "o-1", "gross_amount": 1000.5}},
         "transaction_details.gross_amount"),
        ({"payment_type": "gopay",
          "transaction_details": {"order_id": "o" * 51, "gross_amount": 1000}},
         "transaction_details.order_id"),
        ({"payment_type": "gopay",
          "transaction_details": {"order_id": "bad/id", "gross_amount": 1000}},
         "transaction_details.order_id"),
        ({"payment_type": "gopay"}, "transaction_details"),
        ({"payment_type": "bank_transfer", "bank_transfer": {"bank": "mandiri"},
          "transaction_details": {"order_id": "o-1", "gross_amount": 1000}},
         "bank_transfer.bank"),
        ({"payment_type": "gopay", "custom_expiry": {"expiry_duration": 1, "unit": "week"},
          "transaction_details": {"order_id": "o-1", "gross_amount": 1000}},
         "custom_expiry.unit"),
    ],
)
def test_invalid_charges_are_422_problems_naming_the_field(sandbox, body, field):
    problem = assert_problem(sandbox.post("/v2/charge", body), 422)
    assert field in problem["errors"], problem


def test_malformed_json_is_a_400_problem(sandbox):
    response = sandbox.session.post(
        sandbox.url("/v2/charge"), data="{not json", timeout=5,
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_unknown_path_and_wrong_method_are_problems(sandbox):
    assert_problem(sandbox.get("/v3/nothing"), 404)
    response = sandbox.get("/v2/charge")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


# cancel ----------------------------------------------------------------------------------


def test_cancel_pending_then_idempotent_then_unpayable(sandbox, receiver, order_id):
    sandbox.charge(order_id)
    first = sandbox.post(f"/v2/{order_id}/cancel")
    assert first.status_code == 200
    assert first.json()["transaction_status"] == "cancel"
    again = sandbox.post(f"/v2/{order_id}/cancel")
    assert again.status_code == 200
    assert again.json()["transaction_status"] == "cancel"
    assert_problem(sandbox.pay(order_id), 409)

    records = receiver.wait_for(order_id, lambda rs: any(
        r["body"]["transaction_status"] == "cancel" for r in rs))
    [cancel] = [r for r in records if r["body"]["transaction_status"] == "cancel"]
    assert cancel["body"]["status_code"] == "202"
    # one cancel notification even though cancel was called twice
    assert [d["transaction_status"] for d in sandbox.deliveries(order_id)] == [
        "pending", "cancel"]


def test_cancel_settled_is_412(sandbox, order_id):
    sandbox.charge(order_id)
    assert sandbox.pay(order_id).status_code == 200
    assert_problem(sandbox.post(f"/v2/{order_id}/cancel"), 412)
    assert sandbox.get(f"/v2/{order_id}/status").json()["transaction_status"] == "settlement"


def test_cancel_unknown_is_404(sandbox):
    assert_problem(sandbox.post("/v2/unknown-order/cancel"), 404)


# refund ----------------------------------------------------------------------------------


def test_refund_requires_settlement(sandbox, order_id):
    sandbox.charge(order_id, payment_type="gopay")
    assert_problem(sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "r1"}), 412)


def test_bank_transfer_is_never_refunded(sandbox, receiver, order_id):
    sandbox.charge(order_id, 150000)
    sandbox.pay(order_id)
    body = assert_problem(sandbox.post(f"/v2/{order_id}/refund", {"amount": 1000}), 412)
    assert "does not support refund" in body["status_message"]
    status = sandbox.get(f"/v2/{order_id}/status").json()
    assert status["transaction_status"] == "settlement"
    assert "refunds" not in status


def test_refund_without_key_or_amount_refunds_the_remainder(sandbox, order_id):
    sandbox.charge(order_id, 150000, payment_type="shopeepay")
    sandbox.pay(order_id)
    first = sandbox.post(f"/v2/{order_id}/refund", {"amount": 40000})
    assert first.status_code == 200, first.text
    assert first.json()["refund_key"]  # generated
    rest = sandbox.post(f"/v2/{order_id}/refund", {})
    assert rest.status_code == 200, rest.text
    assert rest.json()["refund_amount"] == "110000.00"
    assert rest.json()["transaction_status"] == "refund"
    status = sandbox.get(f"/v2/{order_id}/status").json()
    assert [r["refund_amount"] for r in status["refunds"]] == ["40000.00", "110000.00"]
    assert len({r["refund_key"] for r in status["refunds"]}) == 2


def test_expire_pending_then_412(sandbox, receiver, order_id):
    sandbox.charge(order_id, 150000)
    expired = sandbox.post(f"/v2/{order_id}/expire")
    assert expired.status_code == 200, expired.text
    assert expired.json()["status_code"] == "407"
    assert expired.json()["transaction_status"] == "expire"
    assert_problem(sandbox.post(f"/v2/{order_id}/expire"), 412)
    records = receiver.wait_for(order_id, lambda rs: "expire" in {
        r["body"]["transaction_status"] for r in rs})
    [notice] = [r["body"] for r in records if r["body"]["transaction_status"] == "expire"]
    assert notice["status_code"] == "202"
    assert_problem(sandbox.pay(order_id), 409)


def test_refund_is_idempotent_on_refund_key_and_never_exceeds_gross(
    sandbox, receiver, order_id, expected_signature
):
    sandbox.charge(order_id, 150000, payment_type="gopay")
    sandbox.pay(order_id)

    partial = sandbox.post(f"/v2/{order_id}/refund",
                           {"refund_key": "rk-1", "amount": 50000, "reason": "one item"})
    assert partial.status_code == 200, partial.text
    body = partial.json()
    assert body["transaction_status"] == "partial_refund"
    assert body["refund_amount"] == "50000.00"
    assert body["refund_key"] == "rk-1"

    replay = sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "rk-1", "amount": 50000})
    assert replay.status_code == 200
    assert replay.json() == body
    replay_without_amount = sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "rk-1"})
    assert replay_without_amount.json() == body
    assert_problem(
        sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "rk-1", "amount": 1000}), 409
    )

    too_much = sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "rk-2", "amount": 100001})
    assert_problem(too_much, 409)

    rest = sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "rk-3"})
    assert rest.status_code == 200
    assert rest.json()["transaction_status"] == "refund"
    assert rest.json()["refund_amount"] == "100000.00"

    assert_problem(sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "rk-4"}), 412)

    status = sandbox.get(f"/v2/{order_id}/status").json()
    assert status["transaction_status"] == "refund"
    assert status["refund_amount"] == "150000.00"
    assert [r["refund_key"] for r in status["refunds"]] == ["rk-1", "rk-3"]

    records = receiver.wait_for(order_id, lambda rs: {"partial_refund", "refund"} <= {
        r["body"]["transaction_status"] for r in rs})
    refunds = [r["body"] for r in records
               if r["body"]["transaction_status"] in ("partial_refund", "refund")]
    assert sorted(b["refund_key"] for b in refunds) == ["rk-1", "rk-3"]
    by_key = {b["refund_key"]: b for b in refunds}
    # the notification's refund_amount is the total so far, with every refund listed
    assert by_key["rk-1"]["refund_amount"] == "50000.00"
    assert by_key["rk-3"]["refund_amount"] == "150000.00"
    assert [r["refund_key"] for r in by_key["rk-3"]["refunds"]] == ["rk-1", "rk-3"]
    for b in refunds:
        assert b["status_code"] == "200"
        assert b["gross_amount"] == "150000.00"
        assert b["signature_key"] == expected_signature(order_id, "200", "150000.00",
                                                   sandbox.server_key)


def test_refund_bad_input(sandbox, order_id):
    sandbox.charge(order_id, payment_type="gopay")
    sandbox.pay(order_id)
    assert "refund_key" in assert_problem(
        sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "has space"}), 422)["errors"]
    assert "amount" in assert_problem(
        sandbox.post(f"/v2/{order_id}/refund", {"refund_key": "k", "amount": -1}), 422
    )["errors"]


# operations ----------------------------------------------------------------------------


def test_health_ready_metrics_and_request_id(sandbox):
    assert requests.get(sandbox.url("/healthz"), timeout=5).json()["status"] == "ok"
    ready = requests.get(sandbox.url("/readyz"), timeout=5, headers={"X-Request-ID": "abc-123"})
    assert ready.status_code == 200
    assert ready.headers["X-Request-ID"] == "abc-123"
    metrics = requests.get(sandbox.url("/metrics"), timeout=5)
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
    spec = requests.get(sandbox.url("/openapi.json"), timeout=5).json()
    assert "/v2/charge" in spec["paths"]
