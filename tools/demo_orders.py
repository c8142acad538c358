"""The marketplace's demo data: orders of the demo buyer bought from the demo creator's
content, played through the public API as a shopper would (checkout with `content_id`,
pay in the sandbox, the seller ships, the buyer confirms receipt), so `make run` opens
with a creator dashboard that has earnings and the sellers' ledgers show commissions.

The marketplace's data only comes about through its own rules (no rows written behind
its back): run after the stack is up, once per data dir (`.seeded-orders` stamp).
`python -m tools.demo_orders http://127.0.0.1:8080` runs it by hand.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import requests

from storefront_service.seed import CONTENTS, PRODUCTS
from tools.shopper import ADDRESS, ApiError, login

STAMP = ".seeded-orders"
BUYER = "buyer@etalase.test"
# (content key, product slug, quantity, complete?): completed orders make the creator's
# available balance; the last one stays paid and shows as pending commission.
ORDERS = (
    ("ootd-batik-kantor", "kemeja-batik-parang", 2, True),
    ("mukbang-sambal-roa", "sambal-roa", 3, True),
    ("live-jumat-batik", "kain-batik-tulis-sogan", 1, False),
)
_CONTENT = {c["key"]: c for c in CONTENTS}
_PRODUCT = {p["slug"]: p for p in PRODUCTS}
_SELLER_OF_SHOP = {"batik-lestari": "seller@etalase.test",
                   "kopi-nusantara": "seller2@etalase.test",
                   "dapur-mama-ina": "seller3@etalase.test"}


def _call(session, method, url, token, *, expect, **kw):
    response = session.request(method, url, headers={"Authorization": f"Bearer {token}",
                                                     **kw.pop("headers", {})},
                               timeout=30, **kw)
    if response.status_code not in expect:
        raise ApiError(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return response.json()


def _wait_status(session, base, token, order_id, status, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = _call(session, "GET", f"{base}/api/v1/orders/{order_id}", token, expect=(200,))
        if order["status"] == status:
            return order
        time.sleep(0.3)
    raise ApiError(f"order {order_id} did not become {status}")


def place_demo_orders(base: str) -> list[str]:
    session = requests.Session()
    buyer = login(base, BUYER, session=session)
    placed = []
    for content_key, slug, quantity, complete in ORDERS:
        product = _PRODUCT[slug]
        seller = login(base, _SELLER_OF_SHOP[product["shop"]], session=session)
        order = _call(session, "POST", f"{base}/api/v1/checkout", buyer, expect=(201,),
                      headers={"Idempotency-Key": f"demo-{content_key}-{slug}"},
                      json={"items": [{"product_id": product["id"], "quantity": quantity,
                                       "content_id": _CONTENT[content_key]["id"]}],
                            "shipping_address": ADDRESS, "payment_method": "bank_transfer"}
                      )["order"]
        paid = session.post(f"{base}/sandbox/v2/{order['id']}/pay", timeout=30)
        if paid.status_code != 200:
            raise ApiError(f"sandbox pay: {paid.status_code} {paid.text[:300]}")
        _wait_status(session, base, buyer, order["id"], "AWAITING_SHIPMENT")
        if complete:
            _call(session, "POST", f"{base}/api/v1/orders/{order['id']}/ship", seller,
                  expect=(200,), json={"tracking_number": f"JNE-DEMO-{uuid.uuid4().hex[:8]}"})
            _call(session, "POST", f"{base}/api/v1/orders/{order['id']}/confirm-receipt",
                  buyer, expect=(200,))
        placed.append(order["id"])
    return placed


def seed_once(base: str, data_dir: Path) -> list[str] | None:
    """Place the demo orders unless this data dir already has them; None if it had."""
    stamp = Path(data_dir) / STAMP
    if stamp.exists():
        return None
    placed = place_demo_orders(base)
    stamp.write_text("\n".join(placed) + "\n")
    return placed


if __name__ == "__main__":
    print(place_demo_orders(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"))
