"""The audit log's share of a paid order (DESIGN.md §9): CPU per paid order spent in audit.

    python -m bench.audit_cost [--orders 20] [--appends 2000]   # on a throwaway stack

`make bench` calls `measure(stack)` after its purchase pipeline. Three parts, each measured
on the stack's own Postgres:

- entries per paid order: audit rows written per order that reached AWAITING_SHIPMENT (all
  entries, order and ledger alike, over the paid orders of the run);
- append: the CPU of one `audit.append` (the money transaction's own INSERT, one round
  trip, no lock), client side (process CPU) and in the Postgres backend (/proc);
- sequencing and checkpointing: the audit-log worker's CPU per leaf (leaf hash, nodes,
  the position UPDATE), client and backend, plus one checkpoint signature amortised over
  the leaves it covers at the measured rate.

Appends and their sequencing run on the stack's real tables (triggers and indexes are part
of the cost) in one transaction that is rolled back, so the stack's log is left as it was;
while it runs, the stack's own sequencer skips its turns (the advisory lock is held).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_DATA = {"from": "UNPAID", "to": "AWAITING_SHIPMENT", "amount": 150000,
               "payment": {"method": "bank_transfer", "transaction_id": "0" * 36}}


def _backend_cpu(cursor) -> float:
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text()
    fields = fields[fields.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def entries_per_paid_order(dsn: str) -> float | None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders WHERE status NOT IN "
                       "('UNPAID', 'EXPIRED', 'CANCELLED')")
        paid = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM audit_log")
        entries = cursor.fetchone()[0]
    conn.close()
    return round(entries / paid, 2) if paid else None


def measure(stack, *, appends: int = 2000) -> dict:
    """The audit figures for `stack` (it must have run some purchases)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from servicekit import tlog
    from transaction_service.store import audit

    dsn = stack.dsn("transaction")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cursor:
            backend0, client0 = _backend_cpu(cursor), time.process_time()
            for i in range(appends):
                audit.append(cursor, entity="order", entity_id=f"bench-{i}",
                             action="payment.settled", actor="bench", data=SAMPLE_DATA)
            append_client = (time.process_time() - client0) / appends
            append_backend = (_backend_cpu(cursor) - backend0) / appends
            # Sequencing the rows just appended (same transaction, rolled back below).
            backend0, client0 = _backend_cpu(cursor), time.process_time()
            sequenced = 0
            while True:
                done = audit.sequence(cursor)
                sequenced += done
                if done < audit.BATCH_SIZE:
                    break
            sequence_client = (time.process_time() - client0) / max(sequenced, 1)
            sequence_backend = (_backend_cpu(cursor) - backend0) / max(sequenced, 1)
            size = audit.tree_size(cursor)
            client0 = time.process_time()
            signer = tlog.Signer("bench/log", Ed25519PrivateKey.generate())
            for _ in range(50):
                signer.sign_note(tlog.Checkpoint("bench/log", size,
                                                 audit.root(cursor, size)).body())
            checkpoint_ms = (time.process_time() - client0) / 50 * 1000
    finally:
        conn.rollback()
        conn.close()
    per_order = entries_per_paid_order(dsn)
    per_entry_ms = (append_client + append_backend + sequence_client + sequence_backend) * 1000
    return {
        "entries_per_paid_order": per_order,
        "append_cpu_ms": {"client": round(append_client * 1000, 4),
                          "postgres": round(append_backend * 1000, 4)},
        "sequencer_cpu_ms_per_leaf": {"client": round(sequence_client * 1000, 4),
                                      "postgres": round(sequence_backend * 1000, 4)},
        "checkpoint_sign_cpu_ms": round(checkpoint_ms, 3),
        "audit_cpu_ms_per_paid_order": (round(per_entry_ms * per_order, 3)
                                        if per_order is not None else None),
        "appends_measured": appends,
        "lock": "none: an append is one INSERT; sequencers take an advisory lock only "
                "among themselves",
    }


def markdown(audit: dict) -> list[str]:
    """The bench report's section on the audit log."""
    return [
        "## Audit log: CPU per paid order", "",
        f"{audit.get('audit_cpu_ms_per_paid_order')} ms CPU per paid order spent in the audit "
        f"log ({audit.get('entries_per_paid_order')} entries per paid order; per entry: append "
        f"{audit['append_cpu_ms']['client']} ms client + {audit['append_cpu_ms']['postgres']} "
        f"ms Postgres, sequencing {audit['sequencer_cpu_ms_per_leaf']['client']} ms + "
        f"{audit['sequencer_cpu_ms_per_leaf']['postgres']} ms; a checkpoint signature "
        f"{audit.get('checkpoint_sign_cpu_ms')} ms every few seconds). Lock: {audit['lock']}.",
    ]


def main(argv: list[str] | None = None) -> int:
    import requests

    from tools import shopper
    from tools.stacks import throwaway_stack

    parser = argparse.ArgumentParser(prog="python -m bench.audit_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--appends", type=int, default=2000)
    args = parser.parse_args(argv)
    with throwaway_stack("etalase-bench-audit-", fast_unsafe_db=True) as stack:
        gateway = stack.urls.gateway
        seller = shopper.login(gateway, shopper.DEMO_SELLER)
        product = shopper.create_product(gateway, seller, stock=10_000, title="Audit bench")
        buyer = shopper.new_buyer(gateway, "audit-bench")
        with requests.Session() as session:
            for _ in range(args.orders):
                placed = shopper.checkout(session, gateway, buyer, product["id"])
                placed.raise_for_status()
                shopper.pay(session, stack.urls.sandbox, placed.json()["order"]["id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with psycopg2.connect(stack.dsn("transaction")) as conn, conn.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM orders WHERE status = 'AWAITING_SHIPMENT'")
                if cursor.fetchone()[0] >= args.orders:
                    break
            time.sleep(0.5)
        print(json.dumps(measure(stack, appends=args.appends), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
