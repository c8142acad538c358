"""The sandbox driven by Midtrans' official Python client, as an integrator would.

`midtransclient.CoreApi` is pointed at the sandbox by overriding its `ApiConfig` base URL:
that and the server key are the only differences from talking to real Midtrans. Errors
arrive as `MidtransAPIError` (HTTP status >= 400, or a `status_code` >= 400 in the body
other than "407").
"""

import pytest
from midtransclient import CoreApi
from midtransclient.config import ApiConfig
from midtransclient.error_midtrans import MidtransAPIError

from payment_sandbox.domain.signature import verify_signature

pytestmark = pytest.mark.integration


@pytest.fixture
def core(sandbox, monkeypatch):
    monkeypatch.setattr(ApiConfig, "CORE_SANDBOX_BASE_URL", sandbox.base_url)
    return CoreApi(is_production=False, server_key=sandbox.server_key)


def _charge(core, order_id, amount=150000, payment_type="gopay"):
    body = {
        "payment_type": payment_type,
        "transaction_details": {"order_id": order_id, "gross_amount": amount},
        "customer_details": {"first_name": "Budi", "email": "budi@example.com"},
        "item_details": [{"id": "sku-1", "price": amount, "quantity": 1, "name": "Kopi"}],
    }
    if payment_type == "bank_transfer":
        body["bank_transfer"] = {"bank": "bni"}
    if payment_type == "gopay":
        body["gopay"] = {"enable_callback": True, "callback_url": "https://shop.example/done"}
    return core.charge(body)


def _error(excinfo) -> tuple[int, dict]:
    error = excinfo.value
    return error.http_status_code, error.api_response_dict


def test_charge_status_and_a_duplicate_charge(core, sandbox, order_id):
    charged = _charge(core, order_id, payment_type="bank_transfer")
    assert charged["status_code"] == "201"
    assert charged["transaction_status"] == "pending"
    assert charged["va_numbers"][0]["bank"] == "bni"

    by_order = core.transactions.status(order_id)
    by_transaction = core.transactions.status(charged["transaction_id"])
    assert by_order == by_transaction
    assert by_order["gross_amount"] == "150000.00"
    assert verify_signature(by_order, sandbox.server_key)

    with pytest.raises(MidtransAPIError) as excinfo:
        _charge(core, order_id, payment_type="bank_transfer")
    status, body = _error(excinfo)
    assert (status, body["status_code"]) == (406, "406")
    assert core.transactions.status(order_id)["transaction_id"] == charged["transaction_id"]


def test_gopay_actions_include_the_qr_code(core, order_id):
    charged = _charge(core, order_id, 20000)
    names = [action["name"] for action in charged["actions"]]
    assert names[:2] == ["generate-qr-code", "deeplink-redirect"]


def test_cancel_then_cancel_again_then_refund_is_refused(core, order_id):
    _charge(core, order_id)
    cancelled = core.transactions.cancel(order_id)
    assert cancelled["transaction_status"] == "cancel"
    assert core.transactions.cancel(order_id)["transaction_status"] == "cancel"
    with pytest.raises(MidtransAPIError) as excinfo:
        core.transactions.refund(order_id, {"amount": 1000})
    assert _error(excinfo)[0] == 412


def test_expire_answers_407_without_an_error(core, order_id):
    _charge(core, order_id)
    expired = core.transactions.expire(order_id)  # "407" is success for the client
    assert expired["status_code"] == "407"
    assert expired["transaction_status"] == "expire"
    with pytest.raises(MidtransAPIError) as excinfo:
        core.transactions.expire(order_id)
    assert _error(excinfo)[1]["status_code"] == "412"


def test_partial_then_full_refund_idempotent_on_refund_key(core, sandbox, order_id):
    _charge(core, order_id, 150000)
    sandbox.pay(order_id)

    first = core.transactions.refund(
        order_id, {"refund_key": "rk-part", "amount": 50000, "reason": "one item"})
    assert first["transaction_status"] == "partial_refund"
    assert first["refund_amount"] == "50000.00"
    again = core.transactions.refund(order_id, {"refund_key": "rk-part", "amount": 50000})
    assert again == first  # same refund_key = same refund, nothing refunded twice

    with pytest.raises(MidtransAPIError) as excinfo:
        core.transactions.refund(order_id, {"refund_key": "rk-big", "amount": 100001})
    assert _error(excinfo)[0] == 409

    rest = core.transactions.refund(order_id, {"reason": "the rest"})  # key and amount
    assert rest["transaction_status"] == "refund"              # both optional
    assert rest["refund_amount"] == "100000.00"

    status = core.transactions.status(order_id)
    assert status["transaction_status"] == "refund"
    assert status["refund_amount"] == "150000.00"
    assert [r["refund_amount"] for r in status["refunds"]] == ["50000.00", "100000.00"]


def test_bank_transfer_refund_is_refused(core, sandbox, order_id):
    _charge(core, order_id, 80000, payment_type="bank_transfer")
    sandbox.pay(order_id)
    with pytest.raises(MidtransAPIError) as excinfo:
        core.transactions.refund(order_id, {"refund_key": "rk-va"})
    status, body = _error(excinfo)
    assert (status, body["status_code"]) == (412, "412")
    assert core.transactions.status(order_id)["transaction_status"] == "settlement"


def test_errors_unknown_order_wrong_key_bad_input(core, sandbox, order_id):
    with pytest.raises(MidtransAPIError) as excinfo:
        core.transactions.status("no-such-order")
    assert _error(excinfo)[0] == 404

    wrong = CoreApi(is_production=False, server_key="not-the-key")
    with pytest.raises(MidtransAPIError) as excinfo:
        wrong.transactions.status(order_id)
    assert _error(excinfo)[0] == 401

    with pytest.raises(MidtransAPIError) as excinfo:
        core.charge({"payment_type": "gopay",
                     "transaction_details": {"order_id": order_id, "gross_amount": -5}})
    status, body = _error(excinfo)
    assert status == 422 and "transaction_details" in str(body["errors"])


def test_notifications_verify_with_the_server_key(core, sandbox, receiver, order_id):
    _charge(core, order_id, 30000)
    sandbox.pay(order_id)
    core.transactions.refund(order_id, {"refund_key": "rk-n", "amount": 10000})
    records = receiver.wait_for(order_id, lambda rs: "partial_refund" in {
        r["body"]["transaction_status"] for r in rs})
    notice = core.transactions.notification(records[-1]["body"])  # the client's parser
    assert notice["transaction_status"] == "partial_refund"
    assert all(verify_signature(r["body"], sandbox.server_key) for r in records)
