"""Property-based fuzzing of both services' public OpenAPI documents (schemathesis).

Every public operation gets schema examples, valid and invalid generated data, sent with a
real Bearer token of the role it needs (fresh fuzz accounts; see conftest.py). Checks:

* no 5xx, ever;
* status codes, content types and bodies conform to the documented responses;
* invalid input is rejected with a 4xx;
* every 4xx is a problem document (`application/problem+json` with type, title, status).

`make test` runs a few examples per operation; `make fuzz` many (FUZZ_MAX_EXAMPLES), at
random (FUZZ_RANDOM=1).
"""

from __future__ import annotations

import json
import os
import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from gateway import openapi

EXAMPLE_ID = "0b6f3c52-7a3e-4d8e-9d43-2f9a1c7e5b10"

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "4"))
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the checkout
    # The same examples every run (CI), unless FUZZ_RANDOM=1 (make fuzz) explores anew.
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    suppress_health_check=list(HealthCheck),
)

# Which fuzz account calls an operation that needs a token: (method, path regex) -> role.
ROLES = [
    ("POST", r"^/api/v1/(shops|products)$", "seller"),
    ("PATCH", r"^/api/v1/products/", "seller"),
    ("POST", r"^/api/v1/contents$", "creator"),
    ("POST", r"^/api/v1/orders/[^/]+/ship$", "seller"),
    ("POST", r"^/api/v1/orders/[^/]+/deliver$", "seller"),
    ("POST", r"^/api/v1/returns/[^/]+/(approve|reject|offer|received)$", "seller"),
    ("POST", r"^/api/v1/returns/[^/]+/resolve$", "admin"),
    ("*", r"^/api/v1/sellers/me/", "seller"),
    ("*", r"^/api/v1/creators/me/", "creator"),
    ("*", r"^/api/v1/admin/", "admin"),
    ("*", r"^/api/v1/webhooks/", "seller"),
    ("*", r"^/api/v1/", "buyer"),  # auth/me, cart, checkout, orders, cancel, confirm
]


def role_for(method: str, path: str, secured: bool) -> str | None:
    if not secured:
        return None
    for wanted, pattern, role in ROLES:
        if wanted in ("*", method) and re.search(pattern, path):
            return role
    raise AssertionError(f"no fuzz role for {method} {path}")


def problem_document(ctx, response, case):
    """Every 4xx answer is RFC 9457 problem+json with type, title and status."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/problem+json"), (
        f"{response.status_code} answered with Content-Type {content_type!r}"
    )
    body = json.loads(response.content)
    missing = [k for k in ("type", "title", "status") if k not in body]
    assert not missing, f"problem document without {missing}: {body}"
    assert body["status"] == response.status_code, body
    return True


def invalid_data_rejected(ctx, response, case):
    """schemathesis' negative_data_rejection, except when the mutation is an undeclared
    query parameter (`?x=1`): the API ignores unknown query parameters (documented
    convention; OpenAPI cannot forbid them), so that is not invalid data."""
    declared = {
        p["name"] for p in case.operation.definition.raw.get("parameters", [])
        if p.get("in") == "query"
    }
    if case.query and set(case.query) - declared:
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    invalid_data_rejected,
    problem_document,
]


def _operations(with_body: bool = False) -> list[tuple[str, str, str]]:
    """(service, METHOD, path) of every public operation; the documents need no database,
    so the list is known at collection time and each operation is its own test."""
    out = []
    for service in openapi.SERVICES:
        for path, method, op in openapi.operations(openapi.service_document(service)):
            if openapi.is_public(path) and (op.get("requestBody") or not with_body):
                out.append((service, method, path))
    return out


def run_case(case, actors) -> None:
    operation = case.operation
    secured = bool(operation.definition.raw.get("security"))
    role = role_for(operation.method.upper(), operation.path, secured)
    headers = {**actors.headers(role), "X-Request-ID": "fuzz"}
    case.call_and_validate(headers=headers, checks=CHECKS)


@pytest.mark.parametrize(
    ("service", "method", "path"),
    _operations(),
    ids=lambda value: value if isinstance(value, str) else None,
)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_public_operation(request, service, method, path, mode, actors):
    schema = request.getfixturevalue(f"{service}_schema")
    operation = schema[path][method]
    raw = operation.definition.raw
    if (mode == GenerationMode.NEGATIVE and not raw.get("parameters")
            and not raw.get("requestBody") and not raw.get("security")):
        pytest.skip("nothing to make invalid: no parameters, body or credentials")

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        run_case(case, actors)

    fuzz()


@pytest.mark.parametrize(
    ("service", "method", "path"),
    _operations(with_body=True),
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_documented_request_example(request, service, method, path, actors):
    """The document's request example, sent as is (its ids name nothing here): no 5xx, and
    the answer is documented."""
    schema = request.getfixturevalue(f"{service}_schema")
    operation = schema[path][method]
    raw = operation.definition.raw
    media = raw.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "example" not in media:
        pytest.fail(f"{method} {path} documents no request example")
    path_parameters = {
        parameter.name: "sandbox" if parameter.name == "provider" else EXAMPLE_ID
        for parameter in operation.path_parameters
    }
    headers = {"Idempotency-Key": f"example-{uuid.uuid4()}"}
    case = operation.Case(body=media["example"], path_parameters=path_parameters,
                          headers=headers)
    run_case(case, actors)
