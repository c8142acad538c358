"""Domain errors become problems once, at the edge, by one table (servicekit.problems)."""

import pytest

from servicekit import errors
from servicekit.problems import DOMAIN_ERRORS, problem_from_domain
from storefront_service.api.common import ERRORS as SHOWCASE_ERRORS
from storefront_service.domain.errors import AuthenticationFailed
from transaction_service.api import ERRORS as MARKETPLACE_ERRORS
from transaction_service.domain.orders import IllegalTransition, OrderStatus


def test_each_kind_answers_its_status_and_title():
    answers = {kind: (status, title) for kind, status, title, *_ in DOMAIN_ERRORS}
    assert answers[errors.NotFound] == (404, "Not Found")
    assert answers[errors.Conflict] == (409, "Conflict")
    assert answers[errors.Invalid] == (422, "Validation failed")
    assert answers[errors.Unavailable] == (503, "Service Unavailable")


def test_the_error_gives_detail_slug_title_fields_errors_and_retry_after():
    problem = problem_from_domain(errors.Conflict(
        "The refund exceeds what is left.", title="Refund refused",
        slug="refund-exceeds-remaining", errors={"amount": ["Too much."]}, retry_after=5,
        remaining=100))
    body = problem.to_dict()
    assert (problem.status, body["title"], body["detail"], body["type"]) == (
        409, "Refund refused", "The refund exceeds what is left.",
        "https://etalase.dev/problems/refund-exceeds-remaining")
    assert body["errors"] == {"amount": ["Too much."]} and body["remaining"] == 100
    assert problem.headers == {"Retry-After": "5"}


def test_a_subclass_row_comes_first():
    problem = problem_from_domain(errors.AccountInactive())
    assert (problem.status, problem.slug) == (401, "account-inactive")
    assert problem.headers["WWW-Authenticate"].endswith('error="invalid_token"')
    assert "WWW-Authenticate" not in problem_from_domain(
        errors.Unauthenticated("Bad signature.", slug="invalid-signature")).headers


def test_each_service_puts_its_own_kinds_before_the_shared_ones():
    table = [*MARKETPLACE_ERRORS, *DOMAIN_ERRORS]
    problem = problem_from_domain(IllegalTransition(OrderStatus.COMPLETED,
                                                    OrderStatus.CANCELLED), table)
    assert (problem.status, problem.title, problem.slug) == (
        409, "Illegal transition", "illegal-transition")
    assert problem.extra == {"current_status": "COMPLETED", "requested_status": "CANCELLED"}
    problem = problem_from_domain(AuthenticationFailed("Wrong password."),
                                  [*SHOWCASE_ERRORS, *DOMAIN_ERRORS])
    assert problem.status == 401 and problem.headers == {
        "WWW-Authenticate": 'Bearer realm="etalase"'}


def test_an_unmapped_kind_is_a_bug_not_an_answer():
    class Unmapped(errors.DomainError):
        pass

    with pytest.raises(Unmapped):
        problem_from_domain(Unmapped("?"))
