"""The provider's operations: charge, status, pay, cancel, refund, expiry, notifications.

Each operation is one SQLite write transaction (`BEGIN IMMEDIATE`), so a state change and
the notification it queues are committed together or not at all, and concurrent requests
from several gunicorn workers are serialised by the database.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
import uuid
from datetime import UTC, datetime

from prometheus_client import Counter

from servicekit.problems import Problem

from .config import Config
from .domain import transactions as tx
from .domain.signature import format_amount, signature_key
from .store import Store
from .store import repository as repo

log = logging.getLogger("payment_sandbox.provider")

MERCHANT_ID = "SANDBOX"
NOTIFICATION_MESSAGE = "midtrans payment notification"

EVENTS = Counter(
    "sandbox_transaction_events_total", "Transaction state changes in the sandbox", ["event"]
)

_VA_FORMAT = {"bca": ("12345", 11), "bni": ("8578", 16), "bri": ("88888", 18),
              "permata": ("8778", 18)}

_CHARGE_MESSAGES = {
    "bank_transfer": "Success, Bank Transfer transaction is created",
    "gopay": "GoPay transaction is created",
    "shopeepay": "ShopeePay transaction is created",
    "qris": "QRIS transaction is created",
}


def _problem(status: int, title: str, detail: str, slug: str, *,
             midtrans_code: str | None = None) -> Problem:
    return Problem(
        status,
        title,
        detail,
        slug=slug,
        extra={"status_code": midtrans_code or str(status), "status_message": detail},
    )


def not_found(ref: str) -> Problem:
    return _problem(404, "Not Found", f"Transaction {ref!r} doesn't exist.", "not-found")


_TRANSITION_HTTP = {
    "not-payable": (409, "Conflict"),
    "cannot-cancel": (412, "Precondition Failed"),
    "cannot-expire": (412, "Precondition Failed"),
    "not-refundable": (412, "Precondition Failed"),
    "refund-not-supported": (412, "Precondition Failed"),
    "refund-exceeds-remaining": (409, "Conflict"),
    "invalid-refund-amount": (422, "Unprocessable Content"),
}


def _transition_problem(error: tx.TransitionError) -> Problem:
    status, title = _TRANSITION_HTTP[error.code]
    return _problem(status, title, error.message, error.code)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _va_number(bank: str) -> str:
    prefix, length = _VA_FORMAT[bank]
    digits = "".join(str(secrets.randbelow(10)) for _ in range(length - len(prefix)))
    return prefix + digits


class Provider:
    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config

    # Views ------------------------------------------------------------------------------

    def _view(self, conn, row, *, status_code: str | None = None,
              status_message: str | None = None) -> dict:
        status = row["status"]
        gross = format_amount(row["gross_amount"])
        code = tx.status_code_for(status)
        view: dict = {
            "status_code": status_code or code,
            "status_message": status_message or "Success, transaction is found",
            "transaction_id": row["transaction_id"],
            "order_id": row["order_id"],
            "merchant_id": MERCHANT_ID,
            "gross_amount": gross,
            "currency": row["currency"],
            "payment_type": row["payment_type"],
            "transaction_time": tx.format_time(row["created_at"]),
            "transaction_status": status,
            "fraud_status": row["fraud_status"],
            "expiry_time": tx.format_time(row["expiry_at"]),
            "signature_key": signature_key(row["order_id"], code, gross, self.config.server_key),
        }
        self._add_instructions(view, row)
        if row["settled_at"] is not None:
            view["settlement_time"] = tx.format_time(row["settled_at"])
        if row["refunded_amount"]:
            view["refund_amount"] = format_amount(row["refunded_amount"])
            view["refunds"] = self._refund_list(conn, row)
        return view

    @staticmethod
    def _refund_list(conn, row) -> list[dict]:
        return [
            {
                "refund_chargeback_id": refund["id"],
                "refund_key": refund["refund_key"],
                "refund_amount": format_amount(refund["amount"]),
                "reason": refund["reason"],
                "refund_time": tx.format_time(refund["created_at"]),
            }
            for refund in repo.list_refunds(conn, row["transaction_id"])
        ]

    def _add_instructions(self, view: dict, row) -> None:
        if row["payment_type"] == "bank_transfer":
            view["va_numbers"] = [{"bank": row["bank"], "va_number": row["va_number"]}]
            if row["bank"] == "permata":
                view["permata_va_number"] = row["va_number"]
        else:
            view["actions"] = self._actions(row)

    def _actions(self, row) -> list[dict]:
        """Midtrans' `actions` per payment type: GoPay offers its QR code, the deeplink,
        status and cancel; QRIS only the QR code; ShopeePay only the deeplink. The QR code
        and deeplink are public (the customer's browser or app opens them)."""
        public = self.config.public_url.rstrip("/")
        transaction_id, order_id = row["transaction_id"], row["order_id"]
        qr = {"name": "generate-qr-code", "method": "GET",
              "url": f"{public}/v2/{row['payment_type']}/{transaction_id}/qr-code"}
        deeplink = {"name": "deeplink-redirect", "method": "GET",
                    "url": f"{public}/v2/{order_id}/pay"}
        if row["payment_type"] == "qris":
            return [qr]
        if row["payment_type"] == "shopeepay":
            return [deeplink]
        return [
            qr,
            deeplink,
            {"name": "get-status", "method": "GET",
             "url": f"{public}/v2/{transaction_id}/status"},
            {"name": "cancel", "method": "POST",
             "url": f"{public}/v2/{transaction_id}/cancel"},
        ]

    def qr_payload(self, payment_type: str, transaction_id: str) -> str:
        """What the QR code of a GoPay/QRIS transaction encodes: here, the pay page (a
        phone camera opens it and plays the wallet app)."""
        with self.store.read() as conn:
            row = repo.find_transaction(conn, transaction_id)
        if row is None or row["transaction_id"] != transaction_id \
                or row["payment_type"] != payment_type or payment_type not in ("gopay", "qris"):
            raise not_found(transaction_id)
        return f"{self.config.public_url.rstrip('/')}/v2/{row['order_id']}/pay"

    def notification_payload(self, row, status: str, extra: dict | None = None) -> dict:
        """The body Midtrans would POST for `row` entering `status` (DESIGN §7)."""
        code = tx.status_code_for(status)
        gross = format_amount(row["gross_amount"])
        body = {
            "transaction_time": tx.format_time(row["created_at"]),
            "transaction_status": status,
            "transaction_id": row["transaction_id"],
            "status_message": NOTIFICATION_MESSAGE,
            "status_code": code,
            "signature_key": signature_key(row["order_id"], code, gross, self.config.server_key),
            "payment_type": row["payment_type"],
            "order_id": row["order_id"],
            "merchant_id": MERCHANT_ID,
            "gross_amount": gross,
            "fraud_status": row["fraud_status"],
            "currency": row["currency"],
            "expiry_time": tx.format_time(row["expiry_at"]),
        }
        if row["payment_type"] == "bank_transfer":
            body["va_numbers"] = [{"bank": row["bank"], "va_number": row["va_number"]}]
        if status == tx.SETTLEMENT and row["settled_at"] is not None:
            body["settlement_time"] = tx.format_time(row["settled_at"])
        body.update(extra or {})
        return body

    def _queue(self, conn, row, status: str, *, now: float, kind: str = "event",
               extra: dict | None = None, after_id: int | None = None) -> int:
        payload = self.notification_payload(row, status, extra)
        delivery_id = repo.enqueue_delivery(
            conn, payload=payload, kind=kind, now=now, after_id=after_id
        )
        log.info(
            "notification queued",
            extra={"order_id": row["order_id"], "transaction_status": status,
                   "delivery_id": delivery_id, "kind": kind},
        )
        return delivery_id

    # Expiry -----------------------------------------------------------------------------

    def _expire_in(self, conn, row, now: float):
        """Expire `row` if it is pending past its deadline; returns the current row."""
        if not tx.is_expired(row["status"], row["expiry_at"], now):
            return row
        updated = repo.update_status(
            conn, row["transaction_id"], from_status=tx.PENDING, to_status=tx.EXPIRE, now=now
        )
        if updated is None:  # someone else changed it meanwhile (cannot happen under the lock)
            return repo.find_transaction(conn, row["transaction_id"])
        self._queue(conn, updated, tx.EXPIRE, now=now)
        EVENTS.labels("expire").inc()
        log.info("transaction expired", extra={"order_id": row["order_id"]})
        return updated

    def expire_due(self, now: float | None = None) -> int:
        """Expire every pending transaction past its deadline (the notifier's sweep)."""
        now = time.time() if now is None else now
        with self.store.read() as conn:  # the common case: nothing due, no write lock
            if not repo.due_expiries(conn, now, limit=1):
                return 0
        with self.store.write() as conn:
            rows = repo.due_expiries(conn, now)
            for row in rows:
                self._expire_in(conn, row, now)
        return len(rows)

    def _load(self, conn, ref: str, now: float):
        row = repo.find_transaction(conn, ref)
        if row is None:
            raise not_found(ref)
        return self._expire_in(conn, row, now)

    # Operations -------------------------------------------------------------------------

    def charge(self, data: dict) -> dict:
        """Create a pending transaction. An order_id that already has a transaction (of
        any status, with any amount) is refused with 406, as Midtrans does: a merchant
        retrying a charge must ask `GET /v2/{order_id}/status` instead."""
        details = data["transaction_details"]
        order_id, amount = details["order_id"], details["gross_amount"]
        payment_type = data["payment_type"]
        bank = data.get("bank_transfer", {}).get("bank") if payment_type == "bank_transfer" \
            else None
        now = time.time()
        with self.store.write() as conn:
            existing = repo.find_transaction(conn, order_id)
            if existing is None:
                lifetime = tx.expiry_seconds(
                    payment_type,
                    data.get("custom_expiry"),
                    va_default=self.config.va_expiry_seconds,
                    ewallet_default=self.config.ewallet_expiry_seconds,
                )
                row = repo.insert_transaction(
                    conn,
                    {
                        "transaction_id": str(uuid.uuid4()),
                        "order_id": order_id,
                        "payment_type": payment_type,
                        "bank": bank,
                        "va_number": _va_number(bank) if bank else None,
                        "gross_amount": amount,
                        "currency": "IDR",
                        "status": tx.PENDING,
                        "fraud_status": "accept",
                        "created_at": now,
                        "expiry_at": now + lifetime,
                        "updated_at": now,
                    },
                )
                self._queue(conn, row, tx.PENDING, now=now)
                EVENTS.labels("charge").inc()
                view = self._view(
                    conn, row, status_code="201", status_message=_CHARGE_MESSAGES[payment_type]
                )
                log.info("transaction charged",
                         extra={"order_id": order_id, "payment_type": payment_type})
                return view
            existing = self._expire_in(conn, existing, now)  # committed with the refusal
            existing_status = existing["status"]
        EVENTS.labels("duplicate_charge").inc()
        log.info("duplicate charge refused",
                 extra={"order_id": order_id, "transaction_status": existing_status})
        raise _problem(406, "Not Acceptable", tx.charge_refusal(existing_status),
                       "duplicate-order-id")

    def status(self, ref: str) -> dict:
        now = time.time()
        with self.store.read() as conn:
            row = repo.find_transaction(conn, ref)
            if row is None:
                raise not_found(ref)
            if not tx.is_expired(row["status"], row["expiry_at"], now):
                return self._view(conn, row)
        with self.store.write() as conn:  # lazily expire, then answer
            row = self._load(conn, ref, now)
            return self._view(conn, row)

    def pay(self, ref: str, *, deliver_times: int = 1,
            stale_pending_after: bool = False) -> tuple[dict, bool]:
        """The customer pays. Returns (view, settled_now)."""
        now = time.time()
        with self.store.write() as conn:
            row = self._load(conn, ref, now)  # an expiry here is committed even if we refuse
            try:
                outcome = tx.pay_outcome(row["status"])
            except tx.TransitionError as error:
                problem = _transition_problem(error)
            else:
                problem = None
                if outcome == tx.SETTLE:
                    row = repo.update_status(
                        conn, row["transaction_id"], from_status=tx.PENDING,
                        to_status=tx.SETTLEMENT, now=now, settled=True,
                    )
                    last = None
                    for index in range(deliver_times):
                        last = self._queue(conn, row, tx.SETTLEMENT, now=now,
                                           kind="event" if index == 0 else "duplicate")
                    if stale_pending_after:
                        self._queue(conn, row, tx.PENDING, now=now, kind="stale", after_id=last)
                    EVENTS.labels("settlement").inc()
                    log.info("transaction settled", extra={"order_id": row["order_id"]})
                view = self._view(
                    conn, row, status_code="200",
                    status_message="Success, transaction is settled"
                    if outcome == tx.SETTLE else "Transaction is already paid",
                )
        if problem is not None:
            raise problem
        return view, outcome == tx.SETTLE

    def cancel(self, ref: str) -> dict:
        now = time.time()
        with self.store.write() as conn:
            row = self._load(conn, ref, now)
            try:
                outcome = tx.cancel_outcome(row["status"])
            except tx.TransitionError as error:
                problem = _transition_problem(error)
            else:
                problem = None
                if outcome == tx.CANCEL:
                    row = repo.update_status(
                        conn, row["transaction_id"], from_status=tx.PENDING,
                        to_status=tx.CANCEL, now=now,
                    )
                    self._queue(conn, row, tx.CANCEL, now=now)
                    EVENTS.labels("cancel").inc()
                    log.info("transaction cancelled", extra={"order_id": row["order_id"]})
                view = self._view(conn, row, status_code="200",
                                  status_message="Success, transaction is canceled")
        if problem is not None:
            raise problem
        return view

    def expire(self, ref: str) -> dict:
        """The merchant expires a pending transaction now (`POST /v2/{order_id}/expire`):
        Midtrans answers status_code "407" (HTTP 200) and notifies `expire`."""
        now = time.time()
        with self.store.write() as conn:
            row = self._load(conn, ref, now)
            try:
                tx.expire_outcome(row["status"])
            except tx.TransitionError as error:
                problem = _transition_problem(error)
            else:
                problem = None
                row = repo.update_status(
                    conn, row["transaction_id"], from_status=tx.PENDING,
                    to_status=tx.EXPIRE, now=now,
                )
                self._queue(conn, row, tx.EXPIRE, now=now)
                EVENTS.labels("expire").inc()
                log.info("transaction expired by the merchant",
                         extra={"order_id": row["order_id"]})
                view = self._view(conn, row, status_code="407",
                                  status_message="Success, transaction has expired")
        if problem is not None:
            raise problem
        return view

    def refund(self, ref: str, *, refund_key: str | None, amount: int | None,
               reason: str) -> tuple[dict, bool]:
        """Refund a settled transaction; the same refund_key answers the first result
        again and never refunds twice; without a refund_key the refund is new and gets
        a generated key (Midtrans). Returns (response, created)."""
        now = time.time()
        refund_key = refund_key or f"midtrans-{uuid.uuid4()}"
        with self.store.write() as conn:
            row = self._load(conn, ref, now)
            known = repo.find_refund(conn, row["transaction_id"], refund_key)
            if known is not None:
                if amount is not None and amount != known["amount"]:
                    problem = _problem(
                        409, "Conflict",
                        f"refund_key {refund_key!r} was already used for a refund of "
                        f"{known['amount']}.",
                        "refund-key-reused",
                    )
                else:
                    return json.loads(known["response"]), False
            else:
                try:
                    decision = tx.refund_decision(
                        row["status"], row["gross_amount"], row["refunded_amount"], amount,
                        row["payment_type"],
                    )
                except tx.TransitionError as error:
                    problem = _transition_problem(error)
                else:
                    problem = None
                    row = repo.update_status(
                        conn, row["transaction_id"], from_status=row["status"],
                        to_status=decision.new_status, now=now,
                        refunded_amount=decision.refunded_total,
                    )
                    refund_id = repo.insert_refund(
                        conn, transaction_id=row["transaction_id"], refund_key=refund_key,
                        amount=decision.amount, reason=reason, now=now,
                    )
                    response = self._view(conn, row, status_code="200",
                                          status_message="Success, refund request is approved")
                    response.update(
                        refund_chargeback_id=refund_id,
                        refund_amount=format_amount(decision.amount),
                        refund_key=refund_key,
                    )
                    repo.store_refund_response(conn, refund_id, response)
                    # As Midtrans: the notification carries the total refunded so far and
                    # every refund made, so a merchant can reconcile each refund_key.
                    self._queue(
                        conn, row, decision.new_status, now=now,
                        extra={"refund_amount": format_amount(decision.refunded_total),
                               "refunds": self._refund_list(conn, row),
                               "refund_key": refund_key, "refund_chargeback_id": refund_id},
                    )
                    EVENTS.labels("refund").inc()
                    log.info("transaction refunded",
                             extra={"order_id": row["order_id"], "amount": decision.amount,
                                    "refund_key": refund_key})
                    return response, True
        raise problem

    # Notifications (sandbox only) -------------------------------------------------------

    def resend(self, ref: str) -> dict:
        """Queue every original notification of the order again, in shuffled order."""
        now = time.time()
        with self.store.write() as conn:
            row = self._load(conn, ref, now)
            originals = [d for d in repo.deliveries_for_order(conn, row["order_id"])
                         if d["resend_of"] is None]
            random.shuffle(originals)
            ids = [
                repo.enqueue_delivery(conn, payload=json.loads(d["payload"]), kind="resend",
                                      now=now, resend_of=d["id"])
                for d in originals
            ]
        log.info("notifications re-queued", extra={"order_id": row["order_id"], "count": len(ids)})
        return {"order_id": row["order_id"], "queued": len(ids), "delivery_ids": ids}

    def deliveries(self, ref: str) -> dict:
        with self.store.read() as conn:
            row = repo.find_transaction(conn, ref)
            if row is None:
                raise not_found(ref)
            rows = repo.deliveries_for_order(conn, row["order_id"])
            attempts = repo.attempts_for_deliveries(conn, [d["id"] for d in rows])
        by_delivery: dict[int, list] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt["delivery_id"], []).append(
                {
                    "attempt": attempt["attempt"],
                    "notifier": attempt["notifier"],
                    "started_at": _iso(attempt["started_at"]),
                    "duration_ms": attempt["duration_ms"],
                    "response_status": attempt["response_status"],
                    "error": attempt["error"],
                }
            )
        data = []
        for d in rows:
            payload = json.loads(d["payload"])
            data.append(
                {
                    "id": d["id"],
                    "kind": d["kind"],
                    "transaction_status": d["transaction_status"],
                    "status_code": payload.get("status_code"),
                    "state": d["state"],
                    "attempts": d["attempts"],
                    "max_attempts": 1 + len(self.config.retry_schedule),
                    "request_id": d["request_id"],
                    "next_attempt_at": _iso(d["next_attempt_at"])
                    if d["state"] == "queued" else None,
                    "last_response_status": d["last_response_status"],
                    "last_error": d["last_error"],
                    "created_at": _iso(d["created_at"]),
                    "delivered_at": _iso(d["delivered_at"]),
                    "after_id": d["after_id"],
                    "resend_of": d["resend_of"],
                    "payload": payload,
                    "attempt_log": by_delivery.get(d["id"], []),
                }
            )
        return {"order_id": row["order_id"], "transaction_id": row["transaction_id"],
                "data": data}
