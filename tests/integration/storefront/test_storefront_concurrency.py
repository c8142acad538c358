"""Stock and prices under real concurrency: a multi-process, multi-threaded server and a
real Postgres, hammered from many client threads at once."""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from storefront_checks import Interval, price_possible_during, prices_not_current_at_version


def _reserve(storefront, product_ids_quantities, order_id=None):
    return storefront.internal.post(
        "/internal/reservations",
        json={
            "order_id": order_id or str(uuid.uuid4()),
            "buyer_id": str(uuid.uuid4()),
            "items": [{"product_id": p, "quantity": q} for p, q in product_ids_quantities],
        },
    )


def _all_at_once(count, task, workers=64):
    """Run `task(i)` count times from `workers` threads released together."""
    gate = threading.Barrier(min(workers, count))

    def run(i):
        if i < workers:
            gate.wait()
        return task(i)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(count)))


def test_200_buyers_compete_for_the_last_10_units(storefront, make_actor, make_product):
    seller = make_actor("seller")
    product = make_product(seller, stock=10)
    pid = product["id"]

    responses = _all_at_once(200, lambda i: _reserve(storefront, [(pid, 1)]))

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 10, sorted(set(statuses))
    assert statuses.count(409) == 190, sorted(set(statuses))
    for loser in (r for r in responses if r.status_code == 409):
        body = loser.json()
        assert loser.headers["Content-Type"].startswith("application/problem+json")
        assert body["type"].endswith("/insufficient-stock")
        assert body["product_id"] == pid
        assert body["available"] == 0
    stock = storefront.sql("SELECT stock FROM products WHERE id = %s", (pid,))[0]["stock"]
    sold = storefront.sql(
        "SELECT coalesce(sum(quantity), 0) AS n FROM reservation_items WHERE product_id = %s",
        (pid,),
    )[0]["n"]
    assert (stock, sold) == (0, 10)


def test_random_quantities_never_oversell(storefront, make_actor, make_product):
    seller = make_actor("seller")
    pid = make_product(seller, stock=37)["id"]
    rng = random.Random(7)
    quantities = [rng.randint(1, 4) for _ in range(120)]

    responses = _all_at_once(120, lambda i: _reserve(storefront, [(pid, quantities[i])]))

    assert {r.status_code for r in responses} <= {201, 409}
    sold = sum(q for q, r in zip(quantities, responses, strict=True) if r.status_code == 201)
    stock = storefront.sql("SELECT stock FROM products WHERE id = %s", (pid,))[0]["stock"]
    assert stock >= 0 and stock + sold == 37
    # Every refusal was justified: with what was left at the end, it could not fit either
    # (stock only decreases here, so a loser's quantity exceeded the stock when it ran).
    refused = [q for q, r in zip(quantities, responses, strict=True) if r.status_code == 409]
    assert all(q > stock for q in refused)


def test_two_product_reservations_in_opposite_orders_do_not_deadlock(
    storefront, make_actor, make_product
):
    seller = make_actor("seller")
    a = make_product(seller, stock=40)["id"]
    b = make_product(seller, stock=40)["id"]

    def task(i):
        items = [(a, 1), (b, 1)] if i % 2 else [(b, 1), (a, 1)]
        return _reserve(storefront, items)

    responses = _all_at_once(60, task)
    assert [r.status_code for r in responses].count(201) == 40
    assert {r.status_code for r in responses} == {201, 409}
    rows = storefront.sql("SELECT stock FROM products WHERE id IN (%s, %s)", (a, b))
    assert [row["stock"] for row in rows] == [0, 0]


def test_concurrent_retries_of_one_order_take_stock_once(storefront, make_actor, make_product):
    seller = make_actor("seller")
    pid = make_product(seller, stock=50)["id"]
    order_id, buyer_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = {"order_id": order_id, "buyer_id": buyer_id,
            "items": [{"product_id": pid, "quantity": 3}]}

    responses = _all_at_once(
        30, lambda i: storefront.internal.post("/internal/reservations", json=body), workers=30
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 29 + [201]
    assert len({r.json()["expires_at"] for r in responses}) == 1
    assert storefront.sql("SELECT stock FROM products WHERE id = %s", (pid,))[0]["stock"] == 47


def test_concurrent_restocks_of_one_order_return_the_stock_once(
    storefront, make_actor, make_product
):
    seller = make_actor("seller")
    pid = make_product(seller, stock=20)["id"]
    order_id = str(uuid.uuid4())
    assert _reserve(storefront, [(pid, 5)], order_id=order_id).status_code == 201
    commit = storefront.internal.post(f"/internal/reservations/{order_id}/commit")
    assert commit.status_code == 200, commit.text

    responses = _all_at_once(
        10,
        lambda i: storefront.internal.post(f"/internal/reservations/{order_id}/restock"),
        workers=10,
    )

    assert [r.status_code for r in responses] == [200] * 10
    assert {r.json()["status"] for r in responses} == {"restocked"}
    assert len({r.json()["restocked_at"] for r in responses}) == 1
    assert storefront.sql("SELECT stock FROM products WHERE id = %s", (pid,))[0]["stock"] == 20


def test_a_reservation_never_quotes_a_price_that_was_not_current(
    storefront, make_actor, make_product
):
    """A seller edits the price again and again while reservations run. Each reservation
    must quote the price current at the moment its stock was taken: checked against the
    product row's version history (white box) and against client-side timings of the price
    edits (black box)."""
    seller = make_actor("seller")
    initial_price = 100_000
    pid = make_product(seller, stock=1000, price=initial_price)["id"]
    writes: list[tuple[Interval, int]] = []
    done = threading.Event()

    def edit_prices():
        price = initial_price
        while not done.is_set() and len(writes) < 60:
            price += 1  # distinct prices identify each write
            started = time.monotonic()
            response = storefront.api.patch(
                f"/api/v1/products/{pid}", token=seller.token, json={"price": price}
            )
            assert response.status_code == 200, response.text
            writes.append((Interval(started, time.monotonic()), price))

    def reserve(_i):
        started = time.monotonic()
        response = _reserve(storefront, [(pid, 1)])
        return Interval(started, time.monotonic()), response

    writer = threading.Thread(target=edit_prices)
    writer.start()
    try:
        results = _all_at_once(240, reserve, workers=24)
    finally:
        done.set()
        writer.join()

    assert all(r.status_code == 201 for _, r in results), {r.status_code for _, r in results}
    assert len(writes) >= 5, "the price edits did not overlap the reservations"

    quoted = [(window, r.json()["items"][0]["unit_price"]["amount"]) for window, r in results]
    assert len({price for _, price in quoted}) > 1, "no reservation saw a price change"
    stale = [(w, p) for w, p in quoted if not price_possible_during(initial_price, writes, w, p)]
    assert stale == []

    changes = storefront.sql(
        "SELECT version, price FROM product_price_changes WHERE product_id = %s", (pid,)
    )
    assert len(changes) == len(writes) + 1
    held = storefront.sql(
        "SELECT product_version, unit_price FROM reservation_items WHERE product_id = %s",
        (pid,),
    )
    assert len(held) == 240
    assert prices_not_current_at_version(
        [(c["version"], c["price"]) for c in changes],
        [(h["product_version"], h["unit_price"]) for h in held],
    ) == []
