"""Consumer side: the marketplace's expectations of the showcase's internal API.

Each test declares one interaction on a pact mock server and drives the marketplace's real
client (`transaction_service/clients/storefront.py`) and the code that uses its answers
(the reservation answer checked into the checkout's price snapshot, the outbox relay's
stock return, the JWKS loader). The
resulting pact is written to `pacts/etalase-marketplace-etalase-showcase.json`, which
`test_provider_showcase.py` replays against the real showcase. Only fields the marketplace
reads are pinned; the rest of a response is free to change.
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
import requests
from pact import Pact, match
from pact_support import (
    BUYER_ID,
    CONSUMER_INTERNAL_TOKEN,
    MARKETPLACE,
    MARKETPLACE_SHOWCASE_PACT,
    ORDER_ACTIVE_COMMIT,
    ORDER_ACTIVE_RELEASE,
    ORDER_COMMITTED,
    ORDER_COMMITTED_RESTOCK,
    ORDER_RELEASED,
    ORDER_RELEASED_RESTOCK,
    ORDER_RETURNED,
    ORDER_RETURNED_TOO_MANY,
    ORDER_SOLD_OUT,
    ORDER_TO_RESERVE,
    ORDER_UNKNOWN,
    PRICE,
    PRODUCT_ID,
    RETURN_ID,
    RETURN_TOO_MANY_ID,
    SHOP_ID,
    SHOWCASE,
    SOLD_OUT_PRODUCT_ID,
)

from servicekit.auth import load_jwks
from transaction_service.clients.storefront import (
    InsufficientStock,
    SoldOutHints,
    StorefrontAnswer,
    StorefrontClient,
)
from transaction_service.clients.witness import WitnessClient
from transaction_service.workers.outbox_relay import _reservation_return, _return_restock

INTERACTIONS = 18  # the tests below; the pact is only published when all of them ran
TOKEN_HEADER = match.regex(CONSUMER_INTERNAL_TOKEN, regex=r"^\S{8,}$")
PROBLEM = "application/problem+json"
ISO_TIME = "2026-01-02T03:04:05.123456+00:00"


@pytest.fixture(scope="module")
def pact_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pacts")
    yield directory
    written = directory / MARKETPLACE_SHOWCASE_PACT.name
    if written.exists():
        import json

        interactions = json.loads(written.read_text())["interactions"]
        if len(interactions) == INTERACTIONS:
            MARKETPLACE_SHOWCASE_PACT.parent.mkdir(exist_ok=True)
            shutil.copyfile(written, MARKETPLACE_SHOWCASE_PACT)


@pytest.fixture
def pact(pact_dir):
    pact = Pact(MARKETPLACE, SHOWCASE).with_specification("V4")
    yield pact
    pact.write_file(pact_dir)


def client(server) -> StorefrontClient:
    return StorefrontClient(str(server.url), CONSUMER_INTERNAL_TOKEN, timeout_seconds=5)


def reservation_body(order_id: str, status: str, quantity: int = 2) -> dict:
    """A reservation as the marketplace reads it (the fields `check_reservation` uses)."""
    return {
        "order_id": match.uuid(order_id),
        "status": status,
        "shop_id": match.uuid(SHOP_ID),
        "expires_at": match.regex(
            ISO_TIME, regex=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
        ),
        "items": match.each_like(
            {
                "product_id": match.uuid(PRODUCT_ID),
                "shop_id": match.uuid(SHOP_ID),
                "title": match.str("Kemeja Batik Parang"),
                "quantity": match.int(quantity),
                "unit_price": {"amount": match.int(PRICE), "currency": "IDR"},
            },
            min=1,
        ),
    }


def product_state(product_id: str = PRODUCT_ID, stock: int = 10, **extra) -> dict:
    return {"shop_id": SHOP_ID, "product_id": product_id, "price": PRICE, "stock": stock,
            **extra}


def test_reserve_takes_stock_and_returns_authoritative_prices(pact):
    (
        pact.upon_receiving("a reservation for an order of products in stock")
        .given("a product is for sale", product_state(order_id=ORDER_TO_RESERVE))
        .with_request("POST", "/internal/reservations")
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .with_body(
            {
                "order_id": ORDER_TO_RESERVE,
                "buyer_id": BUYER_ID,
                "items": [{"product_id": PRODUCT_ID, "quantity": 2}],
            },
            content_type="application/json",
        )
        .will_respond_with(201)
        .with_body(reservation_body(ORDER_TO_RESERVE, "active"), content_type="application/json")
    )
    with pact.serve() as server:
        # reserve() checks the answer into the checkout's price snapshot.
        snapshot = client(server).reserve(
            ORDER_TO_RESERVE, BUYER_ID, [{"product_id": PRODUCT_ID, "quantity": 2}]
        )
    assert snapshot.shop_id == SHOP_ID
    assert snapshot.subtotal == 2 * PRICE


def test_product_shops_split_a_cart_into_one_order_per_shop(pact):
    """Before reserving, the marketplace asks which shop sells each line (one order, one
    reservation, per shop); an unknown product is simply absent."""
    unknown = "3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c99"
    (
        pact.upon_receiving("a lookup of the shops selling a cart's products")
        .given("a product is for sale", product_state())
        .with_request("POST", "/internal/products/shops")
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .with_body({"product_ids": [PRODUCT_ID, unknown]}, content_type="application/json")
        .will_respond_with(200)
        .with_body({"products": [{"product_id": PRODUCT_ID, "shop_id": match.uuid(SHOP_ID),
                                  "status": "active"}]},
                   content_type="application/json")
    )
    with pact.serve() as server:
        known = client(server).product_shops([PRODUCT_ID, unknown])
    assert known == {PRODUCT_ID: {"shop_id": SHOP_ID, "status": "active"}}


ORDER_ATTRIBUTED = "0b6f3c52-7a3e-4d8e-9d43-2f9a1c7e5b77"
ATTRIBUTED_PRODUCT_ID = "3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c77"
CONTENT_ID = "8d1f7c2a-5b3e-4f60-9a71-2c4d5e6f7a80"
CREATOR_ID = "6a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
RATE_BPS = 1250


def test_reserve_answers_each_lines_frozen_attribution(pact):
    """A line bought from a creator's content: the showcase answers who and at which rate
    (the marketplace computes and settles the commission)."""
    item = {"product_id": ATTRIBUTED_PRODUCT_ID, "quantity": 2, "content_id": CONTENT_ID}
    (
        pact.upon_receiving("a reservation of a line bought from a creator's content")
        .given(
            "a product is for sale in a creator's content",
            product_state(ATTRIBUTED_PRODUCT_ID, order_id=ORDER_ATTRIBUTED,
                          content_id=CONTENT_ID, creator_id=CREATOR_ID,
                          commission_rate_bps=RATE_BPS),
        )
        .with_request("POST", "/internal/reservations")
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .with_body({"order_id": ORDER_ATTRIBUTED, "buyer_id": BUYER_ID, "items": [item]},
                   content_type="application/json")
        .will_respond_with(201)
        .with_body(
            {
                **reservation_body(ORDER_ATTRIBUTED, "active"),
                "items": match.each_like(
                    {
                        "product_id": match.uuid(ATTRIBUTED_PRODUCT_ID),
                        "shop_id": match.uuid(SHOP_ID),
                        "title": match.str("Kemeja Batik Parang"),
                        "quantity": match.int(2),
                        "unit_price": {"amount": match.int(PRICE), "currency": "IDR"},
                        "attribution": {
                            "content_id": match.uuid(CONTENT_ID),
                            "creator_id": match.uuid(CREATOR_ID),
                            "commission_rate_bps": match.int(RATE_BPS),
                        },
                    },
                    min=1,
                ),
            },
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        line = client(server).reserve(ORDER_ATTRIBUTED, BUYER_ID, [item]).items[0]
    assert line["attribution"] == {
        "content_id": CONTENT_ID, "creator_id": CREATOR_ID, "commission_rate_bps": RATE_BPS,
        "commission": 2 * PRICE * RATE_BPS // 10_000,
    }


def test_reserve_refuses_more_than_the_stock(pact):
    (
        pact.upon_receiving("a reservation for more than the stock")
        .given(
            "a product is for sale",
            product_state(SOLD_OUT_PRODUCT_ID, stock=1, order_id=ORDER_SOLD_OUT),
        )
        .with_request("POST", "/internal/reservations")
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .with_body(
            {
                "order_id": ORDER_SOLD_OUT,
                "buyer_id": BUYER_ID,
                "items": [{"product_id": SOLD_OUT_PRODUCT_ID, "quantity": 5}],
            },
            content_type="application/json",
        )
        .will_respond_with(409)
        .with_body(
            {
                "type": match.regex(
                    "https://etalase.dev/problems/insufficient-stock",
                    regex=r"^https://etalase\.dev/problems/insufficient-stock$",
                ),
                "status": 409,
                "detail": match.str("Only 1 left of Kemeja Batik Parang."),
                "product_id": match.uuid(SOLD_OUT_PRODUCT_ID),
                # What was left: the marketplace refuses bigger checkouts from it for a
                # moment (SoldOutHints).
                "requested": match.int(5),
                "available": match.int(1),
            },
            content_type=PROBLEM,
        )
    )
    with pact.serve() as server, pytest.raises(InsufficientStock) as refused:
        client(server).reserve(
            ORDER_SOLD_OUT, BUYER_ID, [{"product_id": SOLD_OUT_PRODUCT_ID, "quantity": 5}]
        )
    assert refused.value.problem["product_id"] == SOLD_OUT_PRODUCT_ID
    hints = SoldOutHints(60.0)
    hints.refused(refused.value.problem)
    assert hints.shortfall([{"product_id": SOLD_OUT_PRODUCT_ID, "quantity": 2}]) == {
        "product_id": SOLD_OUT_PRODUCT_ID, "requested": 2, "available": 1}


def _action(pact, description, state, order_id, action, status, reservation_status=None):
    interaction = (
        pact.upon_receiving(description)
        .given(state, product_state(order_id=order_id))
        .with_request("POST", f"/internal/reservations/{order_id}/{action}")
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .will_respond_with(status)
    )
    if reservation_status:
        interaction.with_body(
            reservation_body(order_id, reservation_status), content_type="application/json"
        )
    else:
        interaction.with_body(
            {"status": status, "type": match.str("https://etalase.dev/problems/conflict")},
            content_type=PROBLEM,
        )
    with pact.serve() as server:
        return getattr(client(server), action)(order_id)


def test_commit_an_active_reservation(pact):
    answer = _action(pact, "a commit of an active reservation", "an active reservation",
                     ORDER_ACTIVE_COMMIT, "commit", 200, "committed")
    assert answer.status == 200 and answer.body["status"] == "committed"


def test_release_an_active_reservation(pact):
    answer = _action(pact, "a release of an active reservation", "an active reservation",
                     ORDER_ACTIVE_RELEASE, "release", 200, "released")
    assert answer.status == 200 and answer.body["status"] == "released"


def test_commit_of_a_released_reservation_is_a_conflict(pact):
    # The outbox relay records a 409 as a conflict to look at, never retries it.
    answer = _action(pact, "a commit of a released reservation", "a released reservation",
                     ORDER_RELEASED, "commit", 409)
    assert answer.status == 409


def test_release_of_a_committed_reservation_is_a_conflict(pact):
    # A cancelled paid order: the relay then asks to restock instead (below).
    answer = _action(pact, "a release of a committed reservation", "a committed reservation",
                     ORDER_COMMITTED, "release", 409)
    assert answer.status == 409


def test_restock_a_committed_reservation(pact):
    # A cancelled paid order whose reservation was committed: the units go back on sale.
    answer = _action(pact, "a restock of a committed reservation", "a committed reservation",
                     ORDER_COMMITTED_RESTOCK, "restock", 200, "restocked")
    assert answer.status == 200 and answer.body["status"] == "restocked"
    assert _relay_return(answer).outcome == "done"


def test_restock_of_a_released_reservation_is_a_conflict(pact):
    # Its stock already went back: restocking would create stock. The relay records a
    # conflict for a human, never retries it.
    answer = _action(pact, "a restock of a released reservation", "a released reservation",
                     ORDER_RELEASED_RESTOCK, "restock", 409)
    assert answer.status == 409
    assert _relay_return(answer).outcome == "conflict"


def _relay_return(restock_answer: StorefrontAnswer):
    """What the outbox relay makes of a restock answer, after the release it tries first
    was refused because the reservation is committed."""
    refused = StorefrontAnswer(409, {"status": 409, "current_status": "committed"})
    storefront = SimpleNamespace(release=lambda _order_id: refused,
                                 restock=lambda _order_id: restock_answer)
    return _reservation_return(SimpleNamespace(storefront=storefront),
                               {"order_id": ORDER_COMMITTED_RESTOCK})


def _return_restock_interaction(pact, description, order_id, return_id, quantity, status):
    path = f"/internal/reservations/{order_id}/returns/{return_id}"
    interaction = (
        pact.upon_receiving(description)
        .given("a committed reservation", product_state(order_id=order_id))
        .with_request("POST", path)
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .with_body({"items": [{"product_id": PRODUCT_ID, "quantity": quantity}]},
                   content_type="application/json")
        .will_respond_with(status)
    )
    if status == 200:
        interaction.with_body(
            {"return_id": match.uuid(return_id), "order_id": match.uuid(order_id),
             "items": match.each_like({"product_id": match.uuid(PRODUCT_ID),
                                       "quantity": match.int(quantity)}, min=1)},
            content_type="application/json")
    else:
        interaction.with_body({"status": status, "errors": match.like({})}, content_type=PROBLEM)
    with pact.serve() as server:
        storefront = client(server)
        return _return_restock(SimpleNamespace(storefront=storefront),
                               {"order_id": order_id, "return_id": return_id,
                                "items": [{"product_id": PRODUCT_ID, "quantity": quantity}]})


def test_restock_the_units_of_a_received_return(pact):
    # A return that was RECEIVED: exactly its units go back on sale, once per return.
    delivery = _return_restock_interaction(pact, "a restock of a return's units",
                                           ORDER_RETURNED, RETURN_ID, 1, 200)
    assert delivery.outcome == "done"


def test_restock_of_more_units_than_were_sold_is_refused(pact):
    # More than the reservation took (minus earlier returns) would create stock: the
    # relay records a conflict for a human, never retries it.
    delivery = _return_restock_interaction(pact, "a return restock of more units than sold",
                                           ORDER_RETURNED_TOO_MANY, RETURN_TOO_MANY_ID, 5, 422)
    assert delivery.outcome == "conflict"


def test_release_without_a_reservation_is_not_found(pact):
    # A checkout that failed before reserving: the relay treats 404 as nothing to undo.
    (
        pact.upon_receiving("a release for an order never reserved")
        .given("no reservation", {"order_id": ORDER_UNKNOWN})
        .with_request("POST", f"/internal/reservations/{ORDER_UNKNOWN}/release")
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .will_respond_with(404)
        .with_body({"status": 404, "title": match.str("Not Found")}, content_type=PROBLEM)
    )
    with pact.serve() as server:
        assert client(server).release(ORDER_UNKNOWN).status == 404


def test_jwks_publishes_the_token_verification_keys(pact):
    (
        pact.upon_receiving("a request for the public key set")
        .with_request("GET", "/internal/jwks.json")
        .will_respond_with(200)
        .with_body(
            {
                "keys": match.each_like(
                    {
                        "kty": "RSA",
                        "kid": match.str("local-1"),
                        "alg": "RS256",
                        "use": "sig",
                        "n": match.regex("sXch", regex=r"^[A-Za-z0-9_-]+$"),
                        "e": match.str("AQAB"),
                    },
                    min=1,
                )
            },
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        document = requests.get(f"{server.url}/internal/jwks.json", timeout=5).json()
    # The marketplace's verifier loads exactly this document (servicekit.auth.KeySet).
    assert "local-1" in load_jwks(_with_real_modulus(document))


def _with_real_modulus(document: dict) -> dict:
    """The example modulus is not a real key; swap in one so the loader can parse it."""
    import json

    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    return {"keys": [{**k, "n": jwk["n"], "e": jwk["e"]} for k in document["keys"]]}


ACTIVE_ACCOUNT = "5b0c1d2e-3f40-4a51-8b62-7c83d94ea5f1"
DISABLED_ACCOUNT = "6c1d2e3f-4051-4b62-9c73-8d94ea5fb602"
UNKNOWN_ACCOUNT = "7d2e3f40-5162-4c73-8d84-9ea5fb60c713"


def _account(pact, description: str, state: str | None, account_id: str, status: int,
             body: dict) -> bool:
    interaction = pact.upon_receiving(description)
    if state:
        interaction = interaction.given(state, {"account_id": account_id})
    content_type = "application/json" if status == 200 else PROBLEM
    (
        interaction.with_request("GET", f"/internal/accounts/{account_id}")
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .will_respond_with(status)
        .with_body(body, content_type=content_type)
    )
    with pact.serve() as server:
        return client(server).account_active(account_id)


def test_account_status_of_an_active_account(pact):
    # The marketplace trusts a user token only while the showcase says its account is active.
    assert _account(pact, "the status of an active account", "an active account",
                    ACTIVE_ACCOUNT, 200,
                    {"id": ACTIVE_ACCOUNT, "role": match.str("buyer"), "active": True}) is True


def test_account_status_of_a_disabled_account(pact):
    assert _account(pact, "the status of a disabled account", "a disabled account",
                    DISABLED_ACCOUNT, 200,
                    {"id": DISABLED_ACCOUNT, "role": match.str("buyer"), "active": False}) is False


def test_account_status_of_an_unknown_account(pact):
    assert _account(pact, "the status of an account that does not exist", None,
                    UNKNOWN_ACCOUNT, 404,
                    {"status": 404, "title": match.str("Not Found")}) is False


def test_witness_refuses_a_checkpoint_the_log_did_not_sign(pact):
    """The audit-log worker's call to the showcase's witness (DESIGN.md §9): a C2SP
    tlog-witness add-checkpoint body; a checkpoint signed by a key the witness does not
    trust is refused with a 403 problem naming the reason (the worker records it and
    alerts). A fixed key keeps the pact's body the same on every run."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from servicekit import tlog
    from transaction_service.clients.witness import add_checkpoint_body

    stranger = tlog.Signer("etalase.test/marketplace/audit",
                           Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    note = stranger.sign_note(tlog.Checkpoint("etalase.test/marketplace/audit", 1,
                                              tlog.leaf_hash(b"pact")).body())
    (
        pact.upon_receiving("a checkpoint signed by a key the witness does not trust")
        .given("the witness trusts only the marketplace's log key")
        .with_request("POST", "/internal/witness/add-checkpoint")
        .with_header("X-Internal-Token", TOKEN_HEADER)
        .with_body(add_checkpoint_body(0, [], note), content_type="text/plain; charset=utf-8")
        .will_respond_with(403)
        .with_body(
            {
                "status": 403,
                "type": match.regex(
                    "https://etalase.dev/problems/witness-bad-signature",
                    regex=r"^https://etalase\.dev/problems/witness-bad-signature$",
                ),
                "reason": "bad-signature",
                "detail": match.str("not a checkpoint signed by the log"),
            },
            content_type=PROBLEM,
        )
    )
    with pact.serve() as server:
        answer = WitnessClient(str(server.url), CONSUMER_INTERNAL_TOKEN,
                               timeout_seconds=5).add_checkpoint(0, [], note)
    assert answer.status == 403 and answer.cosignature is None
    assert "signed by the log" in answer.detail
