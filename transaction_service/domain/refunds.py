"""Refund rules without I/O: how much is left to refund, what a payment's status becomes,
the buyer's bank account for a manual refund (validation, masking).

A refund is `provider` (the payment provider gives the money back: card and e-wallet
payments) or `manual` (the provider cannot refund, e.g. a bank-transfer VA: an admin sends
the money to the bank account the buyer gives). States:

- provider: pending -> succeeded | failed (a refusal; retried as a manual refund)
- manual: awaiting_account -> awaiting_transfer -> succeeded
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

PROVIDER = "provider"
MANUAL = "manual"

PENDING = "pending"
AWAITING_ACCOUNT = "awaiting_account"
AWAITING_TRANSFER = "awaiting_transfer"
SUCCEEDED = "succeeded"
FAILED = "failed"
IN_PROGRESS = frozenset({PENDING, AWAITING_ACCOUNT, AWAITING_TRANSFER})

# Payment states in which money was received (refunds are possible).
PAID_PAYMENT_STATES = frozenset({"settled", "refund_pending", "partially_refunded", "refunded"})

# Account number lengths (digits) of the banks a manual refund can be sent to.
BANK_ACCOUNT_DIGITS: dict[str, tuple[int, ...]] = {
    "bca": (10,),
    "bni": (10,),
    "bri": (15,),
    "mandiri": (13,),
    "permata": (10,),
    "cimb": (13, 14),
    "danamon": (10,),
    "btn": (16,),
    "bsi": (10,),
    "ocbc": (12,),
    "panin": (10,),
    "maybank": (10,),
}
_ACCOUNT_NAME = re.compile(r"^[A-Za-z][A-Za-z .,'\-]{1,99}$")
REFUND_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class RefundError(ValueError):
    """A refund the rules refuse; `code` says why (mapped to a problem by the caller)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def posted(refund: Mapping) -> bool:
    """Has this refund's money left escrow? (A provider refund when confirmed; a manual
    one as soon as it exists: escrow -> manual_refunds_payable.)"""
    if refund["method"] == PROVIDER:
        return refund["status"] == SUCCEEDED
    return refund["status"] != FAILED


def requested_total(refunds: Iterable[Mapping]) -> int:
    return sum(int(r["amount"]) for r in refunds if r["status"] != FAILED)


def refund_amount(order_total: int, refunds: Iterable[Mapping], requested: int | None) -> int:
    """The amount of a new refund of an order: `requested`, or everything still left when
    None. Refuses a non-positive amount and more than the order's remainder."""
    remaining = int(order_total) - requested_total(refunds)
    amount = remaining if requested is None else requested
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise RefundError("invalid-amount", "The amount must be an integer number of rupiah.")
    if remaining <= 0:
        raise RefundError("nothing-to-refund", "Everything paid for this order is refunded "
                                               "or being refunded.")
    if amount <= 0:
        raise RefundError("invalid-amount", "The amount must be greater than zero.")
    if amount > remaining:
        raise RefundError(
            "refund-exceeds-remaining",
            f"The amount {amount} exceeds what is left to refund on this order ({remaining}).",
        )
    return amount


def payment_status(payment_amount: int, refunds: Iterable[Mapping]) -> str:
    """A paid payment's status from its refunds."""
    refunds = list(refunds)
    if any(r["status"] in IN_PROGRESS for r in refunds):
        return "refund_pending"
    done = sum(int(r["amount"]) for r in refunds if r["status"] == SUCCEEDED)
    if done >= int(payment_amount) > 0:
        return "refunded"
    if done > 0:
        return "partially_refunded"
    return "settled"


def account_errors(bank: str, account_number: str, account_name: str) -> dict[str, list[str]]:
    """Field -> messages for a bank account a manual refund is sent to (empty: valid)."""
    errors: dict[str, list[str]] = {}
    lengths = BANK_ACCOUNT_DIGITS.get(bank)
    if lengths is None:
        errors["bank"] = [f"Must be one of: {', '.join(sorted(BANK_ACCOUNT_DIGITS))}."]
    if not account_number.isascii() or not account_number.isdigit():
        errors["account_number"] = ["Digits only."]
    elif lengths is not None and len(account_number) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        errors["account_number"] = [f"A {bank.upper()} account number has {wanted} digits."]
    if not _ACCOUNT_NAME.match(account_name):
        errors["account_name"] = ["2-100 letters, spaces and . , ' - as on the bank account."]
    return errors


def mask_account_number(number: str | None) -> str | None:
    """All but the last four digits hidden."""
    if not number:
        return number
    return "*" * max(0, len(number) - 4) + number[-4:]
