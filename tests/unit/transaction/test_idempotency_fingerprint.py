from __future__ import annotations

from transaction_service.domain.idempotency import (
    MAX_KEY_LENGTH,
    canonical_body,
    key_problem,
    request_fingerprint,
)


def test_same_document_differently_serialised_is_the_same_request():
    a = b'{"items": [{"product_id": "p", "quantity": 1}], "payment_method": "ewallet"}'
    b = b'{"payment_method":"ewallet","items":[{"quantity":1,"product_id":"p"}]}'
    assert request_fingerprint("POST", "/api/v1/checkout", a) == request_fingerprint(
        "post", "/api/v1/checkout", b
    )


def test_any_change_makes_a_different_request():
    base = request_fingerprint("POST", "/api/v1/checkout", b'{"a": 1}')
    assert base != request_fingerprint("POST", "/api/v1/checkout", b'{"a": 2}')
    assert base != request_fingerprint("POST", "/api/v1/checkout", b'{"a": 1, "b": null}')
    assert base != request_fingerprint("PUT", "/api/v1/checkout", b'{"a": 1}')
    assert base != request_fingerprint("POST", "/api/v1/orders/x/cancel", b'{"a": 1}')
    # list order is meaningful
    assert request_fingerprint("POST", "/p", b"[1, 2]") != request_fingerprint(
        "POST", "/p", b"[2, 1]"
    )
    # a number is not its string
    assert request_fingerprint("POST", "/p", b'{"q": 1}') != request_fingerprint(
        "POST", "/p", b'{"q": "1"}'
    )


def test_non_json_bodies_are_compared_raw_and_empty_is_empty():
    assert canonical_body(b"") == b""
    assert canonical_body(b"not json") == b"raw:not json"
    assert canonical_body(b"{}") == b"json:{}"
    assert request_fingerprint("POST", "/p", b"") != request_fingerprint("POST", "/p", b"{}")


def test_key_rules():
    assert key_problem(None) == "missing"
    assert key_problem("") is not None
    assert key_problem("   ") is not None
    assert key_problem("k" * MAX_KEY_LENGTH) is None
    assert key_problem("k" * (MAX_KEY_LENGTH + 1)) is not None
    assert key_problem("abc\x00def") is not None
    assert key_problem("3f2b9c1e-checkout-1") is None
