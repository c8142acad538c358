"""`make bench` scenario: a flash sale (DESIGN.md §14, issue 21 item 2).

1,000 signed-in buyers send one checkout each for one product holding 200 units, all
within one second, through the gateway; meanwhile a few signed-in readers read other
products, paced, as they did on the quiet stack just before. What must hold:

- exactly 200 orders (counted in the marketplace's database) and the stock at 0;
- no 5xx, and every loser answered 409 `insufficient-stock` as application/problem+json;
- sold-out answers p99 < 100 ms once the stock is gone (from the last unit's reservation,
  or the loser's send if later, to its 409), winners' checkout p99 < 500 ms;
- the signed-in reads' p99 during the sale <= 2x their quiet p99.
Reported beside them: the hot row's reservations/s (the 200 winners' reservations on the
showcase, first to last).

The buyers are seeded before the clock starts (`tools.shopper.seeded_buyers`): accounts
inserted with one SQL statement and their access tokens signed with the stack's own key,
exactly as a login would issue them (1,000 argon2 logins would take minutes on two cores).
The driver is bounded: one process (so its 1,000 threads and their GIL never sit in the
process that times the reads), one pre-opened keep-alive connection and one request per
buyer, send times spread evenly over one second, a 30 s answer timeout, loopback only.
The gateway's rate limits are off for the bench (NO_RATE_LIMITS in bench/measure.py).
Connection limits: nginx's listen backlog is 511 by default (the buyers connect 32 at a
time, before the clock), its workers hold up to 8,192 connections each (at the 1,024 they
had, nginx closed idle buyers' connections to make room: resets), and gunicorn's gthread
workers accept up to 1,000 connections each behind a 2,048 listen backlog, so nothing is
refused at the door: what is measured is how fast the stack answers.

    python -m bench.flash_sale [--buyers 1000] [--units 200] [--json PATH]
Exit status 0 when every target holds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg2

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.measure import CpuMeter  # noqa: E402
from tools import procs, shopper  # noqa: E402

BUYERS = 1000
UNITS = 200
SEND_SPREAD_S = 1.0
ANSWER_TIMEOUT_S = 30.0
READERS = 4
READ_INTERVAL_S = 0.05  # each reader: one signed-in read every 50 ms (80/s in all)
TARGETS = {"sold_out_p99_ms": 100, "winner_p99_ms": 500, "read_p99_factor": 2.0}
PROBLEM = "application/problem+json"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


# ----------------------------------------------------------------------------- buyers


def _buyers_process(host: str, port: int, tokens: list[str], body: bytes, spread: float,
                    ready, go, results) -> None:
    """In its own process: one thread and one pre-opened connection per buyer. Once every
    connection is open it says so on `ready`, waits for the start instant on `go`, then
    each buyer sends its checkout at its own instant in [start, start + spread) and
    reports (sent, answered, status, content type, problem slug) on the shared monotonic
    clock (CLOCK_MONOTONIC is one clock for every process)."""
    threading.stack_size(256 * 1024)  # 1,000 threads: small stacks
    offsets = [spread * n / len(tokens) for n in range(len(tokens))]
    random.shuffle(offsets)
    answers: list[tuple] = []
    lock = threading.Lock()
    connected = threading.Barrier(len(tokens) + 1, timeout=120)
    # Connections opened a few dozen at a time: nginx's listen backlog is 511 by default,
    # and a burst of 1,000 connects overflows its accept queue on a busy machine (the
    # client believes it is connected; its request is later reset).
    connecting = threading.BoundedSemaphore(32)
    start = threading.Event()
    start_at = [0.0]

    def buyer(token: str, offset: float) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=ANSWER_TIMEOUT_S)
        with connecting:
            try:
                conn.connect()
            except OSError:
                conn = None
        connected.wait()
        start.wait()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                   "Idempotency-Key": str(uuid.uuid4())}
        delay = start_at[0] + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic()
        status, content_type, slug = 0, "", "no-connection"
        if conn is not None:
            try:
                conn.request("POST", "/api/v1/checkout", body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                status = response.status
                content_type = response.getheader("Content-Type", "")
                slug = ""
                if content_type.startswith(PROBLEM):
                    slug = str(json.loads(raw).get("type", "")).rsplit("/", 1)[-1]
            except (OSError, http.client.HTTPException, ValueError) as exc:
                slug = type(exc).__name__
            finally:
                conn.close()
        with lock:
            answers.append((sent, time.monotonic(), status, content_type, slug))

    threads = [threading.Thread(target=buyer, args=(t, o), daemon=True)
               for t, o in zip(tokens, offsets, strict=True)]
    for thread in threads:
        thread.start()
    connected.wait()
    ready.put(True)
    start_at[0] = go.get(timeout=120)
    start.set()
    deadline = start_at[0] + spread + ANSWER_TIMEOUT_S + 5
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    with lock:
        results.put(list(answers))


# ----------------------------------------------------------------------------- readers


class _Readers:
    """READERS threads, each reading a product with a buyer's JWT every READ_INTERVAL_S
    (through the gateway, so never from its microcache); latencies tagged by send time."""

    def __init__(self, gateway: str, token: str, product_ids: list[str]):
        parsed = gateway.removeprefix("http://").split(":")
        self.host, self.port = parsed[0], int(parsed[1])
        self.token, self.product_ids = token, product_ids
        self.samples: list[tuple[float, float, int]] = []  # (sent, ms, status)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(n,), daemon=True)
                         for n in range(READERS)]

    def _read(self, n: int) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}"}
        path = f"/api/v1/products/{self.product_ids[n % len(self.product_ids)]}"
        next_at = time.monotonic()
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                status = 0
            elapsed = (time.monotonic() - sent) * 1000
            with self._lock:
                self.samples.append((sent, elapsed, status))
            next_at += READ_INTERVAL_S
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        conn.close()

    def __enter__(self) -> _Readers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)

    def between(self, start: float, end: float) -> tuple[list[float], Counter]:
        with self._lock:
            picked = [(ms, status) for sent, ms, status in self.samples if start <= sent < end]
        return [ms for ms, _ in picked], Counter(status for _, status in picked)


# ----------------------------------------------------------------------------- checks


def _count_sold(stack, product_id: str) -> dict:
    """What the databases say was sold: placed orders holding the product (marketplace),
    the product's stock and its reservations, first to last (showcase)."""
    with psycopg2.connect(stack.dsn("transaction")) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT o.id), coalesce(sum(i.quantity), 0) FROM orders o"
            " JOIN order_items i ON i.order_id = o.id"
            " WHERE i.product_id = %s AND o.placed_at IS NOT NULL",
            (product_id,),
        )
        orders, units = cursor.fetchone()
    with psycopg2.connect(stack.dsn("storefront")) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT stock FROM products WHERE id = %s", (product_id,))
        (stock,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), extract(epoch FROM max(r.created_at) - min(r.created_at)),"
            " extract(epoch FROM max(r.created_at))"
            " FROM reservations r JOIN reservation_items ri ON ri.order_id = r.order_id"
            " WHERE ri.product_id = %s AND r.status = 'active'",
            (product_id,),
        )
        reservations, span, last = cursor.fetchone()
    return {"orders": orders, "units_ordered": int(units), "stock_left": stock,
            "active_reservations": reservations,
            "reservation_span_s": round(float(span), 3) if span is not None else None,
            # wall-clock epoch of the last reservation (its transaction's start)
            "last_reservation_epoch": float(last) if last is not None else None}


def run(stack, *, buyers: int = BUYERS, units: int = UNITS, quiet_seconds: float = 5.0,
        roots: dict[str, int] | None = None, log=print) -> dict:
    """The scenario on a running stack whose gateway has no rate limits; `roots` are the
    process trees whose CPU is split per checkout (default: the stack's)."""
    gateway = stack.urls.gateway
    seller = shopper.login(gateway, shopper.DEMO_SELLER)
    hot = shopper.create_product(gateway, seller, stock=units, price=49000,
                                 title="Flash sale batik")
    others = [shopper.create_product(gateway, seller, stock=1000, price=99000,
                                     title=f"Flash bystander {n}")["id"] for n in range(2)]
    log(f"flash sale: seeding {buyers} buyers (SQL + tokens signed with the stack's key) ...")
    tokens = shopper.seeded_buyers(stack, buyers + 1, label="flash")
    reader_token, tokens = tokens[0], tokens[1:]
    body = json.dumps({"items": [{"product_id": hot["id"], "quantity": 1}],
                       "shipping_address": shopper.ADDRESS,
                       "payment_method": "bank_transfer"}).encode()
    host, port = gateway.removeprefix("http://").split(":")

    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Queue(), context.Queue(), context.Queue()
    process = context.Process(
        target=_buyers_process,
        args=(host, int(port), tokens, body, SEND_SPREAD_S, ready, go, results), daemon=True)
    log(f"flash sale: opening {buyers} buyers' connections ...")
    process.start()
    ready.get(timeout=180)
    with _Readers(gateway, reader_token, others) as readers:
        quiet_start = time.monotonic() + 1.0  # the first second warms connections
        log(f"flash sale: quiet signed-in reads for {quiet_seconds}s ...")
        time.sleep(1.0 + quiet_seconds)
        quiet_end = time.monotonic()
        log(f"flash sale: {buyers} buyers, {units} units, checkouts sent over "
            f"{SEND_SPREAD_S:g}s ...")
        start_at = time.monotonic() + 0.2
        with CpuMeter(roots or procs.stack_roots(stack)) as meter:
            go.put(start_at)
            answers = results.get(timeout=SEND_SPREAD_S + ANSWER_TIMEOUT_S + 60)
        process.join(timeout=10)
        sale_end = max((answered for _, answered, *_ in answers), default=time.monotonic())
    late = min((s for s, *_ in answers), default=start_at) - start_at
    if late > 0.1:
        log(f"flash sale: WARNING the first checkout went {late:.2f}s late (connecting "
            "the buyers took longer than planned)")
    quiet_ms, quiet_statuses = readers.between(quiet_start, quiet_end)
    sale_ms, sale_statuses = readers.between(start_at, sale_end)

    statuses = Counter(status for _, _, status, _, _ in answers)
    winners = [(a - s) * 1000 for s, a, status, _, _ in answers if status == 201]
    losers = [(s, a, status, ctype, slug) for s, a, status, ctype, slug in answers
              if status != 201]
    proper_losers = [x for x in losers
                     if x[2] == 409 and x[3].startswith(PROBLEM) and x[4] == "insufficient-stock"]
    all_sold_out = [(a - s) * 1000 for s, a, status, _, _ in answers if status == 409]
    # A checkout the gateway gave up on (504) still runs to its end in the marketplace:
    # count once the databases stop changing.
    sold, settle_deadline = _count_sold(stack, hot["id"]), time.monotonic() + 30
    while time.monotonic() < settle_deadline:
        time.sleep(1.0)
        again = _count_sold(stack, hot["id"])
        if again == sold:
            break
        sold = again
    span = sold["reservation_span_s"]
    # The stock is gone when the last unit's reservation was taken (the showcase's clock,
    # moved onto this process's monotonic one). From then on a loser's wait is the time to
    # tell it "sold out": from its send, or from that instant if it was sent (and queued)
    # before, to its answer.
    last_epoch = sold.pop("last_reservation_epoch")
    gone = (last_epoch - (time.time() - time.monotonic())
            if last_epoch is not None and sold["stock_left"] == 0 else None)
    after_gone = [(a - max(s, gone)) * 1000 for s, a, status, _, _ in answers
                  if status == 409 and gone is not None and a >= gone]
    fivexx = sum(n for status, n in statuses.items() if status >= 500 or status == 0)
    reads_5xx = sum(n for status, n in (quiet_statuses + sale_statuses).items()
                    if status >= 500 or status == 0)
    quiet_p99, sale_p99 = _percentile(quiet_ms, 99), _percentile(sale_ms, 99)
    read_ratio = round(sale_p99 / quiet_p99, 2) if quiet_p99 and sale_p99 else None
    result = {
        "scenario": f"flash sale: {buyers} signed-in buyers, one product of {units} units, "
                    f"checkouts sent within {SEND_SPREAD_S:g} s through the gateway",
        "buyers": buyers,
        "units": units,
        "answers": len(answers),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "loser_answers": dict(Counter(f"{s} {c.split(';')[0]} {slug}".strip()
                                      for _, _, s, c, slug in losers)),
        "losers_409_problem": len(proper_losers),
        "losers": len(losers),
        "five_xx_or_no_answer": fivexx,
        "sold": sold,
        "sale_seconds": round(sale_end - start_at, 2),
        "winner_p50_ms": _percentile(winners, 50),
        "winner_p99_ms": _percentile(winners, 99),
        "sold_out_p50_ms": _percentile(after_gone, 50),
        "sold_out_p99_ms": _percentile(after_gone, 99),
        "sold_out_answers_after_gone": len(after_gone),
        "sold_out_p99_all_ms": _percentile(all_sold_out, 99),
        "stock_gone_after_s": round(gone - start_at, 3) if gone is not None else None,
        "hot_row_reservations_per_s": (round((sold["active_reservations"] - 1) / span, 1)
                                       if span else None),
        "reads": {"readers": READERS, "interval_ms": READ_INTERVAL_S * 1000,
                  "quiet": {"requests": len(quiet_ms), "p50_ms": _percentile(quiet_ms, 50),
                            "p99_ms": quiet_p99},
                  "sale": {"requests": len(sale_ms), "p50_ms": _percentile(sale_ms, 50),
                           "p99_ms": sale_p99},
                  "p99_ratio": read_ratio, "five_xx_or_no_answer": reads_5xx},
        # CPU seconds per process tree from the clock's start to the last answer, and per
        # checkout: where a sale's time goes (the buyers' process is not in it).
        "cpu_s": {k: v for k, v in meter.used.items() if k != "load generator"},
        "cpu_ms_per_checkout": {k: round(v * 1000 / max(1, len(answers)), 2)
                                for k, v in sorted(meter.used.items(), key=lambda kv: -kv[1])
                                if v and k != "load generator"},
        "targets": TARGETS,
    }
    result["checks"] = checks(result)
    result["ok"] = all(c["met"] for c in result["checks"])
    log(f"flash sale: {dict(statuses)}; orders {sold['orders']}, stock left "
        f"{sold['stock_left']}; winners p99 {result['winner_p99_ms']} ms, sold-out p99 "
        f"{result['sold_out_p99_ms']} ms ({len(after_gone)} after the stock was gone); reads "
        f"p99 {quiet_p99} -> {sale_p99} ms; hot row {result['hot_row_reservations_per_s']} "
        f"reservations/s: {'ok' if result['ok'] else 'TARGETS MISSED'}")
    return result


def checks(result: dict) -> list[dict]:
    """The flash sale's targets as rows of the bench's targets table (also re-derived by
    `bench.run --rederive` from a stored result)."""
    units, goals, sold = result["units"], result["targets"], result["sold"]
    reads = result["reads"]

    def row(name, measured, goal, met, unit=""):
        return {"target": f"flash sale: {name}", "measured": measured, "goal": goal,
                "unit": unit, "met": bool(met)}

    return [
        row("orders placed (marketplace DB)", sold["orders"], f"= {units}",
            sold["orders"] == units and sold["stock_left"] == 0),
        row("5xx or unanswered checkouts", result["five_xx_or_no_answer"], "0",
            result["five_xx_or_no_answer"] == 0),
        row("losers answered 409 insufficient-stock problem+json",
            f"{result['losers_409_problem']}/{result['losers']}", "all",
            result["losers_409_problem"] == result["losers"] == result["buyers"] - units),
        row("sold-out answer p99 once the stock is gone", result["sold_out_p99_ms"],
            f"< {goals['sold_out_p99_ms']}",
            result["sold_out_p99_ms"] is not None
            and result["sold_out_p99_ms"] < goals["sold_out_p99_ms"], "ms"),
        row("winners' checkout p99", result["winner_p99_ms"], f"< {goals['winner_p99_ms']}",
            result["winner_p99_ms"] is not None
            and result["winner_p99_ms"] < goals["winner_p99_ms"], "ms"),
        row("signed-in reads p99 during the sale / quiet p99", reads["p99_ratio"],
            f"<= {goals['read_p99_factor']}",
            reads["p99_ratio"] is not None and reads["p99_ratio"] <= goals["read_p99_factor"]
            and reads["five_xx_or_no_answer"] == 0),
    ]


def markdown(result: dict) -> list[str]:
    """The report's flash-sale section (its checks are in the report's targets table)."""
    reads = result["reads"]
    return [
        "## Flash sale", "",
        f"{result['scenario']}. Answers: {result['statuses']} in {result['sale_seconds']} s "
        f"from the first send; the stock was gone {result['stock_gone_after_s']} s in. "
        f"Database: {result['sold']['orders']} orders, {result['sold']['stock_left']} units "
        f"left. Hot row: {result['hot_row_reservations_per_s']} reservations/s. Winners' "
        f"checkout p50 {result['winner_p50_ms']} ms, p99 {result['winner_p99_ms']} ms; "
        f"sold-out answers once the stock was gone ({result['sold_out_answers_after_gone']}):"
        f" p50 {result['sold_out_p50_ms']} ms, p99 {result['sold_out_p99_ms']} ms (p99 of "
        f"every sold-out answer {result['sold_out_p99_all_ms']} ms). Signed-in reads of other"
        f" products ({reads['readers']} readers, one read each per {reads['interval_ms']:g} "
        f"ms): p99 {reads['quiet']['p99_ms']} ms quiet, {reads['sale']['p99_ms']} ms during "
        f"the sale ({reads['sale']['requests']} reads). Stack CPU per checkout during the "
        f"sale (ms, winners and losers together): "
        + ", ".join(f"{k} {v}" for k, v in result.get("cpu_ms_per_checkout", {}).items())
        + ". Its targets are rows of the targets table above.",
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.measure import NO_RATE_LIMITS
    from tools.stacks import throwaway_stack

    parser = argparse.ArgumentParser(prog="python -m bench.flash_sale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=BUYERS)
    parser.add_argument("--units", type=int, default=UNITS)
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with throwaway_stack("etalase-flash-", sandbox_retry_schedule=None,
                         gateway_settings=NO_RATE_LIMITS) as stack:
        result = run(stack, buyers=args.buyers, units=args.units)
    result["machine"] = {"cores": os.cpu_count(), "loadavg_1m_before": round(load_before, 2),
                         "loadavg_1m_after": round(os.getloadavg()[0], 2)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
