"""CLI: the reservation sweeper and the demo seed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import jwt

from storefront_service import seed as seed_data
from tools.shopper import DEMO_PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[3]


def _reserve(storefront, product_id, quantity):
    order_id = str(uuid.uuid4())
    response = storefront.internal.post(
        "/internal/reservations",
        json={"order_id": order_id, "buyer_id": str(uuid.uuid4()),
              "items": [{"product_id": product_id, "quantity": quantity}]},
    )
    assert response.status_code == 201, response.text
    return order_id


def test_sweeper_releases_only_reservations_past_expiry_plus_grace(
    storefront, make_actor, make_product
):
    pid = make_product(make_actor("seller"), stock=20)["id"]
    overdue, recent, fresh = (_reserve(storefront, pid, 2) for _ in range(3))
    # Default grace is 600 s: one long overdue, one expired but within the grace period.
    storefront.sql("UPDATE reservations SET expires_at = now() - interval '11 minutes'"
                   " WHERE order_id = %s", (overdue,))
    storefront.sql("UPDATE reservations SET expires_at = now() - interval '1 minute'"
                   " WHERE order_id = %s", (recent,))

    result = storefront.cli("worker", "reservation-sweeper", "--once")
    assert result.returncode == 0, result.stderr

    rows = {r["order_id"]: r for r in storefront.sql(
        "SELECT order_id::text, status, released_by FROM reservations WHERE order_id IN"
        " (%s, %s, %s)", (overdue, recent, fresh))}
    assert (rows[overdue]["status"], rows[overdue]["released_by"]) == ("released", "sweeper")
    assert rows[recent]["status"] == "active" and rows[fresh]["status"] == "active"
    assert storefront.sql("SELECT stock FROM products WHERE id = %s", (pid,))[0]["stock"] == 16
    # The marketplace's late commit of a swept reservation is refused: the stock is gone.
    commit = storefront.internal.post(f"/internal/reservations/{overdue}/commit")
    assert commit.status_code == 409


def test_sweeper_loop_stops_cleanly_on_sigterm(storefront):
    env = dict(storefront.env, SWEEPER_INTERVAL_SECONDS="60", LOG_LEVEL="INFO")
    process = subprocess.Popen(
        [sys.executable, "-m", "storefront_service", "worker", "reservation-sweeper"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    started = threading.Event()

    def watch_log():
        for line in process.stderr:
            if "reservation sweeper started" in line:
                started.set()

    threading.Thread(target=watch_log, daemon=True).start()
    try:
        assert started.wait(20), "the sweeper did not start"
        time.sleep(0.3)  # now sleeping in its interval wait
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def _demo_snapshot(storefront):
    tables = {
        "accounts": "SELECT id, email, password_hash, name, role FROM accounts a"
                    " WHERE a.email LIKE '%%@etalase.test' ORDER BY id",
        "shops": "SELECT s.* FROM shops s JOIN accounts a ON a.id = s.owner_id"
                 " WHERE a.email LIKE '%%@etalase.test' ORDER BY s.id",
        "products": "SELECT p.id, p.title, p.price, p.stock, p.version FROM products p"
                    " JOIN shops s ON s.id = p.shop_id JOIN accounts a ON a.id = s.owner_id"
                    " WHERE a.email LIKE '%%@etalase.test' ORDER BY p.id",
        "contents": "SELECT c.*, (SELECT array_agg(product_id ORDER BY position)"
                    " FROM content_products WHERE content_id = c.id) AS tags FROM contents c"
                    " JOIN accounts a ON a.id = c.creator_id"
                    " WHERE a.email LIKE '%%@etalase.test' ORDER BY c.id",
    }
    # Other tests register their own @etalase.test accounts: look at the seeded ones only.
    quoted = ", ".join(f"'{account['email']}'" for account in seed_data.ACCOUNTS)
    demo_emails = f" WHERE a.email IN ({quoted})"
    return {
        name: storefront.sql(query.replace(" WHERE a.email LIKE '%%@etalase.test'", demo_emails))
        for name, query in tables.items()
    }


def test_seed_is_idempotent_and_demo_accounts_log_in(storefront):
    first = storefront.cli("seed")
    assert first.returncode == 0, first.stderr
    before = _demo_snapshot(storefront)
    second = storefront.cli("seed")
    assert second.returncode == 0, second.stderr
    assert "accounts=0, shops=0, products=0, contents=0" in second.stdout
    assert _demo_snapshot(storefront) == before
    assert len(before["shops"]) == len(seed_data.SHOPS)
    assert len(before["products"]) >= 12 and len(before["contents"]) >= 8

    expected = {"buyer": "buyer", "seller": "seller", "seller2": "seller",
                "creator": "creator", "admin": "admin"}
    for local_part, role in expected.items():
        token = storefront.api.login(f"{local_part}@etalase.test", DEMO_PASSWORD)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["roles"] == [role]
        assert ("shop_id" in claims) == (role == "seller")

    feed = storefront.api.get("/api/v1/feed", params={"limit": 100}).json()["data"]
    assert any(item["kind"] == "live" for item in feed)
    assert any(item["kind"] == "video" and item["products"] for item in feed)
