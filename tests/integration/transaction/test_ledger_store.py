"""The ledger, audit log and payouts against a real Postgres (DESIGN.md §8, §9).

Each test gets its own freshly migrated database (see ledger_scratch.py for where the
Postgres comes from)."""

from __future__ import annotations

import threading
import uuid

import psycopg2
import psycopg2.extras
import pytest
from ledger_scratch import ScratchDatabase, dsns_from

from transaction_service.domain import ledger
from transaction_service.store import audit as audit_store
from transaction_service.store import invariants
from transaction_service.store import ledger as ledger_store
from transaction_service.store import payouts as payouts_store


@pytest.fixture(scope="module")
def dsns(request):
    return dsns_from(request)


@pytest.fixture
def scratch(dsns):
    db = ScratchDatabase(*dsns).create()
    yield db
    db.drop()


def _shop() -> str:
    return str(uuid.uuid4())


def _seed_available(db, shop_id: str, amount: int, *, order_id: str | None = None) -> str:
    """Settle and complete an order whose net (fee 0) is `amount` for the shop."""
    order_id = order_id or str(uuid.uuid4())
    with db.transaction() as cursor:
        assert ledger_store.post(cursor, ledger.payment_settled(order_id, amount))
        assert ledger_store.post(cursor, ledger.order_completed(order_id, shop_id, amount, 0))
    return order_id


def _run_threads(count: int, target) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = target(index)
        except BaseException as exc:  # collected and asserted by the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


# --- posting ------------------------------------------------------------------------------


def test_post_is_idempotent_per_kind_and_reference(scratch):
    db = scratch.database
    order_id = str(uuid.uuid4())
    with db.transaction() as cursor:
        first = ledger_store.post(cursor, ledger.payment_settled(order_id, 150_000))
    with db.transaction() as cursor:
        again = ledger_store.post(cursor, ledger.payment_settled(order_id, 150_000))
        # Another kind with the same reference is another event.
        refund = ledger_store.post(cursor, ledger.refund_issued(order_id, 150_000))
    assert first and again is None and refund and refund != first
    with db.transaction() as cursor:
        cursor.execute(
            "SELECT count(*) AS n FROM journal_entries WHERE reference = %s", (order_id,)
        )
        assert cursor.fetchone()["n"] == 2
        cursor.execute("SELECT count(*) AS n FROM journal_lines")
        assert cursor.fetchone()["n"] == 4
        found = ledger_store.find(cursor, "payment_settled", order_id)
        assert found["id"] == first
        assert found["lines"] == [
            {"account": "provider_receivable", "amount": 150_000},
            {"account": "escrow", "amount": -150_000},
        ]
        assert invariants.check(cursor) == []  # settled then refunded: escrow is empty


def _check_ignoring_unknown_orders(cursor) -> list[str]:
    """Invariant violations other than escrow held for orders absent from the orders table
    (these tests post ledger entries for made-up order ids)."""
    return [v for v in invariants.check(cursor) if "for an unknown order" not in v]


def test_concurrent_duplicate_posts_make_one_entry(scratch):
    db = scratch.database
    order_id = str(uuid.uuid4())

    def post(_):
        with db.transaction() as cursor:
            return ledger_store.post(cursor, ledger.payment_settled(order_id, 5_000))

    results = _run_threads(10, post)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len([r for r in results if r]) == 1
    with db.transaction() as cursor:
        assert ledger_store.account_sum(cursor, ledger.ESCROW) == -5_000


def test_post_appends_an_audit_row(scratch):
    db = scratch.database
    with db.transaction() as cursor:
        entry_id = ledger_store.post(cursor, ledger.payment_settled("o-audit", 1_000), actor="sys")
        cursor.execute("SELECT * FROM audit_log ORDER BY seq")
        rows = cursor.fetchall()
    assert len(rows) == 1
    row = rows[0]
    assert (row["seq"], row["entity"], row["entity_id"], row["action"], row["actor"]) == (
        1, "journal_entry", entry_id, "posted", "sys",
    )
    assert row["data"]["kind"] == "payment_settled"
    assert row["data"]["lines"][1] == {"account": "escrow", "amount": -1_000}


def test_post_rolls_back_with_the_callers_transaction(scratch):
    db = scratch.database
    with pytest.raises(RuntimeError):
        with db.transaction() as cursor:
            ledger_store.post(cursor, ledger.payment_settled("o-rb", 1_000))
            raise RuntimeError("the state change failed")
    with db.transaction() as cursor:
        cursor.execute("SELECT count(*) AS n FROM journal_entries")
        assert cursor.fetchone()["n"] == 0
        cursor.execute("SELECT count(*) AS n FROM audit_log")
        assert cursor.fetchone()["n"] == 0
    # The rolled-back append leaves a gap in seq (it only names rows); the tree, whose
    # positions the sequencer assigns to committed rows, has none.
    with db.transaction() as cursor:
        ledger_store.post(cursor, ledger.payment_settled("o-ok", 1_000))
        assert audit_store.sequence(cursor) == 1
        assert audit_store.verify(cursor).ok
        cursor.execute("SELECT leaf_index FROM audit_log")
        assert [r["leaf_index"] for r in cursor.fetchall()] == [0]


def test_post_accepts_a_plain_cursor(scratch):
    conn = scratch.connect()
    try:
        with conn.cursor() as cursor:
            assert ledger_store.post(cursor, ledger.payment_settled("o-plain", 700))
            audit_store.append(
                cursor, entity="order", entity_id="o-plain", action="paid", actor=None, data={}
            )
            assert audit_store.verify(cursor).ok
        conn.commit()
    finally:
        conn.close()


# --- immutability -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_entries SET reference = 'x'",
        "DELETE FROM journal_entries",
        "TRUNCATE journal_entries CASCADE",
        "UPDATE journal_lines SET amount = amount * 2",
        "DELETE FROM journal_lines",
        "TRUNCATE journal_lines",
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_log SET leaf_index = 5",
        "UPDATE audit_tree_nodes SET hash = sha256(hash)",
        "DELETE FROM audit_tree_nodes",
        "TRUNCATE audit_tree_nodes",
        "UPDATE audit_checkpoints SET root_hash = sha256(root_hash)",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_history_cannot_be_changed_by_the_app_role(scratch, statement):
    db = scratch.database
    with db.transaction() as cursor:
        ledger_store.post(cursor, ledger.payment_settled("o-imm", 1_000))
    with db.transaction() as cursor:
        audit_store.sequence(cursor)  # positions and nodes exist, so the statements hit rows
        cursor.execute("INSERT INTO audit_checkpoints (tree_size, root_hash, note)"
                       " VALUES (1, %s, 'n')", (audit_store.root(cursor, 1),))
    with pytest.raises(psycopg2.Error) as caught:
        with db.transaction() as cursor:
            cursor.execute(statement)
    assert "append-only" in str(caught.value) or "only advances" in str(caught.value)
    with db.transaction() as cursor:
        assert _check_ignoring_unknown_orders(cursor) == []


def test_database_rejects_unbalanced_lines_at_commit(scratch):
    db = scratch.database
    with pytest.raises(psycopg2.Error, match="not balanced"):
        with db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO journal_entries (kind, reference) VALUES ('manual', 'm1') "
                "RETURNING id"
            )
            entry_id = cursor.fetchone()["id"]
            cursor.execute(
                "INSERT INTO journal_lines (entry_id, account, amount) VALUES "
                "(%s, 'escrow', 100), (%s, 'payouts', -99)",
                (entry_id, entry_id),
            )
    with pytest.raises(psycopg2.Error, match="not balanced"):
        with db.transaction() as cursor:
            cursor.execute("INSERT INTO journal_entries (kind, reference) VALUES ('manual', 'm2')")


# --- audit log (the tree's own tests: test_audit_log.py) ---------------------------------


def test_concurrent_appends_take_no_shared_lock_and_all_become_leaves(scratch):
    """50 appenders, each holding its transaction open until all have appended: with the
    old chain head lock they would queue one by one; now they all append at once."""
    threads = 50
    barrier = threading.Barrier(threads, timeout=30)

    def append(index: int) -> None:
        conn = scratch.connect()
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                audit_store.append(
                    cursor, entity="order", entity_id=f"o{index}", action="paid",
                    actor=f"acc-{index}", data={"amount": index * 1000, "i": index},
                )
                barrier.wait()  # every appender is inside its transaction, none blocked
            conn.commit()
        finally:
            conn.close()

    results = _run_threads(threads, append)
    assert not [r for r in results if isinstance(r, BaseException)], results
    with scratch.database.transaction() as cursor:
        assert audit_store.sequence(cursor, batch_size=7) == 7
        while audit_store.sequence(cursor, batch_size=7):
            pass
        result = audit_store.verify(cursor, batch_size=9)  # several batches
        cursor.execute("SELECT seq, leaf_index FROM audit_log ORDER BY leaf_index")
        rows = cursor.fetchall()
        head = audit_store.head(cursor)
    assert result.ok, result
    assert result.checked == threads == result.tree_size
    assert [r["leaf_index"] for r in rows] == list(range(threads))
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)  # in seq order
    assert head.seq == threads


def test_audit_verify_cli(scratch, monkeypatch, capsys):
    from transaction_service.__main__ import main

    with scratch.database.transaction() as cursor:
        for i in range(3):
            audit_store.append(cursor, entity="payout", entity_id=f"p{i}", action="requested",
                               actor="acc-1", data={"amount": 100 + i})
        audit_store.sequence(cursor)
    monkeypatch.setenv("DATABASE_URL", scratch.app_dsn)
    assert main(["audit-verify"]) == 0
    assert '"ok": true' in capsys.readouterr().out
    with scratch.tamper() as cursor:
        cursor.execute("UPDATE audit_log SET action = 'x' WHERE leaf_index = 1")
    assert main(["audit-verify"]) == 1
    out = capsys.readouterr().out
    assert '"ok": false' in out and '"first_broken_index": 1' in out


# --- payouts ------------------------------------------------------------------------------


def test_payout_moves_available_to_payouts(scratch):
    db = scratch.database
    shop = _shop()
    _seed_available(db, shop, 100_000)
    with db.transaction() as cursor:
        payout = payouts_store.create(
            cursor, shop_id=shop, amount=30_000, requested_by="acc-1",
            bank_account={"bank_code": "bca", "account_number": "123456", "account_name": "A"},
        )
    with db.transaction() as cursor:
        assert ledger_store.shop_available(cursor, shop) == 70_000
        assert ledger_store.shop_paid_out(cursor, shop) == 30_000
        assert ledger_store.account_sum(cursor, ledger.PAYOUTS) == -30_000
        entry = ledger_store.find(cursor, "payout", payout["id"])
        assert entry["id"] == payout["journal_entry_id"]
        assert payouts_store.get(cursor, payout["id"])["bank_account"]["bank_code"] == "bca"
        cursor.execute("SELECT entity FROM audit_log ORDER BY seq")
        assert [r["entity"] for r in cursor.fetchall()][-2:] == ["journal_entry", "payout"]
        lines = ledger_store.account_lines(cursor, ledger.shop_payable(shop), limit=10)
        assert [(r["kind"], r["amount"], -r["running_sum"]) for r in lines] == [
            ("payout", 30_000, 70_000),
            ("order_completed", -100_000, 100_000),
        ]


def test_payout_cannot_exceed_available(scratch):
    db = scratch.database
    shop = _shop()
    _seed_available(db, shop, 10_000)
    with pytest.raises(payouts_store.InsufficientBalance) as caught:
        with db.transaction() as cursor:
            payouts_store.create(cursor, shop_id=shop, amount=10_001, requested_by="acc-1")
    assert (caught.value.requested, caught.value.available) == (10_001, 10_000)
    with db.transaction() as cursor:
        payouts_store.create(cursor, shop_id=shop, amount=10_000, requested_by="acc-1")
    with pytest.raises(payouts_store.InsufficientBalance):
        with db.transaction() as cursor:
            payouts_store.create(cursor, shop_id=shop, amount=1, requested_by="acc-1")


def test_concurrent_payouts_never_overdraw(scratch):
    db = scratch.database
    shop, other_shop = _shop(), _shop()
    _seed_available(db, shop, 60_000)
    _seed_available(db, shop, 40_000)
    _seed_available(db, other_shop, 5_000)
    amount = 7_000  # 20 x 7,000 = 140,000 asked of 100,000: at most 14 can succeed

    def request_payout(index: int):
        with db.transaction() as cursor:
            return payouts_store.create(
                cursor, shop_id=shop, amount=amount, requested_by=f"acc-{index}"
            )

    results = _run_threads(20, request_payout)
    unexpected = [
        r for r in results
        if isinstance(r, BaseException) and not isinstance(r, payouts_store.InsufficientBalance)
    ]
    assert not unexpected, unexpected
    paid = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, payouts_store.InsufficientBalance)]
    assert len(paid) == 14 and len(refused) == 6
    assert all(r.available == 100_000 - 14 * amount for r in refused)
    with db.transaction() as cursor:
        assert ledger_store.shop_available(cursor, shop) == 2_000
        assert ledger_store.shop_paid_out(cursor, shop) == 98_000
        assert ledger_store.shop_available(cursor, other_shop) == 5_000
        cursor.execute("SELECT count(*) AS n, sum(amount) AS total FROM payouts")
        row = cursor.fetchone()
        assert (row["n"], row["total"]) == (14, 98_000)
        assert invariants.check(cursor) == []  # includes the audit chain


def test_payout_list_pages_newest_first(scratch):
    db = scratch.database
    shop = _shop()
    _seed_available(db, shop, 1_000)
    for amount in (100, 200, 300):
        with db.transaction() as cursor:
            payouts_store.create(cursor, shop_id=shop, amount=amount, requested_by="acc-1")
    with db.transaction() as cursor:
        first = payouts_store.list_for_shop(cursor, shop, limit=2)
        last = first[-1]
        rest = payouts_store.list_for_shop(
            cursor, shop, limit=2, after=[last["created_at"].isoformat(), last["id"]]
        )
        assert payouts_store.list_for_shop(cursor, _shop(), limit=5) == []
    assert [p["amount"] for p in first + rest] == [300, 200, 100]


# --- invariants ---------------------------------------------------------------------------


def test_invariants_hold_through_a_lifecycle_with_orders(scratch):
    if not scratch.has_table("orders"):
        pytest.skip("orders table (migration 0001) not present")
    db = scratch.database
    shop = _shop()
    with db.transaction() as cursor:
        ids = {}
        for name, status, total in (
            ("shipping", "AWAITING_SHIPMENT", 100_000),
            ("transit", "IN_TRANSIT", 50_000),
            ("done", "COMPLETED", 20_000),
            ("cancel_pending", "CANCELLED", 30_000),
            ("cancel_refunded", "CANCELLED", 40_000),
            ("unpaid", "UNPAID", 9_000),
        ):
            cursor.execute(
                """
                INSERT INTO orders (buyer_id, shop_id, status, payment_method, shipping_address,
                                    subtotal, total, placed_at)
                VALUES ('b1', %s, %s, 'bank_transfer', '{}'::jsonb, %s, %s, now())
                RETURNING id::text AS id
                """,
                (shop, status, total, total),
            )
            ids[name] = (cursor.fetchone()["id"], total)
        for name in ("shipping", "transit", "done", "cancel_pending", "cancel_refunded"):
            order_id, total = ids[name]
            ledger_store.post(cursor, ledger.payment_settled(order_id, total))
        ledger_store.post(cursor, ledger.order_completed(ids["done"][0], shop, 20_000, 500))
        ledger_store.post(cursor, ledger.refund_issued(ids["cancel_refunded"][0], 40_000))
    with db.transaction() as cursor:
        assert invariants.check(cursor) == []
        assert ledger_store.balance(cursor, shop) == {
            "shop_id": shop, "currency": "IDR", "pending": 150_000, "available": 19_000,
            "paid_out": 0,
        }
        assert -ledger_store.account_sum(cursor, ledger.ESCROW) == 100_000 + 50_000 + 30_000

    # An order marked shipped without its payment posted is caught...
    with db.transaction() as cursor:
        cursor.execute(
            "UPDATE orders SET status = 'AWAITING_SHIPMENT' WHERE id = %s", (ids["unpaid"][0],)
        )
        violations = invariants.check(cursor)
    assert any(ids["unpaid"][0] in v and "escrow 0 != order total 9000" in v for v in violations)
    # ...and so is a completed order whose escrow was never released.
    with db.transaction() as cursor:
        cursor.execute("UPDATE orders SET status = 'UNPAID' WHERE id = %s", (ids["unpaid"][0],))
        cursor.execute(
            "UPDATE orders SET status = 'COMPLETED' WHERE id = %s", (ids["transit"][0],)
        )
        violations = invariants.check(cursor)
    assert violations == [f"order {ids['transit'][0]} is COMPLETED but escrow holds 50000"]


def test_invariants_flag_an_unbalanced_ledger(scratch):
    db = scratch.database
    shop = _shop()
    order_id = _seed_available(db, shop, 10_000)
    with scratch.tamper() as cursor:
        cursor.execute(
            """
            UPDATE journal_lines SET amount = -9000
            WHERE account = %s
            """,
            (ledger.shop_payable(shop),),
        )
    with db.transaction() as cursor:
        violations = invariants.check(cursor)
    text = "\n".join(violations)
    assert "is unbalanced: 2 lines summing to 1000" in text
    assert "all journal lines sum to 1000, not 0" in text
    assert f"order_completed {order_id}" in text
    assert "escrow" not in text  # only the payable line was altered


def test_invariants_flag_escrow_outside_orders_and_overdrawn_shops(scratch):
    db = scratch.database
    shop = _shop()
    with scratch.tamper() as cursor:
        cursor.execute(
            "INSERT INTO journal_entries (kind, reference) VALUES ('manual', 'x') RETURNING id"
        )
        entry_id = cursor.fetchone()["id"]
        cursor.execute(
            "INSERT INTO journal_lines (entry_id, account, amount) VALUES "
            "(%s, 'escrow', -500), (%s, %s, 500)",
            (entry_id, entry_id, ledger.shop_payable(shop)),
        )
    with db.transaction() as cursor:
        violations = invariants.check(cursor)
    text = "\n".join(violations)
    assert "escrow balance 500 != sum of per-order escrow 0" in text
    assert f"shop:{shop}:payable is overdrawn: available -500" in text
    assert "all journal lines sum to" not in text  # the entry itself balances


def test_invariants_with_partial_and_manual_refunds(scratch):
    """Escrow is net of the refunds the refunds table says were posted; a manual refund's
    money sits in manual_refunds_payable until its transfer; each disagreement is named."""
    db = scratch.database
    shop = _shop()
    with db.transaction() as cursor:
        ids = {}
        for name, status, method in (("partly", "AWAITING_SHIPMENT", "ewallet"),
                                     ("manual", "CANCELLED", "bank_transfer")):
            cursor.execute(
                """
                INSERT INTO orders (buyer_id, shop_id, status, payment_method, shipping_address,
                                    subtotal, total, placed_at)
                VALUES ('b1', %s, %s, %s, '{}'::jsonb, 100000, 100000, now())
                RETURNING id::text AS id
                """,
                (shop, status, method),
            )
            ids[name] = cursor.fetchone()["id"]
            cursor.execute("INSERT INTO payments (order_id, provider, method, amount, status)"
                           " VALUES (%s, 'sandbox', %s, 100000, 'settled')", (ids[name], method))
            ledger_store.post(cursor, ledger.payment_settled(ids[name], 100_000))
        refund_ids = {}
        for name, method, status, amount in (("partly", "provider", "succeeded", 30_000),
                                             ("manual", "manual", "awaiting_account", 100_000)):
            cursor.execute(
                "INSERT INTO refunds (payment_id, order_id, refund_key, amount, method, status)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id::text AS id",
                (ids[name], ids[name], f"k-{uuid.uuid4().hex}", amount, method, status))
            refund_ids[name] = cursor.fetchone()["id"]
        ledger_store.post(cursor, ledger.refund_issued(ids["partly"], 30_000,
                                                       refund_ids["partly"]))
        ledger_store.post(cursor, ledger.manual_refund_owed(ids["manual"], refund_ids["manual"],
                                                            100_000))
    with db.transaction() as cursor:
        assert invariants.check(cursor) == []
        assert -ledger_store.account_sum(cursor, ledger.MANUAL_REFUNDS_PAYABLE) == 100_000

    # the manual refund marked transferred without its entry is caught
    with db.transaction() as cursor:
        cursor.execute("UPDATE refunds SET status = 'succeeded', transfer_reference = 'T-1' "
                       "WHERE id = %s", (refund_ids["manual"],))
        violations = invariants.check(cursor)
        cursor.connection.rollback()
    text = "\n".join(violations)
    assert refund_ids["manual"] in text and "disagrees with the ledger" in text
    assert "manual_refunds_payable holds 100000 but open manual refunds total 0" in text

    # a provider refund posted twice over (a second entry) breaks the order's escrow
    with db.transaction() as cursor:
        ledger_store.post(cursor, ledger.refund_issued(ids["partly"], 30_000, "other-refund"))
        violations = invariants.check(cursor)
        cursor.connection.rollback()
    assert any(ids["partly"] in v and "escrow 40000" in v for v in violations), violations
