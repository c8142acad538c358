"""`servicekit.openapi.ProblemResponses`: the one way a view documents its problems."""

from __future__ import annotations

import pytest
from flask_smorest import Blueprint

from servicekit.app import build_app
from servicekit.openapi import ProblemResponses

problems = ProblemResponses({404: "Not found.", 409: "Conflict."}, fallback="Problem.")


def _document(decorate) -> dict:
    app, api = build_app(import_name=__name__, service="sample", title="t", version="1",
                         settings={}, database=None, migrations_dir=None, log_level="WARNING")
    blp = Blueprint("sample", __name__, url_prefix="/api/v1/sample")

    @blp.route("/thing", methods=["GET"])
    @decorate(blp)
    def thing():
        return {}

    api.register_blueprint(blp)
    with app.test_client() as client:
        return client.get("/openapi.json").get_json()["paths"]["/api/v1/sample/thing"]["get"]


def test_defaults_overrides_and_fallback_as_problem_json():
    responses = _document(lambda blp: problems(blp, 404, 409, 422, s409="Stock ran out."))
    got = {status: answer["description"] for status, answer in responses["responses"].items()
           if status in ("404", "409", "422")}
    assert got == {"404": "Not found.", "409": "Stock ran out.", "422": "Problem."}
    content = responses["responses"]["404"]["content"]
    assert list(content) == ["application/problem+json"]
    assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_an_override_of_an_undeclared_status_is_refused():
    with pytest.raises(TypeError, match="s490"):
        problems(Blueprint("x", __name__), 404, s490="typo")
