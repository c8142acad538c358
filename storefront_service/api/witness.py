"""The witness of the marketplace's transparency log (DESIGN.md §9), on the internal API.

`POST /internal/witness/add-checkpoint` takes C2SP tlog-witness's add-checkpoint body
(text/plain) and answers the witness's cosignature line (`cosignature/v1`) as text/plain,
or a problem: 403 not signed by the log, 409 the proof starts from a size other than the
largest cosigned one (`tree_size` says which), 422 the checkpoint is inconsistent with what
was cosigned (the log was rewritten or forked), 400 malformed. Every refusal is stored,
logged at ERROR and counted in `witness_refusals_total{reason}`: the alert.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from pathlib import Path

from flask import Response, request
from flask_smorest import Blueprint
from prometheus_client import Counter

from servicekit import tlog
from servicekit.problems import Problem

from ..domain import witness as rules
from ..store import witness as witness_store
from .common import INTERNAL, internal_caller, problems
from .context import ctx

log = logging.getLogger("storefront.witness")

WITNESS_REFUSALS = Counter(
    "witness_refusals_total", "Checkpoints of the marketplace's log the witness refused",
    ["reason"],
)
WITNESS_COSIGNATURES = Counter(
    "witness_cosignatures_total", "Checkpoints of the marketplace's log the witness cosigned",
)

blp = Blueprint("witness", __name__, url_prefix="/internal/witness",
                description="Witness of the marketplace's transparency log (service-to-service).")

MAX_BODY = 64 * 1024


@lru_cache(maxsize=4)
def _signer(name: str, key_file: str) -> tlog.Signer:
    return tlog.Signer.from_pem(name, Path(key_file).read_bytes(), cosigner=True)


@lru_cache(maxsize=4)
def _log_verifiers(vkeys_file: str) -> tuple[tlog.Verifier, ...]:
    lines = Path(vkeys_file).read_text(encoding="utf-8").splitlines()
    return tuple(tlog.Verifier.parse(x) for x in lines if x.strip() and not x.startswith("#"))


def _unconfigured() -> Problem:
    return Problem(503, "Service Unavailable", "The witness has no key configured.",
                   slug="witness-unconfigured", headers={"Retry-After": "30"})


@blp.route("/add-checkpoint", methods=["POST"])
@internal_caller
@blp.doc(
    security=INTERNAL,
    requestBody={"required": True, "content": {"text/plain": {"schema": {"type": "string"},
                 "example": "old 3\n<base64 proof hash>\n\nexample/log\n5\n<root>\n\n— ..."}}},
    responses={"200": {"description": "The cosignature line(s).",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
@problems(blp, 401, 403, 409, 422, 503)
def add_checkpoint():
    """Verify the log's signature and the consistency proof from the largest checkpoint
    cosigned so far; store and cosign, or refuse (and alert)."""
    cfg = ctx().config
    if not cfg.witness_key_file or not cfg.witness_log_vkeys_file:
        raise _unconfigured()
    if (request.content_length or 0) > MAX_BODY:
        raise Problem(413, "Payload Too Large", "The checkpoint request is too large.",
                      slug="too-large")
    try:
        body = request.get_data(cache=False, as_text=False)[:MAX_BODY + 1].decode("utf-8")
    except UnicodeDecodeError:
        body = None
    signer = _signer(cfg.witness_name, cfg.witness_key_file)
    verifiers = _log_verifiers(cfg.witness_log_vkeys_file)
    origin = cfg.witness_log_origin
    parsed = None
    with ctx().database.transaction() as cursor:
        try:
            if body is None:
                raise rules.Refusal(400, "malformed", "the body is not UTF-8 text")
            parsed = rules.parse_request(body)
            witness_store.lock_log(cursor, origin)
            cosigned = witness_store.largest_cosigned(cursor, origin)
            checkpoint = rules.evaluate(parsed, origin=origin, log_verifiers=verifiers,
                                        cosigned=cosigned)
            line = signer.cosign(checkpoint.body(), int(time.time()))
            witness_store.record_cosigned(cursor, origin=origin, tree_size=checkpoint.size,
                                          root_hash=checkpoint.root_hash, note=parsed.note,
                                          cosignature=line)
        except rules.Refusal as refusal:
            witness_store.record_refusal(
                cursor, origin=origin, old_size=parsed.old_size if parsed else None,
                tree_size=refusal.tree_size, reason=refusal.reason, detail=refusal.detail,
                note=parsed.note if parsed else None)
            failure = refusal
        else:
            failure = None
    if failure is not None:
        WITNESS_REFUSALS.labels(failure.reason).inc()
        level = logging.WARNING if failure.reason == "old-size-mismatch" else logging.ERROR
        log.log(level, "witness refused a checkpoint",
                extra={"reason": failure.reason, "detail": failure.detail, "origin": origin})
        extra = {"reason": failure.reason}
        if failure.tree_size is not None:
            extra["tree_size"] = failure.tree_size
        titles = {400: "Bad Request", 403: "Forbidden", 409: "Conflict",
                  422: "Unprocessable Content"}
        raise Problem(failure.status, titles.get(failure.status, "Refused"), failure.detail,
                      slug=f"witness-{failure.reason}", extra=extra)
    WITNESS_COSIGNATURES.inc()
    log.info("witness cosigned a checkpoint",
             extra={"origin": origin, "tree_size": checkpoint.size})
    return Response(line, mimetype="text/plain")


@blp.route("/vkey", methods=["GET"])
@blp.doc(responses={"200": {"description": "The witness's C2SP verifier key.",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
@problems(blp, 503)
def vkey():
    """The witness's cosigner verifier key (public, so no credential)."""
    cfg = ctx().config
    if not cfg.witness_key_file:
        raise _unconfigured()
    return Response(_signer(cfg.witness_name, cfg.witness_key_file).verifier.vkey + "\n",
                    mimetype="text/plain")
