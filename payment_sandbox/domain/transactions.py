"""Transaction states and the rules that move between them.

States follow Midtrans: `pending` -> `settlement` (customer paid) | `cancel` (merchant
cancelled) | `expire` (unpaid past the deadline); `settlement` -> `partial_refund` ->
`refund`. A state never moves backwards; every function here answers what an operation
does in a given state without touching storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

PENDING = "pending"
SETTLEMENT = "settlement"
CAPTURE = "capture"
DENY = "deny"
CANCEL = "cancel"
EXPIRE = "expire"
REFUND = "refund"
PARTIAL_REFUND = "partial_refund"

PAYMENT_TYPES = ("bank_transfer", "gopay", "shopeepay", "qris")
EWALLET_TYPES = ("gopay", "shopeepay", "qris")
BANKS = ("bca", "bni", "bri", "permata")
# Midtrans refunds only these payment types ("Refund Transactions", Core API reference);
# never bank-transfer virtual accounts, whose money has to go back by a manual transfer.
REFUNDABLE_PAYMENT_TYPES = frozenset(
    {"credit_card", "gopay", "shopeepay", "dana", "ovo", "qris", "kredivo", "akulaku"}
)

PAID_STATES = frozenset({SETTLEMENT, CAPTURE, PARTIAL_REFUND, REFUND})
REFUNDABLE_STATES = frozenset({SETTLEMENT, CAPTURE, PARTIAL_REFUND})

# Midtrans `status_code` per transaction status (notifications and status answers).
_STATUS_CODES = {
    SETTLEMENT: "200",
    CAPTURE: "200",
    REFUND: "200",
    PARTIAL_REFUND: "200",
    PENDING: "201",
    DENY: "202",
    CANCEL: "202",
    EXPIRE: "202",
}

EXPIRY_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

# Midtrans shows times in Western Indonesia Time without an offset.
WIB = timezone(timedelta(hours=7), "WIB")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class TransitionError(Exception):
    """An operation that the transaction's current state does not allow."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code  # short machine-readable reason
        self.message = message


def status_code_for(transaction_status: str) -> str:
    try:
        return _STATUS_CODES[transaction_status]
    except KeyError:
        raise ValueError(f"unknown transaction status {transaction_status!r}") from None


def format_time(epoch: float | None) -> str | None:
    """Epoch seconds -> "YYYY-MM-DD HH:MM:SS" in WIB (UTC+07:00), as Midtrans answers."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, WIB).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The inverse of `format_time`: an aware datetime (what a client should do)."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=WIB)


def expiry_seconds(payment_type: str, custom_expiry: dict | None, *, va_default: int,
                   ewallet_default: int) -> int:
    if custom_expiry:
        return int(custom_expiry["expiry_duration"]) * EXPIRY_UNITS[custom_expiry["unit"]]
    return va_default if payment_type == "bank_transfer" else ewallet_default


def is_expired(status: str, expiry_at: float, now: float) -> bool:
    """A pending transaction whose deadline has passed is expired."""
    return status == PENDING and now >= expiry_at


# What each operation does -------------------------------------------------------------

SETTLE = "settle"
ALREADY_DONE = "already_done"


def pay_outcome(status: str) -> str:
    """The customer pays: pending settles; paid stays paid; closed is refused."""
    if status == PENDING:
        return SETTLE
    if status in PAID_STATES:
        return ALREADY_DONE
    raise TransitionError(
        "not-payable", f"The transaction is {status} and can no longer be paid."
    )


def cancel_outcome(status: str) -> str:
    """The merchant cancels: pending -> cancel; cancelling twice is a no-op."""
    if status == PENDING:
        return CANCEL
    if status == CANCEL:
        return ALREADY_DONE
    raise TransitionError(
        "cannot-cancel", f"Merchant cannot modify the status of the transaction ({status})."
    )


def expire_outcome(status: str) -> str:
    """The merchant expires (`POST /v2/{order_id}/expire`): only a pending transaction."""
    if status == PENDING:
        return EXPIRE
    raise TransitionError(
        "cannot-expire", f"Merchant cannot modify the status of the transaction ({status})."
    )


def charge_refusal(existing_status: str) -> str:
    """Why a charge for an order_id that already has a transaction is refused.

    Midtrans answers 406 "Duplicate order ID" for an order_id already used; whatever the
    amount or method, a retried charge never returns the existing transaction (the
    integrator asks `GET /v2/{order_id}/status` for that)."""
    return (
        "Duplicate order ID. Order ID has already been utilized previously "
        f"(transaction is {existing_status})."
    )


@dataclass(frozen=True)
class RefundDecision:
    amount: int
    new_status: str
    refunded_total: int


def refund_decision(status: str, gross_amount: int, refunded: int,
                    requested: int | None, payment_type: str = "gopay") -> RefundDecision:
    """A new refund (not a replay of a known refund_key): how much and the next status.

    `requested=None` refunds everything still refundable. The total refunded never
    exceeds the gross amount. Only the payment types Midtrans refunds can be refunded.
    """
    if payment_type not in REFUNDABLE_PAYMENT_TYPES:
        raise TransitionError(
            "refund-not-supported",
            f"Payment type {payment_type} does not support refund; return the money to the "
            "customer by other means.",
        )
    if status not in REFUNDABLE_STATES:
        raise TransitionError(
            "not-refundable", f"Only a settled transaction can be refunded; it is {status}."
        )
    remaining = gross_amount - refunded
    amount = remaining if requested is None else requested
    if amount <= 0:
        raise TransitionError("invalid-refund-amount", "The refund amount must be positive.")
    if amount > remaining:
        raise TransitionError(
            "refund-exceeds-remaining",
            f"The refund amount {amount} exceeds the refundable remainder {remaining}.",
        )
    total = refunded + amount
    return RefundDecision(
        amount=amount,
        new_status=REFUND if total == gross_amount else PARTIAL_REFUND,
        refunded_total=total,
    )


# Notification delivery ------------------------------------------------------------------


def is_delivered(http_status: int | None) -> bool:
    """Only a 2xx answer counts as delivered; anything else is retried."""
    return http_status is not None and 200 <= http_status < 300


# Midtrans' retry rules for HTTP notifications ("Best Practices to Handle Notification"):
# what the merchant answered decides how many retries follow.
MAX_REDIRECTS = 5
_RETRIES_BY_STATUS = {500: 1, 503: 4, 400: 2, 404: 2, 301: 0, 302: 0, 303: 0}
DEFAULT_RETRIES = 5  # no answer, a timeout, and every other status


def retries_allowed(http_status: int | None) -> int:
    """How many retries a notification gets when its answer was `http_status` (None: no
    answer). 2xx is delivered (0); 301/302/303 are not followed nor retried; 307/308 are
    followed by the sender (see MAX_REDIRECTS) and only count here when they persist."""
    if is_delivered(http_status):
        return 0
    if http_status is None:
        return DEFAULT_RETRIES
    return _RETRIES_BY_STATUS.get(http_status, DEFAULT_RETRIES)


def is_followed_redirect(http_status: int | None) -> bool:
    """307/308 keep the method and body: the sender POSTs the same notification again to
    the new location."""
    return http_status in (307, 308)


def next_retry_delay(schedule: tuple[float, ...] | list[float], attempts: int,
                     http_status: int | None = None) -> float | None:
    """Seconds to wait after the `attempts`-th failed attempt, or None when exhausted:
    by the schedule's length, and by Midtrans' limit for the last answer's status."""
    if attempts < 1:
        raise ValueError("attempts counts the attempts made so far (>= 1)")
    if attempts > min(len(schedule), retries_allowed(http_status)):
        return None
    return float(schedule[attempts - 1])
