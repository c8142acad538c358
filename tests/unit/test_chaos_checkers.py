"""The checkers of `make chaos` (tools/chaos.py, tools/chaos_webhooks.py) as pure
functions: which client outcomes are answers cut off by a killed web process (allowed only
while a fault kills one), and how the webhook check judges deliveries read when none was
pending. No stack, no I/O."""

from __future__ import annotations

import http.client
import json

import pytest
import requests
from urllib3.exceptions import IncompleteRead, ProtocolError

from tools import chaos, chaos_webhooks

BODY = json.dumps({"checkout": {"id": "c1"}, "orders": [{"id": "o1"}]}).encode()


def _response(status: int, body: bytes, headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update({"Content-Type": "application/json", **(headers or {})})
    response._content = body
    return response


# What requests raises when nginx closes the connection short of the body (reproduced
# against nginx 1.22 with an upstream killed after its headers / mid-body).
INCOMPLETE = requests.exceptions.ChunkedEncodingError(ProtocolError(
    "Connection broken: IncompleteRead(40 bytes read, 243 more expected)",
    IncompleteRead(40, 243)))
NO_LAST_CHUNK = requests.exceptions.ChunkedEncodingError(
    ProtocolError("Response ended prematurely"))


@pytest.mark.parametrize("response, error", [
    (None, INCOMPLETE),
    (None, NO_LAST_CHUNK),
    (_response(201, BODY[:20], {"Content-Length": str(len(BODY))}), None),
])
def test_an_answer_cut_after_its_headers_is_a_cut(response, error):
    assert chaos.answer_cut(response, error)


@pytest.mark.parametrize("response, error", [
    # nginx itself did not answer: refused, closed or reset before a status line, silent.
    (None, requests.exceptions.ConnectionError("Connection refused")),
    (None, requests.exceptions.ConnectionError(ProtocolError(
        "Connection aborted.",
        http.client.RemoteDisconnected("Remote end closed connection without response")))),
    (None, requests.exceptions.ReadTimeout("read timeout=30")),
    # Complete answers, whatever they say.
    (_response(201, BODY, {"Content-Length": str(len(BODY))}), None),
    (_response(502, b"<html>Bad Gateway</html>", {"Content-Length": "24"}), None),
    (_response(500, b"oops", {}), None),  # no Content-Length: nothing to measure against
    (_response(204, b"", {"Content-Length": "0"}), None),
    # A compressed body's Content-Length counts the compressed bytes.
    (_response(200, BODY, {"Content-Length": str(len(BODY) * 2),
                           "Content-Encoding": "gzip"}), None),
])
def test_other_outcomes_are_not_cuts(response, error):
    assert chaos.answer_cut(response, error) is None


def _outcome(at: float, latency_s: float, cut: str | None = "ChunkedEncodingError: x",
             defect: str | None = None) -> chaos.Outcome:
    return chaos.Outcome("checkout", at, None, latency_s * 1000, defect=defect, cut=cut)


def test_cuts_are_allowed_only_while_a_fault_kills_web_processes():
    windows = [(3.0, 8.5)]  # kill-master: injected at 3.0 s, restarted by 8.5 s
    during = _outcome(2.5, 1.0)  # in flight when the master died
    in_restart = _outcome(8.0, 0.9)  # orphaned workers killed while restarting
    before, after = _outcome(0.5, 0.2), _outcome(11.0, 0.1)
    not_cut = _outcome(0.5, 0.2, cut=None)
    already = _outcome(0.5, 0.2, cut=None, defect="no answer: ConnectionError: refused")
    chaos.judge_cuts([during, in_restart, before, after, not_cut, already], windows)
    assert during.defect is None and in_restart.defect is None
    assert before.defect and "outside any fault" in before.defect
    assert after.defect and "outside any fault" in after.defect
    assert not_cut.defect is None
    assert already.defect == "no answer: ConnectionError: refused"
    assert (during.label, not_cut.label, _outcome(1, 1, cut=None, defect="x").label) == (
        "cut", "no-answer", "no-answer")


def test_without_faults_every_cut_is_a_defect():
    outcome = _outcome(4.0, 0.3)
    chaos.judge_cuts([outcome], [])
    assert outcome.defect


def test_webhooks_all_delivered_once_is_clean():
    settled = {"msg_a": "delivered", "msg_b": "delivered"}
    assert chaos_webhooks.judge(settled, ["msg_a", "msg_b", "msg_b"], set(settled), []) == []


def test_webhooks_an_event_made_after_the_settled_reading_is_not_judged():
    # msg_late was committed (and even received) after the reading with nothing pending.
    settled = {"msg_a": "delivered"}
    assert chaos_webhooks.judge(settled, ["msg_a", "msg_late"], {"msg_a", "msg_late"},
                                []) == []


@pytest.mark.parametrize("settled, received, after, expected", [
    ({"msg_a": "delivered", "msg_b": "failed"}, ["msg_a"], {"msg_a", "msg_b"},
     ["1 committed event(s) never delivered", "1 deliveries not marked delivered"]),
    ({"msg_a": "pending"}, [], {"msg_a"},  # the wait for it ran out
     ["never delivered", "still pending after"]),
    ({"msg_a": "delivered"}, ["msg_a", "msg_x"], {"msg_a"}, ["no committed event"]),
    ({}, [], set(), ["produced no event"]),
])
def test_webhooks_defects_still_fail(settled, received, after, expected):
    violations = " | ".join(chaos_webhooks.judge(settled, received, after, []))
    assert all(text in violations for text in expected), violations


def test_webhooks_unverified_signature_fails():
    violations = chaos_webhooks.judge({"msg_a": "delivered"}, ["msg_a"], {"msg_a"}, ["msg_a"])
    assert violations and "did not verify" in violations[0]
