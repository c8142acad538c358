"""SQL for loading demo data (the data itself is in storefront_service/seed.py).

Every insert is ON CONFLICT DO NOTHING on fixed ids, so loading twice changes nothing,
including stock and prices that changed through use since the first load.
"""

from __future__ import annotations

from servicekit.db import Database

_SEED_LOCK = 7_301_246  # one seeding at a time (concurrent `make run` starts)


def load(db: Database, *, accounts: list[dict], shops: list[dict], products: list[dict],
         contents: list[dict], hash_password) -> dict:
    inserted = {"accounts": 0, "shops": 0, "products": 0, "contents": 0}
    with db.transaction() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SEED_LOCK,))
        account_ids: dict[str, str] = {}
        for account in accounts:
            cur.execute(
                "SELECT id FROM accounts WHERE lower(email) = lower(%s)", (account["email"],)
            )
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    "INSERT INTO accounts (id, email, password_hash, name, role)"
                    " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (account["id"], account["email"], hash_password(account["password"]),
                     account["name"], account["role"]),
                )
                row = cur.fetchone()
                inserted["accounts"] += 1
            account_ids[account["email"]] = str(row["id"])

        shop_ids: dict[str, str] = {}
        for shop in shops:
            owner_id = account_ids[shop["owner"]]
            cur.execute(
                "INSERT INTO shops (id, owner_id, name, description, city, created_at)"
                " VALUES (%s, %s, %s, %s, %s, now() - make_interval(days => %s))"
                " ON CONFLICT DO NOTHING",
                (shop["id"], owner_id, shop["name"], shop["description"], shop["city"],
                 shop["age_days"]),
            )
            inserted["shops"] += cur.rowcount
            # The seller may already own a shop of their own making: use that one.
            cur.execute("SELECT id FROM shops WHERE owner_id = %s", (owner_id,))
            shop_ids[shop["key"]] = str(cur.fetchone()["id"])

        for product in products:
            cur.execute(
                """
                INSERT INTO products (id, shop_id, title, description, price, stock, images,
                                      commission_rate_bps, created_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() - make_interval(hours => %s))
                ON CONFLICT DO NOTHING
                """,
                (product["id"], shop_ids[product["shop"]], product["title"],
                 product["description"], product["price"], product["stock"],
                 product["images"], product.get("commission_rate_bps", 0),
                 product["age_hours"]),
            )
            inserted["products"] += cur.rowcount

        for content in contents:
            cur.execute(
                """
                INSERT INTO contents (id, creator_id, kind, title, media_url, created_at)
                VALUES (%s, %s, %s, %s, %s, now() - make_interval(hours => %s))
                ON CONFLICT DO NOTHING
                """,
                (content["id"], account_ids[content["creator"]], content["kind"],
                 content["title"], content["media_url"], content["age_hours"]),
            )
            if cur.rowcount:
                inserted["contents"] += 1
                cur.executemany(
                    "INSERT INTO content_products (content_id, product_id, position)"
                    " VALUES (%s, %s, %s)",
                    [(content["id"], pid, pos) for pos, pid in enumerate(content["products"])],
                )
    return inserted
