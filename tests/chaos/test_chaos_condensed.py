"""A condensed `make chaos` (tools/chaos.py): a short checkout-and-pay load on a stack of
its own (processes get killed, so never the shared session stack) with three faults, then
every post-chaos assertion: no oversold stock, no paid order lost or stuck, no reservation
open past expiry, ledger invariants and audit chain, and problem+json for every failure.
"""

from __future__ import annotations

import json

import pytest
import requests

from tools import chaos, shopper
from tools.stacks import throwaway_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A worker process killed whole (the sandbox's: a delivery cut mid-send) and one loop
# killed alone inside the marketplace's (the relay: its process and other loops run on).
CONDENSED_FAULTS = ("kill-master:transaction", "kill-process:sandbox-workers", "slow:storefront",
                    "kill-loop:outbox-relay", "kill-master:sandbox")


def test_invariants_hold_through_killed_and_frozen_services():
    with throwaway_stack("etalase-chaos-test-", **chaos.chaos_stack_kwargs()) as stack:
        report = chaos.run(stack, duration=16, fault_names=CONDENSED_FAULTS, concurrency=6,
                           buyers=3, catch_up_timeout=40, log=lambda _m: None)
    text = chaos.render(report)
    assert report.ok, text
    assert [f["fault"] for f in report.faults] == list(CONDENSED_FAULTS)
    assert all("error" not in f for f in report.faults), text
    # The run did real work on both sides of the faults.
    assert report.facts["reserved_committed"] >= 20, text
    assert report.facts["orders_by_status"].get("AWAITING_SHIPMENT", 0) >= 20, text
    assert report.facts["returns_opened"] >= 1, text  # returns were in the mix


def _response(status: int, content_type: str, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = content_type
    response._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return response


@pytest.mark.parametrize("response, defect", [
    (_response(503, "application/problem+json",
               {"type": "x", "title": "Service Unavailable", "status": 503}), None),
    (_response(502, "text/html", b"<html>Bad Gateway</html>"), "Content-Type text/html"),
    (_response(500, "application/problem+json", b"oops"), "body is not JSON"),
    (_response(503, "application/problem+json", {"title": "x", "status": 503}), "missing type"),
    (_response(503, "application/problem+json", {"type": "x", "title": "x", "status": 500}),
     "status 500 in a 503 response"),
])
def test_problem_documents_are_recognised(response, defect):
    assert shopper.problem_defect(response) == defect
