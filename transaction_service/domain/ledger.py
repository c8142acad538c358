"""The settlement ledger's rules (DESIGN.md §8): double-entry journal entries in integer rupiah.

A `JournalEntry` is one money movement: a kind, the reference of the real-world event it
records (an order id, a payout id) and two or more `Line`s. A line's amount is *signed*:
a debit is positive, a credit is negative, so an entry balances exactly when its amounts
sum to zero, and the whole ledger balances when every line ever posted sums to zero.

Accounts and their normal side:

| account | meaning | normal side |
|---|---|---|
| `provider_receivable` | money the payment provider holds for us | debit |
| `escrow` | buyers' money held until the order completes or is refunded | credit |
| `shop:<shop_id>:payable` | what the platform owes a shop (its *available* balance) | credit |
| `platform:fee_revenue` | the platform's fee income | credit |
| `payouts` | money sent (or committed to be sent) to shops' bank accounts | debit |
| `manual_refunds_payable` | refunds owed to buyers that an admin transfers by hand | credit |

Movements:

- payment settled: provider_receivable Dr gross / escrow Cr gross
- order completed: escrow Dr gross / shop payable Cr net / platform fee revenue Cr fee
- refund issued (provider): escrow Dr amount / provider_receivable Cr amount
- manual refund owed (the provider cannot refund, e.g. a bank-transfer VA): escrow Dr /
  manual_refunds_payable Cr, when the task is created
- manual refund paid: manual_refunds_payable Dr / provider_receivable Cr, when the admin
  records the transfer (it is paid from the platform's funds held at the provider)
- payout: shop payable Dr amount / payouts Cr amount
- reversal: the exact negation of an earlier entry (entries are never edited)

Fee rounding rule: ``fee = gross * fee_bps // 10000`` — rounded *down* to the whole rupiah,
so any fraction of a rupiah stays with the seller (``net = gross - fee``) and the platform
never charges more than the configured rate. A zero fee or zero net produces no line
(every line is non-zero).

Nothing here does I/O; `transaction_service.store.ledger` persists entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------
# Accounts (the only place their names are spelled)

PROVIDER_RECEIVABLE = "provider_receivable"
ESCROW = "escrow"
PLATFORM_FEE_REVENUE = "platform:fee_revenue"
PAYOUTS = "payouts"
MANUAL_REFUNDS_PAYABLE = "manual_refunds_payable"
_SHOP_PAYABLE_PREFIX = "shop:"
_SHOP_PAYABLE_SUFFIX = ":payable"


def shop_payable(shop_id: str) -> str:
    """The account holding what the platform owes one shop."""
    shop_id = _require_text("shop_id", shop_id)
    if ":" in shop_id:
        raise LedgerError("shop_id must not contain ':'")
    return f"{_SHOP_PAYABLE_PREFIX}{shop_id}{_SHOP_PAYABLE_SUFFIX}"


def shop_of_account(account: str) -> str | None:
    """The shop id of a `shop:<id>:payable` account, else None."""
    if account.startswith(_SHOP_PAYABLE_PREFIX) and account.endswith(_SHOP_PAYABLE_SUFFIX):
        inner = account[len(_SHOP_PAYABLE_PREFIX) : -len(_SHOP_PAYABLE_SUFFIX)]
        return inner or None
    return None


# ---------------------------------------------------------------------------------------
# Entry kinds (one entry per (kind, reference): the store enforces it with UNIQUE)

PAYMENT_SETTLED = "payment_settled"
ORDER_COMPLETED = "order_completed"
REFUND_ISSUED = "refund_issued"
MANUAL_REFUND_OWED = "manual_refund_owed"
MANUAL_REFUND_PAID = "manual_refund_paid"
PAYOUT = "payout"
REVERSAL = "reversal"
KINDS = frozenset({PAYMENT_SETTLED, ORDER_COMPLETED, REFUND_ISSUED, MANUAL_REFUND_OWED,
                   MANUAL_REFUND_PAID, PAYOUT, REVERSAL})
# The entry kinds whose reference starts with an order id (they move escrow): the order id
# itself, or "<order id>:<refund id>" for one of an order's refunds.
ORDER_KINDS = frozenset({PAYMENT_SETTLED, ORDER_COMPLETED, REFUND_ISSUED, MANUAL_REFUND_OWED})


def refund_reference(order_id: str, refund_id: str | None) -> str:
    """The reference of a refund's entry: one entry per refund, found by its order."""
    order_id = _require_text("order_id", order_id)
    return order_id if refund_id is None else f"{order_id}:{_require_text('refund_id', refund_id)}"


def order_of_reference(reference: str) -> str:
    """The order id an ORDER_KINDS reference belongs to."""
    return reference.split(":", 1)[0]

BPS_DENOMINATOR = 10_000


class LedgerError(ValueError):
    """An entry that would break double-entry rules; a programming error, never user input."""


def _require_amount(name: str, value: object) -> int:
    # bool is an int subclass; True rupiah is never meant.
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerError(f"{name} must be an integer number of rupiah, got {value!r}")
    return value


def _require_positive(name: str, value: object) -> int:
    amount = _require_amount(name, value)
    if amount <= 0:
        raise LedgerError(f"{name} must be greater than zero, got {amount}")
    return amount


def _require_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LedgerError(f"{name} must be a non-empty string")
    return value


@dataclass(frozen=True)
class Line:
    """One side of a movement on one account: debit when amount > 0, credit when < 0."""

    account: str
    amount: int

    def __post_init__(self) -> None:
        _require_text("account", self.account)
        _require_amount("amount", self.amount)
        if self.amount == 0:
            raise LedgerError(f"a line on {self.account} has a zero amount")

    @classmethod
    def debit(cls, account: str, amount: int) -> Line:
        return cls(account, _require_positive("debit", amount))

    @classmethod
    def credit(cls, account: str, amount: int) -> Line:
        return cls(account, -_require_positive("credit", amount))

    @property
    def is_debit(self) -> bool:
        return self.amount > 0


@dataclass(frozen=True)
class JournalEntry:
    """An immutable, validated, balanced journal entry."""

    kind: str
    reference: str
    lines: tuple[Line, ...]

    def __post_init__(self) -> None:
        _require_text("kind", self.kind)
        _require_text("reference", self.reference)
        if len(self.reference) > 255:
            raise LedgerError("reference must be at most 255 characters")
        lines = tuple(self.lines)
        object.__setattr__(self, "lines", lines)  # lists are frozen into tuples
        if len(lines) < 2:
            raise LedgerError("a journal entry needs at least two lines")
        for line in lines:
            if not isinstance(line, Line):
                raise LedgerError(f"not a Line: {line!r}")
        debits = sum(line.amount for line in lines if line.amount > 0)
        credits = -sum(line.amount for line in lines if line.amount < 0)
        if debits != credits:
            raise LedgerError(
                f"unbalanced {self.kind} entry {self.reference}: "
                f"debits {debits} != credits {credits}"
            )

    @property
    def total(self) -> int:
        """The amount moved: the sum of the debits (== the sum of the credits)."""
        return sum(line.amount for line in self.lines if line.amount > 0)

    def amount_on(self, account: str) -> int:
        return sum(line.amount for line in self.lines if line.account == account)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "lines": [{"account": line.account, "amount": line.amount} for line in self.lines],
        }


# ---------------------------------------------------------------------------------------
# Builders: one per real-world event


def platform_fee(gross: int, fee_bps: int) -> int:
    """The platform fee on `gross` at `fee_bps` basis points, rounded down to the rupiah."""
    gross = _require_amount("gross", gross)
    fee_bps = _require_amount("fee_bps", fee_bps)
    if gross < 0:
        raise LedgerError("gross must not be negative")
    if not 0 <= fee_bps <= BPS_DENOMINATOR:
        raise LedgerError(f"fee_bps must be between 0 and {BPS_DENOMINATOR}, got {fee_bps}")
    return gross * fee_bps // BPS_DENOMINATOR


def payment_settled(order_id: str, gross: int) -> JournalEntry:
    """The provider confirmed the buyer paid: the money is ours to hold in escrow."""
    gross = _require_positive("gross", gross)
    return JournalEntry(
        PAYMENT_SETTLED,
        _require_text("order_id", order_id),
        (Line.debit(PROVIDER_RECEIVABLE, gross), Line.credit(ESCROW, gross)),
    )


def order_completed(order_id: str, shop_id: str, gross: int, fee_bps: int) -> JournalEntry:
    """The buyer received the goods: escrow is released to the shop, minus the platform fee."""
    gross = _require_positive("gross", gross)
    fee = platform_fee(gross, fee_bps)
    net = gross - fee
    lines = [Line.debit(ESCROW, gross)]
    if net:
        lines.append(Line.credit(shop_payable(shop_id), net))
    else:
        shop_payable(shop_id)  # still validate the shop id
    if fee:
        lines.append(Line.credit(PLATFORM_FEE_REVENUE, fee))
    return JournalEntry(ORDER_COMPLETED, _require_text("order_id", order_id), tuple(lines))


def refund_issued(order_id: str, amount: int, refund_id: str | None = None) -> JournalEntry:
    """The buyer's money goes back through the provider: escrow is released to it, exactly
    the refunded amount (a partial refund releases only its part)."""
    amount = _require_positive("amount", amount)
    return JournalEntry(
        REFUND_ISSUED,
        refund_reference(order_id, refund_id),
        (Line.debit(ESCROW, amount), Line.credit(PROVIDER_RECEIVABLE, amount)),
    )


def manual_refund_owed(order_id: str, refund_id: str, amount: int) -> JournalEntry:
    """The provider cannot refund this payment: escrow is released to what the platform
    owes the buyer until an admin has transferred it."""
    amount = _require_positive("amount", amount)
    return JournalEntry(
        MANUAL_REFUND_OWED,
        refund_reference(order_id, refund_id),
        (Line.debit(ESCROW, amount), Line.credit(MANUAL_REFUNDS_PAYABLE, amount)),
    )


def manual_refund_paid(refund_id: str, amount: int) -> JournalEntry:
    """The admin transferred a manual refund, from the platform's funds at the provider."""
    amount = _require_positive("amount", amount)
    return JournalEntry(
        MANUAL_REFUND_PAID,
        _require_text("refund_id", refund_id),
        (Line.debit(MANUAL_REFUNDS_PAYABLE, amount), Line.credit(PROVIDER_RECEIVABLE, amount)),
    )


def payout(shop_id: str, payout_id: str, amount: int) -> JournalEntry:
    """A shop withdraws part of its available balance to its bank account."""
    amount = _require_positive("amount", amount)
    return JournalEntry(
        PAYOUT,
        _require_text("payout_id", payout_id),
        (Line.debit(shop_payable(shop_id), amount), Line.credit(PAYOUTS, amount)),
    )


def reversal(entry: JournalEntry) -> JournalEntry:
    """The entry that cancels `entry` exactly (mistakes are fixed by reversing, never editing).

    Its reference is ``<original kind>:<original reference>``, so an entry can be reversed
    once."""
    if entry.kind == REVERSAL:
        raise LedgerError("a reversal is not reversed; post the original again instead")
    return JournalEntry(
        REVERSAL,
        f"{entry.kind}:{entry.reference}",
        tuple(Line(line.account, -line.amount) for line in entry.lines),
    )


def reversed_target(reference: str) -> tuple[str, str]:
    """(kind, reference) of the entry a reversal with `reference` cancels."""
    kind, sep, original = reference.partition(":")
    if not sep or not original:
        raise LedgerError(f"not a reversal reference: {reference!r}")
    return kind, original


# ---------------------------------------------------------------------------------------
# Balances


def credit_balance(amounts: Iterable[int]) -> int:
    """Balance of a credit-normal account (escrow, a shop's payable) from signed amounts."""
    return -sum(amounts)


@dataclass(frozen=True)
class OrderState:
    """What the invariants checker needs to know about one order (from the orders table,
    and from the refunds table: what its refunds released from escrow)."""

    status: str
    total_amount: int
    refunded_amount: int = 0


# Orders whose money sits in escrow, by the order state machine (DESIGN.md §5):
# paid and not yet completed.
ESCROWED_STATUSES = frozenset({"AWAITING_SHIPMENT", "IN_TRANSIT"})
# Never paid, or already settled to the seller: nothing in escrow.
NOT_ESCROWED_STATUSES = frozenset({"UNPAID", "COMPLETED"})
# Ended without delivery: escrow holds the total until the refund is posted, then nothing.
REFUNDABLE_STATUSES = frozenset({"CANCELLED", "EXPIRED"})


def escrow_violations(
    escrow_by_order: Mapping[str, int],
    escrow_balance: int,
    orders: Mapping[str, OrderState] | None,
) -> list[str]:
    """Check "escrow equals the total of paid, unsettled orders" (DESIGN.md §8).

    `escrow_by_order` is each order's escrow balance (credit-normal) computed from the
    ledger: settled gross − completed gross − refunded, including reversals of those
    entries. An order is escrowed from its `payment_settled` entry until its
    `order_completed` or `refund_issued` entry. `escrow_balance` is the escrow account's
    balance over all lines. `orders` is the orders table (None when it does not exist in
    this database, e.g. a ledger-only test), used to cross-check with the order states.
    """
    problems: list[str] = []
    per_order_total = sum(escrow_by_order.values())
    if per_order_total != escrow_balance:
        problems.append(
            f"escrow balance {escrow_balance} != sum of per-order escrow {per_order_total} "
            "(escrow lines outside order entries)"
        )
    for order_id, held in sorted(escrow_by_order.items()):
        if held < 0:
            problems.append(f"order {order_id}: escrow released {-held} more than was settled")
    if orders is None:
        return problems
    for order_id, held in sorted(escrow_by_order.items()):
        if held and order_id not in orders:
            problems.append(f"order {order_id}: escrow {held} for an unknown order")
    for order_id, order in sorted(orders.items()):
        held = escrow_by_order.get(order_id, 0)
        left = order.total_amount - order.refunded_amount
        if order.status in ESCROWED_STATUSES:
            if held != left:
                problems.append(
                    f"order {order_id} is {order.status}: escrow {held} "
                    f"!= order total {order.total_amount} - refunded {order.refunded_amount}"
                )
        elif order.status in NOT_ESCROWED_STATUSES:
            if held != 0:
                problems.append(f"order {order_id} is {order.status} but escrow holds {held}")
        elif order.status in REFUNDABLE_STATUSES:
            if held not in (0, left):
                problems.append(
                    f"order {order_id} is {order.status}: escrow {held} is neither 0 "
                    f"(refunded/never paid) nor the order total {order.total_amount} "
                    f"less its posted refunds {order.refunded_amount}"
                )
    return problems
