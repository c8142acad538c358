"""The public OpenAPI document: merged from both services, in step with the gateway's route
table, committed for compose, and served by the gateway with a local reference page.

Only the last tests need the stack; the others build the documents in-process (no database).
"""

from __future__ import annotations

import re

import pytest
import requests

from gateway import openapi
from gateway.build import build_config, compose_settings
from gateway.routes import ROUTES, route_for

PROBLEM = "application/problem+json"
SAMPLE_PARAMETERS = {"provider": "sandbox"}  # path parameters that are not ids


@pytest.fixture(scope="module")
def service_documents() -> dict[str, dict]:
    return {service: openapi.service_document(service) for service in openapi.SERVICES}


@pytest.fixture(scope="module")
def merged(service_documents) -> dict:
    return openapi.merge(service_documents)


def concrete(path: str) -> str:
    """A request path matching the template, e.g. /orders/{order_id} -> /orders/<uuid>."""
    return re.sub(
        r"\{([^}]+)\}",
        lambda m: SAMPLE_PARAMETERS.get(m.group(1), "0b6f3c52-7a3e-4d8e-9d43-2f9a1c7e5b10"),
        path,
    )


def _response(document: dict, response: dict) -> dict:
    if "$ref" in response:
        return document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


# --------------------------------------------------------------------------- route table


def test_every_documented_operation_is_routed_to_its_service(service_documents):
    problems = []
    for service, document in service_documents.items():
        for path, method, _ in openapi.operations(document):
            if not openapi.is_public(path):
                continue
            route = route_for(concrete(path), with_sandbox=False)
            if route is None:
                problems.append(f"{method} {path} ({service}) is documented but not routed")
            elif route.upstream != service:
                problems.append(f"{method} {path} is {service}'s but routed to {route.upstream}")
            elif method not in route.methods:
                problems.append(f"{method} {path}: the gateway route {route.prefix} refuses it")
    assert not problems, "\n".join(problems)


def test_every_routed_path_and_method_is_documented(merged):
    documented = [(concrete(p), m) for p, m, _ in openapi.operations(merged)]
    problems = []
    for route in ROUTES:
        if route.sandbox_only:  # local/compose tooling, not the public API (own document)
            continue
        for method in route.methods:
            if not any(
                m == method and route_for(path, with_sandbox=False) is route
                for path, m in documented
            ):
                problems.append(f"route {route.prefix} allows {method} but documents none")
    assert not problems, "\n".join(problems)


def test_the_public_document_leaves_out_internal_endpoints(service_documents, merged):
    paths = set(merged["paths"])
    assert all(p.startswith("/api/v1/") for p in paths), paths
    # ...while the services do document them in their own documents.
    assert "/internal/reservations" in service_documents["storefront"]["paths"]
    assert "internalToken" not in merged["components"]["securitySchemes"]
    assert not [n for n in merged["components"]["schemas"] if n.startswith("Reservation")]


# --------------------------------------------------------------------------- content


def test_every_operation_documents_problem_errors_security_and_examples(merged):
    schemes = merged["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    problem = merged["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    gaps = []
    for path, method, op in openapi.operations(merged):
        where = f"{method} {path}"
        responses = op["responses"]
        for status, response in responses.items():
            content = _response(merged, response).get("content", {})
            if (status == "default" or status[0] in "45") and list(content) != [PROBLEM]:
                gaps.append(f"{where} {status} is not documented as {PROBLEM}: {list(content)}")
        if "default" not in responses:
            gaps.append(f"{where} has no default (problem) response")
        if not any(s.startswith("2") for s in responses):
            gaps.append(f"{where} documents no success response")
        if op.get("security"):
            if "401" not in responses:
                gaps.append(f"{where} is secured but documents no 401")
        body = op.get("requestBody")
        if body:
            if "422" not in responses:
                gaps.append(f"{where} takes a body but documents no 422")
            media = body["content"]["application/json"]
            if "example" not in media and "examples" not in media:
                gaps.append(f"{where} has no request example")
        if not op.get("summary") and not op.get("description"):
            gaps.append(f"{where} has no summary")
    assert not gaps, "\n".join(gaps)


def test_money_is_documented_as_integer_rupiah(merged):
    money = merged["components"]["schemas"]["Money"]
    assert money["properties"]["amount"]["type"] == "integer"
    price = merged["components"]["schemas"]["Product"]["properties"]["price"]
    assert "#/components/schemas/Money" in str(price)


def test_merge_shares_identical_components_and_prefixes_colliding_ones():
    def doc(path: str, widget: dict) -> dict:
        return {
            "openapi": "3.0.3",
            "paths": {
                path: {"get": {"responses": {"200": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Widget"}}}}}}},
                "/internal/x": {"get": {"responses": {"200": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Secret"}}}}}}},
            },
            "components": {"schemas": {
                "Widget": widget,
                "Shared": {"type": "string"},
                "Secret": {"type": "object"},
            }},
            "tags": [],
        }

    widget_a = {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/Shared"}}}
    widget_b = {"type": "object", "properties": {"b": {"type": "integer"}}}
    merged = openapi.merge(
        {"storefront": doc("/api/v1/a", widget_a), "transaction": doc("/api/v1/b", widget_b)}
    )
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"ShowcaseWidget", "MarketplaceWidget", "Shared"}
    assert schemas["ShowcaseWidget"] == widget_a
    ref = merged["paths"]["/api/v1/b"]["get"]["responses"]["200"]["content"]
    assert ref["application/json"]["schema"]["$ref"] == "#/components/schemas/MarketplaceWidget"
    assert "/internal/x" not in merged["paths"]


# --------------------------------------------------------------------------- generated files


def test_committed_document_is_up_to_date(merged):
    committed = openapi.GENERATED_DOCUMENT.read_text()
    assert committed == openapi.render(merged), (
        "gateway/generated/openapi.json is stale: run "
        "`python -m gateway.openapi --out gateway/generated/openapi.json` (make openapi)"
    )


def test_compose_gateway_serves_the_document_and_the_page():
    text = build_config(compose_settings())
    assert "location = /api/v1/openapi.json" in text
    assert "alias /srv/etalase/apidocs/openapi.json;" in text
    assert "location ^~ /api/docs/" in text


def test_reference_page_uses_only_local_assets(tmp_path, merged):
    site = openapi.write_site(tmp_path / "site", merged)
    html = (site / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith(openapi.DOCS_PATH + "/") for s in sources), sources
    for source in sources:
        assert (site / source.removeprefix(openapi.DOCS_PATH + "/")).stat().st_size > 0
    assert "<script>" not in html  # no inline script: a strict CSP can allow 'self' only
    assert "data-spec-url=\"/api/v1/openapi.json\"" in html


# --------------------------------------------------------------------------- the gateway


def test_gateway_serves_the_merged_document(stack, merged):
    response = requests.get(f"{stack.urls.gateway}{openapi.DOCUMENT_PATH}", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers.get("X-Request-ID")
    assert response.json() == merged


def test_gateway_serves_the_reference_page_and_its_assets(stack):
    base = stack.urls.gateway
    page = requests.get(f"{base}{openapi.DOCS_PATH}", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "swagger-ui" in page.text
    for source in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        asset = requests.get(base + source, timeout=10)
        assert asset.status_code == 200, source
    js = requests.get(f"{base}{openapi.DOCS_PATH}/swagger-ui-bundle.js", timeout=10)
    assert "javascript" in js.headers["Content-Type"]
    assert requests.get(f"{base}{openapi.DOCS_PATH}/", timeout=10).status_code == 200
    missing = requests.get(f"{base}{openapi.DOCS_PATH}/nope.js", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith(PROBLEM)
    post = requests.post(f"{base}{openapi.DOCUMENT_PATH}", timeout=10)
    assert post.status_code == 405
