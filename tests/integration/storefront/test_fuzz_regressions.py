"""Regressions found by fuzzing the public API (tests/fuzz): each once answered 500."""

from __future__ import annotations


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return response.json()


def test_login_with_a_nul_character_in_the_email_is_a_validation_error(storefront):
    response = storefront.api.post(
        "/api/v1/auth/login", json={"email": "buyer\u0000@etalase.test", "password": "x"}
    )
    body = _assert_problem(response, 422)
    assert "email" in body["errors"]
