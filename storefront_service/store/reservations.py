"""Stock reservations for marketplace orders.

No oversell under any concurrency: product rows are locked with SELECT ... FOR UPDATE in id
order (a deterministic order, so two reservations can never deadlock), checked, and
decremented in the same transaction; the CHECK (stock >= 0) constraint is the backstop.
The unit price is read from the locked row, so it is the price current at the moment the
stock was taken: a concurrent price change either committed before the lock (and is seen)
or waits for this transaction to finish.

Lock order everywhere: a reservation row before product rows (commit, release, restock,
sweeper); a new reservation inserts its own, not yet visible, row and then locks products.
A refusal (unknown product, sold out) is decided on the committed rows before any product
lock is taken, so the losers of a flash sale never queue on the hot row.
"""

from __future__ import annotations

from collections import defaultdict

from servicekit.db import Database

from ..domain import attribution
from ..domain import reservations as rules
from ..domain.errors import Conflict, Forbidden, Invalid, NotFound
from . import carts, contents
from .accounts import as_account_id

_RESERVATION_COLUMNS = """order_id, buyer_id, shop_id, status, expires_at, created_at,
    committed_at, released_at, released_by, restocked_at"""


class _Raced(Exception):
    """Another request created the same reservation between our check and our insert."""


def reserve(db: Database, *, order_id: str, buyer_id: str, items: dict[str, int],
            ttl_seconds: int, content_ids: dict[str, str] | None = None,
            attribution_window_seconds: int = attribution.DEFAULT_WINDOW_SECONDS,
            ) -> tuple[dict, bool]:
    """Take stock for every item or none. Returns (reservation, created); a repeat with the
    same request returns the existing reservation with created=False.

    Each line's attribution is decided here, once, and frozen with the line: the
    `content_ids` named for it (validated: 422), else the buyer's cart touch within the
    window, else none; the rate is the product's, read under the stock lock."""
    for _attempt in range(2):
        try:
            with db.transaction() as cur:
                existing = _load(cur, order_id)
                if existing is not None:
                    return _same_or_conflict(existing, buyer_id, items), False
                return _create(cur, order_id, buyer_id, items, ttl_seconds,
                               content_ids or {}, attribution_window_seconds), True
        except _Raced:
            continue  # the other request committed: answer as a repeat
    raise Conflict("The reservation is being created concurrently; retry.", slug="busy")


def _create(cur, order_id: str, buyer_id: str, items: dict[str, int], ttl_seconds: int,
            content_ids: dict[str, str], window_seconds: int) -> dict:
    # No stock for a disabled buyer, even while the marketplace still trusts its cached
    # "active" answer for the account (an unknown one it refuses at first sight). FOR
    # SHARE: a disable committing meanwhile waits for this reservation, or wins first.
    account = None
    if (account_id := as_account_id(buyer_id)) is not None:
        cur.execute("SELECT disabled_at FROM accounts WHERE id = %s FOR SHARE", (account_id,))
        account = cur.fetchone()
    if account is not None and account["disabled_at"] is not None:
        raise Forbidden("The buyer's account is disabled.", slug="account-inactive")
    # A refusal is decided on the committed rows first, without their locks: in a flash
    # sale the losers (sold out) then never queue on the hot row behind the winners.
    # Refusing on committed stock is as right as refusing under the lock a moment later;
    # a request that passes is checked again under the lock below.
    shop_id = rules.check_reservable(items, _products(cur, items, lock=False)[0])
    # The cart's touches and the reservation's own row come before the product row
    # locks, so a hot product's row is held for one locked read, the stock update and
    # the commit alone. The new row is invisible until commit: nobody else can lock it,
    # and a concurrent request for the same order waits on its insert holding no product
    # lock, so the lock order (reservation before products) still holds.
    touches = _touches(cur, buyer_id, items, content_ids, window_seconds)
    cur.execute(
        f"""
        INSERT INTO reservations (order_id, buyer_id, shop_id, expires_at)
        VALUES (%s, %s, %s, now() + make_interval(secs => %s))
        ON CONFLICT (order_id) DO NOTHING
        RETURNING {_RESERVATION_COLUMNS}
        """,
        (order_id, buyer_id, shop_id, ttl_seconds),
    )
    reservation = cur.fetchone()
    if reservation is None:
        raise _Raced()
    locked, rates = _products(cur, items, lock=True)
    rules.check_reservable(items, locked)  # a product's shop never changes: same shop_id
    product_ids = sorted(items)
    frozen = {pid: attribution.frozen_attribution(touches.get(pid), rates[pid])
              for pid in product_ids}

    def column(name: str) -> list:
        return [frozen[pid][name] if frozen[pid] else None for pid in product_ids]

    # One statement for every item: take the stock (price, version and title come from the
    # rows locked above) and record the lines with their attribution.
    cur.execute(
        """
        WITH wanted AS (
            SELECT * FROM unnest(%(ids)s::uuid[], %(quantities)s::int[], %(contents)s::uuid[],
                                 %(creators)s::uuid[], %(rates)s::int[])
                AS w(product_id, quantity, content_id, creator_id, commission_rate_bps)
        ), taken AS (
            UPDATE products p SET stock = p.stock - w.quantity
            FROM wanted w WHERE p.id = w.product_id
            RETURNING p.id, p.price, p.version, p.title, w.quantity, w.content_id,
                      w.creator_id, w.commission_rate_bps
        )
        INSERT INTO reservation_items
            (order_id, product_id, quantity, unit_price, product_version, title,
             content_id, creator_id, commission_rate_bps)
        SELECT %(order_id)s, id, quantity, price, version, title,
               content_id, creator_id, commission_rate_bps FROM taken
        RETURNING product_id, title, quantity, unit_price, content_id, creator_id,
                  commission_rate_bps
        """,
        {"ids": product_ids, "quantities": [items[pid] for pid in product_ids],
         "contents": column("content_id"), "creators": column("creator_id"),
         "rates": column("commission_rate_bps"), "order_id": order_id},
    )
    # The lines as just written (no second read while the rows are locked).
    reservation["items"] = [
        _item({**row, "shop_id": shop_id})
        for row in sorted(cur.fetchall(), key=lambda row: str(row["product_id"]))
    ]
    return reservation


def _products(cur, items: dict[str, int], *, lock: bool) -> tuple[
    dict[str, rules.LockedProduct], dict[str, int]
]:
    """The requested products' rows (locked FOR UPDATE in id order when `lock`) and their
    commission rates."""
    cur.execute(
        "SELECT id, shop_id, title, price, stock, status, commission_rate_bps FROM products"
        " WHERE id = ANY(%s::uuid[]) ORDER BY id" + (" FOR UPDATE" if lock else ""),
        (list(items),),
    )
    rows = cur.fetchall()
    products = {
        str(row["id"]): rules.LockedProduct(
            id=str(row["id"]), shop_id=str(row["shop_id"]), title=row["title"],
            price=row["price"], stock=row["stock"], status=row["status"],
        )
        for row in rows
    }
    return products, {str(row["id"]): row["commission_rate_bps"] for row in rows}


def _touches(cur, buyer_id: str, items: dict[str, int], content_ids: dict[str, str],
             window_seconds: int) -> dict[str, attribution.Touch]:
    """Per product: the named content (checked, else 422) or the cart's last touch."""
    named = {
        pid: attribution.require_valid_touch(
            contents.touch(cur, content_id=content_ids[pid], product_id=pid),
            content_id=content_ids[pid], product_id=pid, buyer_id=buyer_id,
        )
        for pid in sorted(items) if content_ids.get(pid)
    }
    from_cart = carts.attributed_touches(
        cur, buyer_id, [pid for pid in items if pid not in named], window_seconds
    )
    # The cart never holds a self-touch (PUT refuses it); skip one anyway, never pay it.
    from_cart = {pid: t for pid, t in from_cart.items() if t.creator_id != str(buyer_id)}
    return {**from_cart, **named}


def _same_or_conflict(existing: dict, buyer_id: str, items: dict[str, int]) -> dict:
    held = {item["product_id"]: item["quantity"] for item in existing["items"]}
    if not rules.same_request(held, existing["buyer_id"], items, buyer_id):
        raise Conflict(
            "A reservation for this order already exists with different items.",
            slug="reservation-mismatch",
            order_id=existing["order_id"],
        )
    return existing


def get(db: Database, order_id: str) -> dict | None:
    with db.transaction() as cur:
        return _load(cur, order_id)


def commit(db: Database, order_id: str) -> dict:
    """Make the sale final and take the sold products out of the buyer's cart."""
    with db.transaction() as cur:
        status, buyer_id = _lock(cur, order_id)
        if rules.decide_transition(status, rules.COMMITTED) == rules.APPLY:
            cur.execute(
                "UPDATE reservations SET status = 'committed', committed_at = now()"
                " WHERE order_id = %s",
                (order_id,),
            )
            cur.execute(
                """
                DELETE FROM cart_items WHERE buyer_id = %s AND product_id IN (
                    SELECT product_id FROM reservation_items WHERE order_id = %s)
                """,
                (buyer_id, order_id),
            )
        return _load(cur, order_id)


def release(db: Database, order_id: str) -> dict:
    """Return the held stock (order cancelled or expired on the marketplace)."""
    with db.transaction() as cur:
        status, _buyer_id = _lock(cur, order_id)
        if rules.decide_transition(status, rules.RELEASED) == rules.APPLY:
            _return_stock(cur, [order_id])
            _mark_released(cur, [order_id], "marketplace")
        return _load(cur, order_id)


def restock(db: Database, order_id: str) -> dict:
    """Put the units of a committed reservation back on the shelf (a paid order cancelled
    after the sale was final). The reservation row lock serialises duplicate calls: the
    stock goes back exactly once, repeats answer with the restocked reservation. Products
    get their units back whatever their status (stock is only a number on the row)."""
    with db.transaction() as cur:
        status, _buyer_id = _lock(cur, order_id)
        if rules.decide_transition(status, rules.RESTOCKED) == rules.APPLY:
            _return_stock(cur, [order_id])
            cur.execute(
                "UPDATE reservations SET status = 'restocked', restocked_at = now()"
                " WHERE order_id = %s",
                (order_id,),
            )
        return _load(cur, order_id)


def sweep_expired(db: Database, *, grace_seconds: int, batch_size: int) -> int:
    """Release one batch of active reservations past expires_at + grace; returns how many.

    SKIP LOCKED lets several sweepers (or a sweeper and the marketplace releasing the same
    order) run without waiting on each other; a row locked by someone else is left for the
    next round.
    """
    with db.transaction() as cur:
        cur.execute(
            """
            SELECT order_id FROM reservations
            WHERE status = 'active' AND expires_at + make_interval(secs => %s) < now()
            ORDER BY expires_at
            LIMIT %s
            FOR UPDATE SKIP LOCKED
            """,
            (grace_seconds, batch_size),
        )
        order_ids = [str(row["order_id"]) for row in cur.fetchall()]
        if order_ids:
            _return_stock(cur, order_ids)
            _mark_released(cur, order_ids, "sweeper")
        return len(order_ids)


def _lock(cur, order_id: str) -> tuple[str, str]:
    cur.execute(
        "SELECT status, buyer_id FROM reservations WHERE order_id = %s FOR UPDATE", (order_id,)
    )
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"No reservation for order {order_id}.")
    return row["status"], str(row["buyer_id"])


def _return_stock(cur, order_ids: list[str]) -> None:
    cur.execute(
        "SELECT product_id, quantity FROM reservation_items WHERE order_id = ANY(%s::uuid[])",
        (order_ids,),
    )
    returned: dict[str, int] = defaultdict(int)
    for row in cur.fetchall():
        returned[str(row["product_id"])] += row["quantity"]
    # Same id order as reservations take their locks, so the two never deadlock.
    for product_id in sorted(returned):
        cur.execute(
            "UPDATE products SET stock = stock + %s WHERE id = %s",
            (returned[product_id], product_id),
        )


def _mark_released(cur, order_ids: list[str], released_by: str) -> None:
    cur.execute(
        """
        UPDATE reservations SET status = 'released', released_at = now(), released_by = %s
        WHERE order_id = ANY(%s::uuid[])
        """,
        (released_by, order_ids),
    )


def _load(cur, order_id: str) -> dict | None:
    cur.execute(
        f"SELECT {_RESERVATION_COLUMNS} FROM reservations WHERE order_id = %s", (order_id,)
    )
    reservation = cur.fetchone()
    if reservation is None:
        return None
    reservation["items"] = _items(cur, order_id)
    return reservation


def _items(cur, order_id: str) -> list[dict]:
    cur.execute(
        """
        SELECT ri.product_id, p.shop_id, ri.title, ri.quantity, ri.unit_price,
               ri.content_id, ri.creator_id, ri.commission_rate_bps
        FROM reservation_items ri JOIN products p ON p.id = ri.product_id
        WHERE ri.order_id = %s ORDER BY ri.product_id
        """,
        (order_id,),
    )
    return [_item(row) for row in cur.fetchall()]


def _item(row: dict) -> dict:
    """A reservation line as answered: its attribution columns folded into one value."""
    content_id = row.pop("content_id")
    creator_id = row.pop("creator_id")
    rate = row.pop("commission_rate_bps")
    row["attribution"] = None if content_id is None else {
        "content_id": str(content_id), "creator_id": str(creator_id),
        "commission_rate_bps": rate,
    }
    return row



def restock_returned(db: Database, order_id: str, return_id: str,
                     items: dict[str, int]) -> dict:
    """Put exactly `items` (product id -> units) of a committed reservation back on the
    shelf, once per marketplace return. The reservation row lock serialises calls: a
    repeat of the same return answers the recorded restock (nothing twice), the same
    return with other units is a 409, and no product gets back more units than the
    reservation took minus what earlier returns brought back (422)."""
    with db.transaction() as cur:
        status, _buyer_id = _lock(cur, order_id)
        cur.execute(
            "SELECT product_id::text AS product_id, quantity"
            " FROM reservation_return_restock_items WHERE return_id = %s",
            (return_id,),
        )
        known = {row["product_id"]: int(row["quantity"]) for row in cur.fetchall()}
        if known:
            if known != items:
                raise Conflict("This return was restocked with other units.",
                               slug="return-restock-mismatch")
            return _return_restock(cur, order_id, return_id)
        if status != rules.COMMITTED:
            raise Conflict(f"Only a committed reservation takes returned units back; this "
                           f"one is {status}.", slug="reservation-not-committed")
        cur.execute(
            """
            SELECT ri.product_id::text AS product_id, ri.quantity,
                   coalesce((SELECT sum(x.quantity) FROM reservation_return_restock_items x
                              JOIN reservation_return_restocks r ON r.return_id = x.return_id
                             WHERE r.order_id = ri.order_id AND x.product_id = ri.product_id),
                            0) AS returned
              FROM reservation_items ri WHERE ri.order_id = %s
            """,
            (order_id,),
        )
        left = {row["product_id"]: int(row["quantity"]) - int(row["returned"])
                for row in cur.fetchall()}
        errors = {
            product_id: [f"At most {left.get(product_id, 0)} units can come back."]
            for product_id, quantity in items.items() if quantity > left.get(product_id, 0)
        }
        if errors:
            raise Invalid("More units than the reservation has left to return.",
                          errors=errors)
        cur.execute(
            "INSERT INTO reservation_return_restocks (return_id, order_id) VALUES (%s, %s)",
            (return_id, order_id),
        )
        for product_id in sorted(items):  # id order, as every stock change locks products
            cur.execute(
                "INSERT INTO reservation_return_restock_items (return_id, product_id, quantity)"
                " VALUES (%s, %s, %s)",
                (return_id, product_id, items[product_id]),
            )
            cur.execute("UPDATE products SET stock = stock + %s WHERE id = %s",
                        (items[product_id], product_id))
        return _return_restock(cur, order_id, return_id)


def _return_restock(cur, order_id: str, return_id: str) -> dict:
    cur.execute(
        "SELECT return_id, order_id, created_at FROM reservation_return_restocks"
        " WHERE return_id = %s",
        (return_id,),
    )
    restock = dict(cur.fetchone())
    cur.execute(
        "SELECT product_id, quantity FROM reservation_return_restock_items"
        " WHERE return_id = %s ORDER BY product_id",
        (return_id,),
    )
    restock["items"] = [dict(row) for row in cur.fetchall()]
    return restock
