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
| `creator:<creator_id>:payable` | what the platform owes a creator (commission) | credit |
| `payouts` | money sent (or committed to be sent) to shops' and creators' bank accounts | debit |
| `manual_refunds_payable` | refunds owed to buyers that an admin transfers by hand | credit |

Movements:

- payment settled: provider_receivable Dr gross / escrow Cr gross
- order completed: escrow Dr gross / shop payable Cr net / platform fee revenue Cr fee
  (with creators' commission, `settle_order`: escrow Dr sold / shop payable Cr
  sold − fee − commissions / fee revenue Cr fee / each creator payable Cr commission)
- refund issued (provider): escrow Dr amount / provider_receivable Cr amount
- manual refund owed (the provider cannot refund, e.g. a bank-transfer VA): escrow Dr /
  manual_refunds_payable Cr, when the task is created
- manual refund paid: manual_refunds_payable Dr / provider_receivable Cr, when the admin
  records the transfer (it is paid from the platform's funds held at the provider)
- payout: shop (or creator) payable Dr amount / payouts Cr amount
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


_CREATOR_PAYABLE_PREFIX = "creator:"


def creator_payable(creator_id: str) -> str:
    """The account holding what the platform owes one creator (affiliate commission)."""
    creator_id = _require_text("creator_id", creator_id)
    if ":" in creator_id:
        raise LedgerError("creator_id must not contain ':'")
    return f"{_CREATOR_PAYABLE_PREFIX}{creator_id}{_SHOP_PAYABLE_SUFFIX}"


def creator_of_account(account: str) -> str | None:
    """The creator id of a `creator:<id>:payable` account, else None."""
    if account.startswith(_CREATOR_PAYABLE_PREFIX) and account.endswith(_SHOP_PAYABLE_SUFFIX):
        inner = account[len(_CREATOR_PAYABLE_PREFIX) : -len(_SHOP_PAYABLE_SUFFIX)]
        return inner or None
    return None


def creator_credits(entry: JournalEntry) -> dict[str, int]:
    """Creator id -> what `entry` credits that creator's payable (their commission)."""
    credits: dict[str, int] = {}
    for line in entry.lines:
        creator_id = creator_of_account(line.account)
        if creator_id is not None and not line.is_debit:
            credits[creator_id] = credits.get(creator_id, 0) - line.amount
    return credits


# The kinds of account that can be paid out, and how each names its payable account: the
# money API (balance, ledger, payouts) is one mechanism with the payee kind a parameter.
SHOP = "shop"
CREATOR = "creator"
PAYABLE_OF = {SHOP: shop_payable, CREATOR: creator_payable}
PAYABLE_PREFIX = {SHOP: _SHOP_PAYABLE_PREFIX, CREATOR: _CREATOR_PAYABLE_PREFIX}


@dataclass(frozen=True)
class Payee:
    """Whom a payable account belongs to: a shop or a creator, by id."""

    kind: str
    id: str

    def __post_init__(self) -> None:
        if self.kind not in PAYABLE_OF:
            raise LedgerError(f"unknown payee kind {self.kind!r}")
        PAYABLE_OF[self.kind](self.id)  # validates the id

    @property
    def account(self) -> str:
        return PAYABLE_OF[self.kind](self.id)


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


MAX_COMMISSION_RATE_BPS = 8000


def commission(amount: int, rate_bps: int) -> int:
    """A creator's commission on `amount` rupiah sold at `rate_bps`, rounded down."""
    amount = _require_amount("amount", amount)
    rate_bps = _require_amount("rate_bps", rate_bps)
    if amount < 0:
        raise LedgerError("amount must not be negative")
    if not 0 <= rate_bps <= MAX_COMMISSION_RATE_BPS:
        raise LedgerError(
            f"commission rate must be between 0 and {MAX_COMMISSION_RATE_BPS}, got {rate_bps}"
        )
    return amount * rate_bps // BPS_DENOMINATOR


@dataclass(frozen=True)
class SoldLine:
    """One order line at settlement: what it sold for, what of it was refunded before
    completion, and the creator it is attributed to (frozen at sale) with the rate."""

    line_total: int
    refunded: int = 0
    creator_id: str | None = None
    commission_rate_bps: int = 0

    def __post_init__(self) -> None:
        _require_amount("line_total", self.line_total)
        _require_amount("refunded", self.refunded)
        if self.line_total < 0 or not 0 <= self.refunded <= self.line_total:
            raise LedgerError(f"refunded {self.refunded} outside 0..{self.line_total}")
        if self.creator_id is not None:
            creator_payable(self.creator_id)
        commission(0, self.commission_rate_bps)  # validates the rate

    @property
    def sold(self) -> int:
        return self.line_total - self.refunded

    @property
    def commission(self) -> int:
        """Nothing without a creator; a (partial) refund reduces the base."""
        if self.creator_id is None:
            return 0
        return commission(self.sold, self.commission_rate_bps)


@dataclass(frozen=True)
class Settlement:
    """How a completed order's escrow is split (all integer rupiah, summing to `escrow`)."""

    escrow: int
    fee: int
    commissions: dict[str, int]  # creator id -> commission, zero amounts left out
    shop_net: int


def settlement(lines: Iterable[SoldLine], fee_bps: int, *, shipping: int = 0) -> Settlement:
    """Split what was finally sold (gross − refunded, plus shipping) between the platform
    fee (on that amount, rounded down), each creator's commission (per line, rounded down)
    and the shop (the rest, so every rounded-off fraction stays with the seller)."""
    lines = list(lines)
    shipping = _require_amount("shipping", shipping)
    if shipping < 0:
        raise LedgerError("shipping must not be negative")
    sold = sum(line.sold for line in lines) + shipping
    fee = platform_fee(sold, fee_bps)
    commissions: dict[str, int] = {}
    for line in lines:
        if line.commission:
            commissions[line.creator_id] = commissions.get(line.creator_id, 0) + line.commission
    shop_net = sold - fee - sum(commissions.values())
    if shop_net < 0:
        raise LedgerError(
            f"fee {fee} and commissions {sum(commissions.values())} exceed the sold {sold}"
        )
    return Settlement(sold, fee, commissions, shop_net)


def spread_refund(line_totals: list[int], refunded: int) -> list[int]:
    """Spread an order-level refund over its lines in proportion to their totals (rounded
    down, the rest handed out from the first line on), never more than a line's total: a
    partial refund of the order reduces each line's commission base by its share. What the
    lines cannot absorb (a refund beyond them, e.g. of shipping) is left out of the result."""
    refunded = _require_amount("refunded", refunded)
    totals = [_require_amount("line_total", total) for total in line_totals]
    if refunded < 0 or any(total < 0 for total in totals):
        raise LedgerError("amounts must not be negative")
    gross = sum(totals)
    take = min(refunded, gross)
    if take == 0:
        return [0] * len(totals)
    shares = [total * take // gross for total in totals]
    left = take - sum(shares)
    for index, total in enumerate(totals):
        extra = min(left, total - shares[index])
        shares[index] += extra
        left -= extra
    return shares


def settle_order(order_id: str, shop_id: str, lines: Iterable[SoldLine], fee_bps: int, *,
                 shipping: int = 0) -> JournalEntry:
    """The buyer received the goods: escrow goes to the shop, the platform's fee revenue
    and each attributed creator's payable (DESIGN.md §8, §11)."""
    split = settlement(lines, fee_bps, shipping=shipping)
    _require_positive("sold", split.escrow)
    entry_lines = [Line.debit(ESCROW, split.escrow)]
    if split.shop_net:
        entry_lines.append(Line.credit(shop_payable(shop_id), split.shop_net))
    else:
        shop_payable(shop_id)  # still validate the shop id
    if split.fee:
        entry_lines.append(Line.credit(PLATFORM_FEE_REVENUE, split.fee))
    for creator_id in sorted(split.commissions):
        entry_lines.append(Line.credit(creator_payable(creator_id), split.commissions[creator_id]))
    return JournalEntry(ORDER_COMPLETED, _require_text("order_id", order_id), tuple(entry_lines))



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
    return payee_payout(Payee(SHOP, shop_id), payout_id, amount)


def payee_payout(payee: Payee, payout_id: str, amount: int) -> JournalEntry:
    """A shop or a creator withdraws part of its available balance to its bank account."""
    amount = _require_positive("amount", amount)
    return JournalEntry(
        PAYOUT,
        _require_text("payout_id", payout_id),
        (Line.debit(payee.account, amount), Line.credit(PAYOUTS, amount)),
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
ESCROWED_STATUSES = frozenset({"AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED"})
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
