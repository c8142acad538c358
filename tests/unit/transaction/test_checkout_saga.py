"""Every branch of the checkout saga (operations/checkout.py), in-process, in milliseconds.

The saga's three participants are fakes at the `Context` seam: the showcase
(`ctx.storefront`), the payment provider (`ctx.payments`) and the marketplace's own
records (`ctx.checkouts`, whose real transactions the integration tests run on Postgres).
Each fake writes what it was asked to one journal, so a test reads as the commands the saga
sent, in order (as ftgo's CreateOrderSagaTest does), then the error it raised. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from transaction_service.clients.payments import ChargeResult, ProviderRefused, ProviderUnavailable
from transaction_service.clients.storefront import (
    BadReservation,
    InsufficientStock,
    Reservation,
    SoldOutHints,
    StorefrontAnswer,
    StorefrontRefused,
    StorefrontUnavailable,
)
from transaction_service.context import Context
from transaction_service.domain import errors
from transaction_service.operations.checkout import (
    CheckoutRequest,
    place_checkout,
    refuse_known_sold_out,
)
from transaction_service.operations.checkout_records import KeyTakenOver

# Shop ids sort as named: reservations are taken in shop-id order.
SHOP_A, SHOP_B, SHOP_C = ("a" * 8 + "-0000-4000-8000-" + "0" * 12,
                          "b" * 8 + "-0000-4000-8000-" + "0" * 12,
                          "c" * 8 + "-0000-4000-8000-" + "0" * 12)
CATALOGUE = {"shirt": SHOP_A, "batik": SHOP_A, "kopi": SHOP_B, "tea": SHOP_C,
             # one product each of eleven more shops: one too many for a checkout
             **{f"item-{n}": f"{n:08d}-0000-4000-8000-{'0' * 12}" for n in range(11)}}
PRICE = 10_000
NAMES = {SHOP_A: "A", SHOP_B: "B", SHOP_C: "C"}


@dataclass
class World:
    """The journal every fake writes to, and the shop each order id belongs to."""

    journal: list[tuple] = field(default_factory=list)
    shop_of_order: dict[str, str] = field(default_factory=dict)

    def shops(self, order_ids) -> list[str]:
        return [NAMES[self.shop_of_order[order_id]] for order_id in order_ids]


class FakeStorefront:
    def __init__(self, world: World):
        self.world = world
        self.down = False  # the product lookup fails
        self.refusals: dict[str, Exception] = {}  # shop -> what reserve raises
        self.release_answers: dict[str, object] = {}  # shop -> status or exception
        self.expires_at: dict[str, datetime] = {}

    def product_shops(self, product_ids):
        self.world.journal.append(("storefront.product_shops",))
        if self.down:
            raise StorefrontUnavailable("connection refused")
        return {pid: {"shop_id": CATALOGUE[pid], "status": "active"}
                for pid in product_ids if pid in CATALOGUE}

    def reserve(self, order_id, buyer_id, items):
        shop = CATALOGUE[items[0]["product_id"]]
        self.world.shop_of_order[order_id] = shop
        self.world.journal.append(("storefront.reserve", NAMES[shop]))
        if shop in self.refusals:
            raise self.refusals[shop]
        lines = [{"product_id": i["product_id"], "title": i["product_id"],
                  "quantity": i["quantity"], "unit_price": PRICE,
                  "line_total": PRICE * i["quantity"], "attribution": None} for i in items]
        return Reservation(shop, lines, sum(line["line_total"] for line in lines),
                           self.expires_at.get(shop))

    def release(self, order_id):
        shop = self.world.shop_of_order[order_id]
        self.world.journal.append(("storefront.release", NAMES[shop]))
        answer = self.release_answers.get(shop, 200)
        if isinstance(answer, Exception):
            raise answer
        return StorefrontAnswer(answer, {})


class FakePayments:
    name = "sandbox"

    def __init__(self, world: World):
        self.world = world
        self.failure: Exception | None = None
        self.charged: dict = {}

    def charge(self, *, order_id, gross_amount, method, expiry_seconds):
        self.world.journal.append(("payments.charge", gross_amount))
        self.charged = {"order_id": order_id, "gross_amount": gross_amount,
                        "expiry_seconds": expiry_seconds}
        if self.failure is not None:
            raise self.failure
        return ChargeResult("tx-1", "8808123", "bca", None, None)


class FakeCheckouts:
    """The marketplace's records of the saga (CheckoutRecords' methods)."""

    def __init__(self, world: World):
        self.world = world
        self.reaped_before = None  # "snapshot" or "place": the expiry worker got there first
        self.key_taken_over = False
        self.orders: dict[str, str] = {}  # order id -> checkout id
        self.snapshot: dict = {}

    def _log(self, *entry):
        self.world.journal.append(("checkouts." + entry[0], *entry[1:]))

    def open(self, checkout_id, request, order_ids):
        self._log("open", len(order_ids))
        self.orders = dict.fromkeys(order_ids, checkout_id)

    def abandon(self, checkout_id, reason, *, actor, cancel_at_provider):
        self._log("abandon", reason, "with provider cancel" if cancel_at_provider else "")

    def undo(self, checkout_id, unreleased, reason, *, actor):
        self._log("undo", reason, self.world.shops(unreleased))

    def save_snapshot(self, checkout_id, reserved, *, total, deadline, provider, method):
        self._log("save_snapshot", total)
        self.snapshot = {"orders": [order_id for order_id, _ in reserved], "total": total,
                         "deadline": deadline}
        return self.reaped_before != "snapshot"

    def place(self, checkout_id, request, reserved, charge, deadline):
        self._log("place", self.world.shops(order_id for order_id, _ in reserved))
        if self.key_taken_over:
            raise KeyTakenOver()
        if self.reaped_before == "place":
            return None
        return {"checkout": {"id": checkout_id},
                "orders": [{"id": order_id} for order_id, _ in reserved]}


@pytest.fixture
def world():
    return World()


@pytest.fixture
def ctx(world):
    return Context(
        config=SimpleNamespace(payment_expiry_seconds=3600),
        database=None,  # the saga reaches its records only through ctx.checkouts
        storefront=FakeStorefront(world),
        payments=FakePayments(world),
        checkouts=FakeCheckouts(world),
    )


def checkout(*products: str) -> CheckoutRequest:
    return CheckoutRequest(buyer_id="buyer-1",
                           items=[{"product_id": p, "quantity": 2} for p in products],
                           shipping_address={}, payment_method="bank_transfer")


LOOKED_UP = [("storefront.product_shops",)]
OPENED = [*LOOKED_UP, ("checkouts.open", 1)]
OPENED_THREE_SHOPS = [*LOOKED_UP, ("checkouts.open", 3)]


# --- success ------------------------------------------------------------------------------


def test_one_shop_runs_open_reserve_snapshot_charge_place(ctx, world):
    placed = place_checkout(ctx, checkout("shirt", "batik"))

    assert world.journal == [
        *OPENED, ("storefront.reserve", "A"), ("checkouts.save_snapshot", 4 * PRICE),
        ("payments.charge", 4 * PRICE), ("checkouts.place", ["A"]),
    ]
    # A checkout of one order shares its id: the provider's order_id is both.
    assert placed["orders"][0]["id"] == placed["checkout"]["id"]
    assert ctx.payments.charged["order_id"] == placed["checkout"]["id"]


def test_several_shops_reserve_in_shop_id_order_and_pay_once(ctx, world):
    placed = place_checkout(ctx, checkout("tea", "kopi", "shirt"))

    assert world.journal == [
        *OPENED_THREE_SHOPS,
        ("storefront.reserve", "A"), ("storefront.reserve", "B"), ("storefront.reserve", "C"),
        ("checkouts.save_snapshot", 6 * PRICE), ("payments.charge", 6 * PRICE),
        ("checkouts.place", ["A", "B", "C"]),
    ]
    assert len({order["id"] for order in placed["orders"]}) == 3
    assert placed["checkout"]["id"] not in {order["id"] for order in placed["orders"]}


def test_the_deadline_is_the_earliest_reservation_expiry(ctx):
    soon = datetime.now(UTC) + timedelta(minutes=10)
    ctx.storefront.expires_at = {SHOP_A: soon + timedelta(minutes=5), SHOP_B: soon}

    place_checkout(ctx, checkout("shirt", "kopi"))

    assert ctx.checkouts.snapshot["deadline"] == soon
    assert 0 < ctx.payments.charged["expiry_seconds"] <= 600


# --- 1. open ------------------------------------------------------------------------------


def test_showcase_down_at_the_lookup_writes_nothing(ctx, world):
    ctx.storefront.down = True

    with pytest.raises(errors.Unavailable) as raised:
        place_checkout(ctx, checkout("shirt"))

    assert world.journal == LOOKED_UP  # nothing opened, nothing to undo
    assert raised.value.slug == "storefront-unavailable" and raised.value.retry_after == 5


def test_an_unknown_product_means_the_checkout_never_existed(ctx, world):
    with pytest.raises(errors.Invalid) as raised:
        place_checkout(ctx, checkout("shirt", "ghost"))

    assert world.journal == LOOKED_UP
    assert raised.value.title == "Unknown product" and raised.value.slug == "validation-error"
    assert raised.value.fields == {"product_id": "ghost"}
    assert list(raised.value.errors) == ["items"]


def test_more_than_ten_shops_means_the_checkout_never_existed(ctx, world):
    with pytest.raises(errors.Invalid) as raised:
        place_checkout(ctx, checkout(*(f"item-{n}" for n in range(11))))

    assert world.journal == LOOKED_UP
    assert raised.value.title is None  # the kind's own: "Validation failed"
    assert "at most 10 shops" in raised.value.detail


# --- 2. reserve ---------------------------------------------------------------------------


def _stock_refusal() -> InsufficientStock:
    return InsufficientStock(409, {"detail": "Only 1 left of kopi.", "product_id": "kopi",
                                   "requested": 2, "available": 1, "title": "ignored"})


def test_insufficient_stock_releases_what_the_other_shops_reserved(ctx, world):
    ctx.storefront.refusals[SHOP_B] = _stock_refusal()

    with pytest.raises(errors.InsufficientStock) as raised:
        place_checkout(ctx, checkout("shirt", "kopi", "tea"))

    assert world.journal == [
        *OPENED_THREE_SHOPS,
        ("storefront.reserve", "A"), ("storefront.reserve", "B"),
        ("storefront.release", "A"), ("checkouts.undo", "insufficient-stock", []),
    ]  # C was never asked
    assert raised.value.detail == "Only 1 left of kopi."
    assert raised.value.fields == {"product_id": "kopi", "requested": 2, "available": 1}


def test_insufficient_stock_at_the_first_shop_releases_nothing(ctx, world):
    ctx.storefront.refusals[SHOP_A] = _stock_refusal()

    with pytest.raises(errors.InsufficientStock):
        place_checkout(ctx, checkout("shirt", "kopi"))

    assert world.journal[-2:] == [("storefront.reserve", "A"),
                                  ("checkouts.undo", "insufficient-stock", [])]


def test_a_stock_refusal_is_remembered_and_refuses_the_next_checkout_before_it_opens(
        ctx, world):
    ctx.sold_out = SoldOutHints(60.0)
    ctx.storefront.refusals[SHOP_B] = _stock_refusal()
    with pytest.raises(errors.InsufficientStock):
        place_checkout(ctx, checkout("shirt", "kopi"))
    opened = len(world.journal)

    with pytest.raises(errors.InsufficientStock) as raised:
        refuse_known_sold_out(ctx, [{"product_id": "kopi", "quantity": 2}])
    assert raised.value.fields == {"product_id": "kopi", "requested": 2, "available": 1}
    refuse_known_sold_out(ctx, [{"product_id": "kopi", "quantity": 1}])  # 1 was left
    refuse_known_sold_out(ctx, [{"product_id": "shirt", "quantity": 9}])  # A reserved it
    assert len(world.journal) == opened  # nothing asked, nothing written


@pytest.mark.parametrize("answer", [StorefrontUnavailable("timeout"), 409, 500])
def test_a_release_that_cannot_be_made_now_is_left_to_the_outbox(ctx, world, answer):
    ctx.storefront.refusals[SHOP_C] = _stock_refusal()
    ctx.storefront.release_answers[SHOP_A] = answer

    with pytest.raises(errors.InsufficientStock):
        place_checkout(ctx, checkout("shirt", "kopi", "tea"))

    assert world.journal[-3:] == [
        ("storefront.release", "A"), ("storefront.release", "B"),
        ("checkouts.undo", "insufficient-stock", ["A"]),
    ]


def test_a_release_of_a_reservation_the_showcase_never_made_counts_as_done(ctx, world):
    ctx.storefront.refusals[SHOP_B] = _stock_refusal()
    ctx.storefront.release_answers[SHOP_A] = 404

    with pytest.raises(errors.InsufficientStock):
        place_checkout(ctx, checkout("shirt", "kopi"))

    assert world.journal[-1] == ("checkouts.undo", "insufficient-stock", [])


def test_an_inactive_buyer_is_refused_after_the_reservations_are_released(ctx, world):
    ctx.storefront.refusals[SHOP_B] = StorefrontRefused(403, {"detail": "Account disabled."})

    with pytest.raises(errors.AccountInactive) as raised:
        place_checkout(ctx, checkout("shirt", "kopi"))

    assert world.journal[-2:] == [("storefront.release", "A"),
                                  ("checkouts.undo", "refused", [])]
    assert raised.value.slug == "account-inactive"


@pytest.mark.parametrize(("status", "title"), [(404, "Unknown product"), (422, None)])
def test_a_refused_item_is_invalid_input_naming_the_field(ctx, world, status, title):
    ctx.storefront.refusals[SHOP_B] = StorefrontRefused(status, {
        "detail": "Quantity too large.", "errors": {"0.quantity": ["At most 999."]},
        "product_id": "kopi"})

    with pytest.raises(errors.Invalid) as raised:
        place_checkout(ctx, checkout("shirt", "kopi"))

    assert world.journal[-2:] == [("storefront.release", "A"),
                                  ("checkouts.undo", "refused", [])]
    assert raised.value.title == title
    assert raised.value.errors == {"items.0.quantity": ["At most 999."]}
    assert raised.value.fields == {"product_id": "kopi"}


def test_a_refusal_without_field_errors_names_the_items(ctx):
    ctx.storefront.refusals[SHOP_A] = StorefrontRefused(422, {"title": "Bad items"})

    with pytest.raises(errors.Invalid) as raised:
        place_checkout(ctx, checkout("shirt"))

    assert raised.value.errors == {"items": ["Bad items"]}


@pytest.mark.parametrize("failure", [StorefrontUnavailable("reservation answered 503"),
                                     BadReservation("reservation is 'released', not active")])
def test_no_usable_reservation_answer_abandons_the_checkout_to_the_outbox(ctx, world, failure):
    ctx.storefront.refusals[SHOP_B] = failure

    with pytest.raises(errors.Unavailable) as raised:
        place_checkout(ctx, checkout("shirt", "kopi"))

    # No release now: the abandoned orders' releases are outbox rows (B's included, as
    # its reservation may exist).
    assert world.journal[-3:] == [
        ("storefront.reserve", "A"), ("storefront.reserve", "B"),
        ("checkouts.abandon", "storefront-unavailable", ""),
    ]
    assert raised.value.slug == "storefront-unavailable"


# --- 3. snapshot --------------------------------------------------------------------------


def test_a_checkout_reaped_before_its_snapshot_is_interrupted_without_a_charge(ctx, world):
    ctx.checkouts.reaped_before = "snapshot"

    with pytest.raises(errors.Unavailable) as raised:
        place_checkout(ctx, checkout("shirt"))

    # The reaper cancelled it and queued its release; the saga only stops.
    assert world.journal[-1] == ("checkouts.save_snapshot", 2 * PRICE)
    assert raised.value.slug == "checkout-interrupted"


# --- 4. charge ----------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [ProviderUnavailable("timeout"),
                                     ProviderRefused(400, {"status_message": "no"})])
def test_a_failed_charge_abandons_the_checkout_and_cancels_at_the_provider(ctx, world, failure):
    ctx.payments.failure = failure

    with pytest.raises(errors.Unavailable) as raised:
        place_checkout(ctx, checkout("shirt", "kopi"))

    assert world.journal[-2:] == [
        ("payments.charge", 4 * PRICE),
        ("checkouts.abandon", "payment-provider-unavailable", "with provider cancel"),
    ]
    assert raised.value.slug == "payment-provider-unavailable"


# --- 5. place -----------------------------------------------------------------------------


def test_an_idempotency_key_taken_over_abandons_this_attempt(ctx, world):
    ctx.checkouts.key_taken_over = True

    with pytest.raises(errors.Conflict) as raised:
        place_checkout(ctx, checkout("shirt"))

    assert world.journal[-2:] == [
        ("checkouts.place", ["A"]),
        ("checkouts.abandon", "idempotency-key-taken-over", "with provider cancel"),
    ]
    assert (raised.value.slug, raised.value.title, raised.value.retry_after) == (
        "idempotency-key-in-use", "Idempotency-Key in use", 1)


def test_a_checkout_reaped_while_the_provider_answered_is_interrupted(ctx, world):
    ctx.checkouts.reaped_before = "place"

    with pytest.raises(errors.Unavailable) as raised:
        place_checkout(ctx, checkout("shirt"))

    assert world.journal[-1] == ("checkouts.place", ["A"])
    assert raised.value.slug == "checkout-interrupted"
