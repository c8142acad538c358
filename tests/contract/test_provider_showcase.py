"""Provider side: the real showcase (storefront under gunicorn, its Postgres) honours the
marketplace's pact, and a pact whose field the showcase does not provide fails."""

from __future__ import annotations

import json

import pytest
from pact import Verifier
from pact_support import MARKETPLACE_SHOWCASE_PACT, SHOWCASE
from provider_states import ShowcaseStates


def showcase_verifier(stack, pact_file, states: ShowcaseStates) -> Verifier:
    return (
        Verifier(SHOWCASE, host="127.0.0.1")
        .add_transport(url=stack.urls.storefront)
        .add_source(str(pact_file))
        # The pact holds a placeholder credential; the stack's real one replaces it.
        .add_custom_header("X-Internal-Token", stack.secrets["internal_token"])
        .state_handler(states, teardown=False)
        .set_request_timeout(10_000)
    )


def test_showcase_honours_the_marketplace_pact(contract_stack):
    assert MARKETPLACE_SHOWCASE_PACT.exists(), "run the consumer tests first"
    paths = {i["request"]["path"]
             for i in json.loads(MARKETPLACE_SHOWCASE_PACT.read_text())["interactions"]}
    # the outbox relay's stock return for a cancelled paid order is part of the contract
    assert any(path.endswith("/restock") for path in paths), sorted(paths)
    states = ShowcaseStates(contract_stack)
    try:
        showcase_verifier(contract_stack, MARKETPLACE_SHOWCASE_PACT, states).verify()
    finally:
        assert not states.errors, states.errors
    for state in ("an active reservation", "a committed reservation", "a released reservation"):
        assert (state, "setup") in states.calls


def test_a_renamed_response_field_breaks_the_showcase_contract(contract_stack, tmp_path):
    """The marketplace suddenly reads `unit_cost`: the real showcase does not send it."""
    pact = json.loads(MARKETPLACE_SHOWCASE_PACT.read_text())
    reserve = next(i for i in pact["interactions"] if i["response"]["status"] == 201)
    body = reserve["response"]["body"]["content"]
    for item in body["items"]:
        item["unit_cost"] = item.pop("unit_price")
    pact["interactions"] = [reserve]  # one interaction: fast, and its state handler works
    altered = tmp_path / MARKETPLACE_SHOWCASE_PACT.name
    altered.write_text(json.dumps(pact))
    states = ShowcaseStates(contract_stack)
    verifier = showcase_verifier(contract_stack, altered, states)
    with pytest.raises(RuntimeError):
        verifier.verify()
    assert not states.errors, states.errors
    assert "missing the following keys: unit_cost" in verifier.output(strip_ansi=True)
