"""Client of the showcase's witness (DESIGN.md §9): submit a checkpoint with a consistency
proof from the last one it cosigned, get its cosignature back.

The request body is C2SP tlog-witness's `add-checkpoint` body:

    old <size the proof starts from>
    <base64 proof hash>            (one line each)
    <blank line>
    <the signed checkpoint note>

Resubmitting the same checkpoint is idempotent on the witness's side (it cosigns again), so
the call may be retried.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from servicekit import tlog
from servicekit.http import json_or_none, make_session

WITNESS_PATH = "/internal/witness/add-checkpoint"


class WitnessUnavailable(Exception):
    """No useful answer (down, timeout, 5xx, our credential refused)."""


@dataclass(frozen=True)
class WitnessAnswer:
    status: int
    cosignature: str | None = None  # signature line(s), on 200
    detail: str = ""
    witness_size: int | None = None  # on 409: the size the witness has cosigned


def add_checkpoint_body(old_size: int, proof: list[bytes], note: str) -> str:
    return f"old {old_size}\n" + "".join(tlog.b64(p) + "\n" for p in proof) + "\n" + note


class WitnessClient:
    def __init__(self, base_url: str, internal_token: str, *, timeout_seconds: float = 3.0,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.internal_token = internal_token
        self.timeout = (min(2.0, timeout_seconds), timeout_seconds)
        self.session = session or make_session(methods=frozenset({"POST"}), trust_env=False)

    def add_checkpoint(self, old_size: int, proof: list[bytes], note: str) -> WitnessAnswer:
        try:
            response = self.session.post(
                self.base_url + WITNESS_PATH,
                data=add_checkpoint_body(old_size, proof, note).encode(),
                headers={"X-Internal-Token": self.internal_token,
                         "Content-Type": "text/plain; charset=utf-8"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise WitnessUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (401, 429):
            raise WitnessUnavailable(f"the witness answered {response.status_code}")
        if response.status_code == 200:
            return WitnessAnswer(200, cosignature=response.text)
        problem = json_or_none(response)
        problem = problem if isinstance(problem, dict) else {}
        size = problem.get("tree_size")
        return WitnessAnswer(response.status_code,
                             detail=str(problem.get("detail") or response.reason),
                             witness_size=size if isinstance(size, int) else None)
