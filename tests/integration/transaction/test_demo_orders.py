"""`make run`'s marketplace demo data: creator-attributed orders placed through the public
API once per data dir, so the demo creator's dashboard is not empty."""

from __future__ import annotations

from tools import demo_orders


def test_demo_orders_give_the_demo_creator_earnings(market, tmp_path):

    placed = demo_orders.seed_once(market.gateway, tmp_path)
    assert len(placed) == len(demo_orders.ORDERS)
    assert demo_orders.seed_once(market.gateway, tmp_path) is None  # once per data dir

    creator = market.token("creator@etalase.test")
    balance = market.get("/api/v1/creators/me/balance", token=creator).json()
    # kemeja 2 x 185 000 at 10 % + sambal roa 3 x 55 000 at 20 % (completed);
    # kain sogan 1 x 450 000 at 8 % (paid, pending)
    assert balance["available"] >= 37_000 + 33_000
    assert balance["pending"] >= 36_000
    earnings = market.get("/api/v1/creators/me/earnings", token=creator).json()["data"]
    assert {row["content_id"] for row in earnings} >= {
        demo_orders._CONTENT[key]["id"] for key, *_ in demo_orders.ORDERS}
    statuses = [market.order(order_id)["status"] for order_id in placed]
    assert statuses == ["COMPLETED", "COMPLETED", "AWAITING_SHIPMENT"]
