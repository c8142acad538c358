"""The marketplace's payment client against the strict sandbox: a charge whose answer was
lost is never blindly sent again (Midtrans would answer 406): the client asks
`GET /v2/{order_id}/status` and adopts the transaction that exists, so the buyer gets the
payment instruction instead of a failure. Between the two runs a real HTTP hop that loses
answers (the provider did the work; we never heard)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from transaction_service.clients.payments import (
    ProviderRefused,
    ProviderUnavailable,
    SandboxProvider,
)

pytestmark = pytest.mark.integration


class LossyHop:
    """Forwards to the sandbox; the first `lose` charges are forwarded (the provider
    creates them) but answered 504 (`mode="504"`) or with a dropped connection."""

    def __init__(self, target: str):
        self.target = target
        self.lose = 0
        self.mode = "504"
        self.seen: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()
        hop = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self, method):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else None
                upstream = requests.request(
                    method, hop.target + self.path, data=body, timeout=10,
                    headers={k: v for k, v in self.headers.items()
                             if k.lower() in ("authorization", "content-type", "accept")})
                with hop.lock:
                    losing = method == "POST" and self.path == "/v2/charge" and hop.lose > 0
                    if losing:
                        hop.lose -= 1
                    hop.seen.append((method, self.path, upstream.status_code))
                if losing and hop.mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, payload = (504, b'{"status_code": "504"}') if losing else (
                    upstream.status_code, upstream.content)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def hop(sandbox):
    lossy = LossyHop(sandbox.base_url)
    yield lossy
    lossy.server.shutdown()


@pytest.fixture
def client(hop, sandbox):
    return SandboxProvider(server_key=sandbox.server_key, base_url=hop.url,
                           timeout_seconds=3)


def _charge(client, order_id, amount=150000, method="bank_transfer"):
    return client.charge(order_id=order_id, gross_amount=amount, method=method,
                         expiry_seconds=600)


@pytest.mark.parametrize("mode", ["504", "drop"])
def test_a_lost_charge_answer_is_adopted_from_the_status(client, hop, sandbox, order_id, mode):
    hop.lose, hop.mode = 1, mode
    result = _charge(client, order_id)
    status = sandbox.get(f"/v2/{order_id}/status").json()
    assert result.transaction_id == status["transaction_id"]
    assert result.va_number == status["va_numbers"][0]["va_number"]
    # one charge sent, then the status asked: never a second charge
    assert [(m, p) for m, p, _ in hop.seen] == [
        ("POST", "/v2/charge"), ("GET", f"/v2/{order_id}/status")]


def test_a_charge_retried_by_the_checkout_adopts_the_live_transaction(client, hop, order_id):
    first = _charge(client, order_id, 42000, method="ewallet")
    again = _charge(client, order_id, 42000, method="ewallet")  # e.g. a replayed checkout
    assert again.transaction_id == first.transaction_id
    assert again.deeplink == first.deeplink
    assert [s for _, _, s in hop.seen] == [201, 406, 200]  # the 406 never reached the buyer


def test_an_existing_transaction_of_another_amount_is_refused(client, order_id):
    _charge(client, order_id, 42000)
    with pytest.raises(ProviderRefused) as refused:
        _charge(client, order_id, 43000)
    assert refused.value.status == 406


def test_an_expired_transaction_is_not_a_payment_instruction(client, sandbox, order_id):
    _charge(client, order_id, 42000)
    sandbox.post(f"/v2/{order_id}/expire")
    with pytest.raises(ProviderRefused):
        _charge(client, order_id, 42000)


def test_a_charge_that_never_arrived_is_sent_again_once(client, hop, sandbox, order_id):
    """The hop loses the answer of a charge the sandbox refused (bad input never happens
    from us, so: the sandbox down). Here: nothing listens at first."""
    dead = SandboxProvider(server_key=sandbox.server_key, base_url="http://127.0.0.1:9",
                           timeout_seconds=1)
    with pytest.raises(ProviderUnavailable):
        _charge(dead, order_id)
    result = _charge(client, order_id)
    assert result.transaction_id


def test_refunds_follow_the_provider_rules(client, sandbox, order_id):
    assert client.can_refund("ewallet") and not client.can_refund("bank_transfer")
    _charge(client, order_id, 90000, method="ewallet")
    sandbox.pay(order_id)
    part = client.refund(order_id, refund_key="r-part", amount=40000, reason="one item")
    assert part.status == 200 and part.body["transaction_status"] == "partial_refund"
    again = client.refund(order_id, refund_key="r-part", amount=40000, reason="one item")
    assert again.body["refund_chargeback_id"] == part.body["refund_chargeback_id"]
    over = client.refund(order_id, refund_key="r-over", amount=50001, reason="too much")
    assert over.status == 409
