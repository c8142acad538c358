"""Client of the showcase's internal reservation API (docs/architecture.md).

Every call here is idempotent on the order id on the showcase's side (or a read: the
account status), so retries are allowed; each has an explicit timeout. The credential is
the shared `X-Internal-Token`, never a user's JWT.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import requests

from servicekit.http import json_or_none, make_session

from ..domain import ledger
from ..domain.money import line_total

log = logging.getLogger("transaction.storefront")


class StorefrontUnavailable(Exception):
    """The showcase did not answer usefully (down, timeout, 5xx, refused our credential)."""


class StorefrontRefused(Exception):
    """The showcase answered with a definite 4xx about the request itself."""

    def __init__(self, status: int, problem: dict | None):
        self.status = status
        self.problem = problem if isinstance(problem, dict) else {}
        super().__init__(f"storefront refused ({status}): {self.problem.get('detail')}")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "refused")


class InsufficientStock(StorefrontRefused):
    pass


class UnusableAnswer(ValueError):
    """The showcase answered 2xx with a shape we cannot trust (a contract breach)."""


MAX_COMMISSION_RATE_BPS = 8000


def _uuid_text(value, name: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError):
        raise UnusableAnswer(f"attribution {name} is not a uuid: {value!r}") from None


def attribution_of(item: dict, requested_content_id: str | None = None) -> dict | None:
    """A reservation line's `attribution`, checked: None or `{content_id, creator_id,
    commission_rate_bps}` with uuids and an integer rate in 0..8000. A line the buyer named
    a content for must come back attributed to exactly that content."""
    value = item.get("attribution")
    if value is None:
        if requested_content_id is not None:
            raise UnusableAnswer(f"line {item.get('product_id')} lost its content attribution")
        return None
    if not isinstance(value, dict):
        raise UnusableAnswer(f"attribution is not an object: {value!r}")
    rate = value.get("commission_rate_bps")
    if isinstance(rate, bool) or not isinstance(rate, int) or not (
        0 <= rate <= MAX_COMMISSION_RATE_BPS
    ):
        raise UnusableAnswer(f"commission_rate_bps out of range: {rate!r}")
    content_id = _uuid_text(value.get("content_id"), "content_id")
    if requested_content_id is not None and content_id != str(uuid.UUID(requested_content_id)):
        raise UnusableAnswer(f"line {item.get('product_id')} attributed to another content")
    return {
        "content_id": content_id,
        "creator_id": _uuid_text(value.get("creator_id"), "creator_id"),
        "commission_rate_bps": rate,
    }


class BadReservation(StorefrontUnavailable):
    """The showcase answered 2xx to a reservation with something we cannot use: to the
    checkout it is no answer at all (the reservation may exist)."""


@dataclass(frozen=True)
class Reservation:
    """A reservation answer, checked: the order's price snapshot, in the order asked for."""

    shop_id: str
    items: list[dict]  # [{product_id, title, quantity, unit_price, line_total, attribution}]
    subtotal: int
    expires_at: datetime | None


def check_reservation(wanted_items: list[dict], reservation: dict) -> Reservation:
    """The answer to a reservation of `wanted_items`, checked line by line against what was
    asked (an active reservation of one shop, every product at the quantity asked, a
    non-negative integer price, a well-formed attribution); BadReservation otherwise."""
    status = reservation.get("status")
    if status != "active":
        raise BadReservation(f"reservation is {status!r}, not active")
    returned = reservation.get("items")
    if not isinstance(returned, list):
        raise BadReservation("reservation has no items")
    by_product = {str(item.get("product_id")): item for item in returned if isinstance(item, dict)}
    items, subtotal, shops = [], 0, set()
    for wanted in wanted_items:
        item = by_product.get(wanted["product_id"])
        if item is None:
            raise BadReservation(f"product {wanted['product_id']} missing from reservation")
        unit_price, quantity = item.get("unit_price"), item.get("quantity")
        if isinstance(unit_price, dict):  # tolerate {"amount", "currency"}
            unit_price = unit_price.get("amount")
        if (
            isinstance(unit_price, bool) or not isinstance(unit_price, int) or unit_price < 0
            or quantity != wanted["quantity"]
        ):
            raise BadReservation(f"unusable reservation line {item!r}")
        total = line_total(unit_price, quantity)
        subtotal += total
        shops.add(str(item.get("shop_id") or reservation.get("shop_id")))
        try:
            attribution = attribution_of(item, wanted.get("content_id"))
        except UnusableAnswer as exc:
            raise BadReservation(str(exc)) from None
        if attribution is not None:
            # Frozen with the order: the rate the showcase answered, never recomputed.
            attribution["commission"] = ledger.commission(
                total, attribution["commission_rate_bps"]
            )
        items.append(
            {
                "product_id": wanted["product_id"],
                "title": str(item.get("title") or ""),
                "quantity": quantity,
                "unit_price": unit_price,
                "line_total": total,
                "attribution": attribution,
            }
        )
    shop_id = reservation.get("shop_id") or (shops.pop() if len(shops) == 1 else None)
    if not shop_id or len(shops) > 1:
        raise BadReservation("reservation spans several shops or names none")
    return Reservation(str(shop_id), items, subtotal, _parse_time(reservation.get("expires_at")))


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StorefrontAnswer:
    status: int
    body: dict | None


class StorefrontClient:
    def __init__(
        self, base_url: str, internal_token: str, *, timeout_seconds: float = 3.0,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.internal_token = internal_token
        self.timeout = (min(2.0, timeout_seconds), timeout_seconds)
        # The showcase is inside our own network: never through an environment proxy.
        self.session = session or make_session(methods=frozenset({"GET", "POST"}),
                                               trust_env=False)

    def _post(self, path: str, payload: dict | None = None) -> requests.Response:
        try:
            return self.session.post(
                self.base_url + path,
                json=payload if payload is not None else {},
                headers={"X-Internal-Token": self.internal_token},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise StorefrontUnavailable(f"{exc.__class__.__name__}: {exc}") from exc

    def reserve(self, order_id: str, buyer_id: str, items: list[dict]) -> Reservation:
        """Reserve `items` for the order; each may carry `content_id` (the buyer bought it
        from that content). Returns the answer checked (`check_reservation`): the order's
        price snapshot. BadReservation (a StorefrontUnavailable) for an answer we cannot
        use; InsufficientStock or StorefrontRefused for a refusal."""
        response = self._post(
            "/internal/reservations",
            {"order_id": order_id, "buyer_id": buyer_id, "items": items},
        )
        body = json_or_none(response)
        if response.status_code in (200, 201) and isinstance(body, dict):
            return check_reservation(items, body)
        if response.status_code == 409:
            raise InsufficientStock(409, body)
        if response.status_code in (400, 403, 404, 422):  # 403: the buyer is not active
            raise StorefrontRefused(response.status_code, body)
        raise StorefrontUnavailable(f"reservation answered {response.status_code}")

    def product_shops(self, product_ids: list[str]) -> dict[str, dict]:
        """`{product_id: {shop_id, status}}` of the products the showcase knows (one call
        for a whole cart); unknown ids are absent. Raises StorefrontUnavailable."""
        response = self._post("/internal/products/shops", {"product_ids": product_ids})
        body = json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict) \
                or not isinstance(body.get("products"), list):
            raise StorefrontUnavailable(f"product lookup answered {response.status_code}")
        found = {}
        for row in body["products"]:
            if isinstance(row, dict) and row.get("product_id") and row.get("shop_id"):
                found[str(row["product_id"])] = {"shop_id": str(row["shop_id"]),
                                                 "status": str(row.get("status") or "")}
        return found

    def account_active(self, account_id: str) -> bool:
        """Whether the showcase knows the account and it is not disabled."""
        try:
            response = self.session.get(
                f"{self.base_url}/internal/accounts/{quote(account_id, safe='')}",
                headers={"X-Internal-Token": self.internal_token},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise StorefrontUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
        body = json_or_none(response)
        if response.status_code == 200 and isinstance(body, dict):
            return body.get("active") is True
        if response.status_code in (404, 422):  # unknown (or not even an account id)
            return False
        raise StorefrontUnavailable(f"account status answered {response.status_code}")

    def commit(self, order_id: str) -> StorefrontAnswer:
        return self._action(order_id, "commit")

    def release(self, order_id: str) -> StorefrontAnswer:
        return self._action(order_id, "release")

    def restock(self, order_id: str) -> StorefrontAnswer:
        """Return the stock of a committed reservation (order cancelled after payment)."""
        return self._action(order_id, "restock")

    def restock_returned(self, order_id: str, return_id: str,
                         items: list[dict]) -> StorefrontAnswer:
        """Put exactly `items` ([{product_id, quantity}]) of a committed reservation back
        in stock, once per `return_id` (a repeat answers the same restock)."""
        response = self._post(f"/internal/reservations/{order_id}/returns/{return_id}",
                              {"items": items})
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            raise StorefrontUnavailable(f"return restock answered {response.status_code}")
        return StorefrontAnswer(response.status_code, json_or_none(response))

    def _action(self, order_id: str, action: str) -> StorefrontAnswer:
        response = self._post(f"/internal/reservations/{order_id}/{action}")
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            raise StorefrontUnavailable(f"{action} answered {response.status_code}")
        return StorefrontAnswer(response.status_code, json_or_none(response))


class AccountStatusCache:
    """The showcase's answer to "is this account active?", kept `ttl_seconds` per process.

    A disabled or deleted account's tokens stop working on the marketplace within the TTL.
    When the showcase cannot be asked, the last answer stands (an inactive account stays
    refused) and an account never seen is let through on its valid signature alone: order
    lookups must keep working while the showcase is down (DESIGN.md §5), and a checkout
    cannot happen then anyway (the showcase also refuses to reserve for such a buyer).
    """

    MAX_ENTRIES = 50_000

    def __init__(self, client: StorefrontClient, ttl_seconds: float):
        self.client = client
        self.ttl_seconds = ttl_seconds
        self._known: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def is_active(self, account_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            known = self._known.get(account_id)
        if known is not None and now - known[1] < self.ttl_seconds:
            return known[0]
        try:
            active = self.client.account_active(account_id)
        except StorefrontUnavailable as exc:
            log.warning("account status unknown: %s", exc)
            return known[0] if known is not None else True
        with self._lock:
            if len(self._known) >= self.MAX_ENTRIES:
                self._known.clear()
            self._known[account_id] = (active, now)
        return active


class ProductShopCache:
    """Which shop sells each product, kept per process: a product never moves to another
    shop, so a checkout asks the showcase only about products this process has not seen
    for sale in the last `TTL_SECONDS` (one call for all of them).

    Only products seen active are kept, and only to split the cart by shop: whether a
    product is still for sale is decided again by its reservation, under the stock lock
    (a product withdrawn since is refused there with the same 404 the lookup would give).
    """

    TTL_SECONDS = 60.0
    MAX_ENTRIES = 100_000

    def __init__(self, client: StorefrontClient, ttl_seconds: float = TTL_SECONDS):
        self.client = client
        self.ttl_seconds = ttl_seconds
        self._shops: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def product_shops(self, product_ids: list[str]) -> dict[str, dict]:
        """Same answer as `StorefrontClient.product_shops`. Raises StorefrontUnavailable."""
        now = time.monotonic()
        found: dict[str, dict] = {}
        with self._lock:
            for product_id in product_ids:
                cached = self._shops.get(product_id)
                if cached is not None and now - cached[1] < self.ttl_seconds:
                    found[product_id] = {"shop_id": cached[0], "status": "active"}
        missing = [product_id for product_id in product_ids if product_id not in found]
        if not missing:
            return found
        answered = self.client.product_shops(missing)
        with self._lock:
            if len(self._shops) + len(answered) > self.MAX_ENTRIES:
                self._shops.clear()
            for product_id, product in answered.items():
                if product["status"] == "active":
                    self._shops[product_id] = (product["shop_id"], now)
                else:
                    self._shops.pop(product_id, None)
        return {**found, **answered}


class SoldOutHints:
    """What the showcase said was left of a product when it refused a reservation for
    lack of stock, kept per process for `ttl_seconds`, so that the next checkouts asking
    for more than that are refused here, before anything is written or the showcase is
    asked (in a flash sale, the hundreds of buyers who arrive after the stock is gone).

    A hint can only refuse, never sell: it cannot oversell. It can be stale for up to
    `ttl_seconds` after stock comes back (a reservation released, the seller restocking),
    the price of not asking the showcase; 0 turns hints off. A reservation this process
    makes for a product forgets its hint (the stock moved: ask again)."""

    MAX_ENTRIES = 100_000

    def __init__(self, ttl_seconds: float, clock=time.monotonic):
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._left: dict[str, tuple[int, float]] = {}  # product id -> (available, expires)
        self._lock = threading.Lock()

    def refused(self, problem: dict) -> None:
        """Remember an `insufficient-stock` problem of the showcase (product_id, available)."""
        if self.ttl_seconds <= 0:
            return
        product_id, available = problem.get("product_id"), problem.get("available")
        if not isinstance(product_id, str) or type(available) is not int or available < 0:
            return  # not the shape the showcase sends: nothing to learn from it
        with self._lock:
            if len(self._left) >= self.MAX_ENTRIES:
                self._left.clear()
            self._left[product_id] = (available, self._clock() + self.ttl_seconds)

    def reserved(self, product_ids) -> None:
        with self._lock:
            for product_id in product_ids:
                self._left.pop(product_id, None)

    def shortfall(self, items: list[dict]) -> dict | None:
        """For lines `[{product_id, quantity}]` (a product may repeat): the first product,
        in id order, asked for more than its live hint leaves, as the showcase's problem
        fields `{product_id, requested, available}`; None when no hint refuses."""
        if self.ttl_seconds <= 0 or not self._left:
            return None
        wanted: dict[str, int] = {}
        for item in items:
            wanted[item["product_id"]] = wanted.get(item["product_id"], 0) + item["quantity"]
        now = self._clock()
        with self._lock:
            for product_id in sorted(wanted):
                hint = self._left.get(product_id)
                if hint is None:
                    continue
                if now >= hint[1]:
                    del self._left[product_id]
                elif wanted[product_id] > hint[0]:
                    return {"product_id": product_id, "requested": wanted[product_id],
                            "available": hint[0]}
        return None
