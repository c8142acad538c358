# ruff: noqa: S603, S607 - runs py-spy
"""`make bench`, the purchase pipeline: checkout -> sandbox pay -> signed notification ->
AWAITING_SHIPMENT, BUYERS concurrent buyers each waiting for its order to be paid before
buying again (`run_pipeline`, one-shop or three-shop carts), `--pipeline-only`, and the
py-spy profile of the pipeline taken when its targets are missed (`profile_pipeline`).
"""
from __future__ import annotations

import http.client
import json
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import asdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402

from bench.measure import NO_RATE_LIMITS, CpuMeter, Scenario, log  # noqa: E402
from tools import procs, shopper  # noqa: E402
from tools.stacks import throwaway_stack  # noqa: E402

BUYERS = 32

# ----------------------------------------------------------------------------- pipeline


class Http:
    """One persistent HTTP/1.1 connection (http.client: far cheaper per request than
    requests, so the driver steals less CPU from the stack it measures)."""

    def __init__(self, base: str):
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port, self.prefix = parsed.hostname, parsed.port, parsed.path
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None,
                headers: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, self.prefix + path, body=data, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class SettlementWatcher:
    """Tells each buyer when its order reached AWAITING_SHIPMENT.

    One thread polls the marketplace database for every order being waited on (one query
    per tick, for all buyers), so waiting costs the stack almost nothing; polling the API
    per buyer would add hundreds of requests per second to what is measured.
    """

    def __init__(self, dsn: str, tick: float = 0.01):
        self.dsn, self.tick = dsn, tick
        self.waiting: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SettlementWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def wait(self, order_id: str, timeout: float) -> bool:
        event = threading.Event()
        with self.lock:
            self.waiting[order_id] = event
        settled = event.wait(timeout)
        with self.lock:
            self.waiting.pop(order_id, None)
        return settled

    def _run(self) -> None:
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                while not self.stop.is_set():
                    with self.lock:
                        ids = list(self.waiting)
                    if ids:
                        cursor.execute("SELECT id::text FROM orders WHERE id = ANY(%s::uuid[])"
                                       " AND status = 'AWAITING_SHIPMENT'", (ids,))
                        with self.lock:
                            for (order_id,) in cursor.fetchall():
                                event = self.waiting.get(order_id)
                                if event:
                                    event.set()
                    self.stop.wait(self.tick)
        finally:
            conn.close()


def run_pipeline(stack, name: str, via: str, tokens: list[str], product_id: str,
                 duration: float, roots: dict[str, int], warmup: float = 2.0,
                 other_shop_products: tuple[str, ...] = ()) -> Scenario:
    """Buyers checking out and paying again and again. With `other_shop_products` every
    cart also holds one unit of each (other shops' products): one checkout, one payment,
    one order per shop; a purchase then ends when the whole checkout is paid."""
    if via == "gateway":
        market, pay_base = stack.urls.gateway, f"{stack.urls.gateway}/sandbox"
    else:
        market, pay_base = stack.urls.transaction, stack.urls.sandbox
    scenario = Scenario(name, "pipeline", via, f"{market}/api/v1/checkout")
    checkout_ms: list[float] = []
    pay_ms: list[float] = []
    purchase_ms: list[float] = []  # checkout sent -> order AWAITING_SHIPMENT
    errors: Counter = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    measuring = threading.Event()
    watcher = SettlementWatcher(stack.dsn("transaction"))

    def failed(what: str) -> None:
        with lock:
            errors[what] += 1

    def buyer(index: int) -> None:
        """One shopper buying again and again; each purchase ends when the order is paid
        (the page shows "paid"), as a real buyer waits before buying again."""
        market_http, pay_http = Http(market), Http(pay_base)
        token = tokens[index % len(tokens)]
        body = {"items": [{"product_id": pid, "quantity": 1}
                          for pid in (product_id, *other_shop_products)],
                "shipping_address": shopper.ADDRESS, "payment_method": "bank_transfer"}

        def send(step: str, expected: int, http: Http, *request) -> bytes | None:
            """The answer's body, or None (counted as an error) on any other outcome."""
            try:
                status, raw = http.request(*request)
            except OSError as exc:
                failed(f"{step} {type(exc).__name__}")
                return None
            if status != expected:
                failed(f"{step} {status}")
                return None
            return raw

        while not stop.is_set():
            started = time.perf_counter()
            raw = send("checkout", 201, market_http, "POST", "/api/v1/checkout", body, {
                "Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
            if raw is None:
                continue
            checkout_done = time.perf_counter()
            placed = json.loads(raw)
            # One payment (the provider's order_id is the checkout's id); one settlement
            # moves every order in one transaction, so watching one of them is enough.
            order_id = placed["orders"][-1]["id"]
            if send("pay", 200, pay_http, "POST",
                    f"/v2/{placed['checkout']['id']}/pay") is None:
                continue
            paid_call_done = time.perf_counter()
            if not watcher.wait(order_id, timeout=30):
                failed("not AWAITING_SHIPMENT within 30 s")
                continue
            finished = time.perf_counter()
            # Counted when it settles inside the window, whenever it began: the steady
            # rate of paid orders. (Counting only purchases begun and settled inside it
            # drops about one per buyer per window, more the slower a purchase is: it
            # overstated a slow scenario's CPU per order, a three-shop cart's most.)
            if measuring.is_set():
                with lock:
                    checkout_ms.append((checkout_done - started) * 1000)
                    pay_ms.append((paid_call_done - checkout_done) * 1000)
                    purchase_ms.append((finished - started) * 1000)

    threads = [threading.Thread(target=buyer, args=(i,), daemon=True) for i in range(BUYERS)]
    with watcher:
        for thread in threads:
            thread.start()
        time.sleep(warmup)
        statements = StatementCounter(stack)
        with CpuMeter(roots) as meter:
            statements.reset()
            t0 = time.monotonic()
            measuring.set()
            time.sleep(duration)
            measuring.clear()
            window = time.monotonic() - t0
            sql = statements.read()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    def percentiles(values: list[float]) -> tuple[float | None, ...]:
        if len(values) < 2:
            return (None, None, None)
        q = statistics.quantiles(values, n=100, method="inclusive")
        return round(q[49], 1), round(q[94], 1), round(q[98], 1)

    # Purchases settled inside the window.
    scenario.requests = len(purchase_ms)
    scenario.rps = round(len(purchase_ms) / window, 1)
    scenario.p50_ms, scenario.p95_ms, scenario.p99_ms = percentiles(checkout_ms)
    scenario.errors = sum(errors.values())
    scenario.error_detail = dict(errors)
    scenario.cpu_s = meter.used
    pay_p = percentiles(pay_ms)
    purchase_p = percentiles(purchase_ms)
    shops = 1 + len(other_shop_products)
    scenario.extra = {
        "unit": "paid orders/s (purchases settled inside the window)" if shops == 1
        else f"paid checkouts/s of {shops} shops each (settled inside the window)",
        "shops_per_checkout": shops,
        "orders_per_s": round(scenario.rps * shops, 1),
        "latency": "checkout request",
        "pay_p50_ms": pay_p[0],
        "pay_p99_ms": pay_p[2],
        "purchase_p50_ms": purchase_p[0],
        "purchase_p99_ms": purchase_p[2],
        "window_s": round(window, 2),
    }
    if sql and scenario.requests:
        # SQL statements per paid checkout, per database (pg_stat_statements, top level),
        # and the costliest statements: where the database time goes.
        scenario.extra["sql_per_checkout"] = {
            db: round(calls / scenario.requests, 1) for db, calls in sql["calls"].items()}
        scenario.extra["sql_top"] = sql["top"]
    log(f"{name:<40} {scenario.rps:>9.1f} paid/s ({shops} shop(s))  "
        f"checkout p50 {scenario.p50_ms} ms  "
        f"p99 {scenario.p99_ms} ms  errors {scenario.errors} {dict(errors) or ''}")
    return scenario


class StatementCounter:
    """Statements run by each service database in a window, from pg_stat_statements (the
    bench's stack loads it: `pg_stat_statements=True`); a stack without it counts nothing."""

    def __init__(self, stack):
        self.dsn = stack.dsn("superuser") if getattr(stack, "pg_stat_statements", False) else None

    def _query(self, sql: str) -> list[tuple]:
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def reset(self) -> None:
        if self.dsn:
            self._query("SELECT pg_stat_statements_reset()")

    def read(self) -> dict | None:
        if not self.dsn:
            return None
        rows = self._query(
            "SELECT d.datname, s.calls, s.total_exec_time, s.query FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname LIKE 'etalase%'")
        calls: Counter = Counter()
        for db, count, _ms, _query in rows:
            calls[db.removeprefix("etalase_")] += count
        top = sorted(rows, key=lambda row: -row[2])[:8]
        return {"calls": dict(calls), "top": [
            {"db": db.removeprefix("etalase_"), "calls": count, "total_ms": round(ms, 1),
             "query": " ".join(query.split())[:120]} for db, count, ms, query in top]}


THREE_SHOP_PIPELINE = "pipeline via gateway, 3-shop carts"


def other_shop_products(gateway: str) -> tuple[str, ...]:
    """A plentiful product in each of two more demo shops (three-shop carts)."""
    return tuple(
        shopper.create_product(gateway, shopper.login(gateway, email), stock=1_000_000,
                               price=45000, title=f"Bench {label}")["id"]
        for email, label in ((shopper.DEMO_SELLER_2, "tenun"), (shopper.DEMO_SELLER_3, "songket"))
    )


def compare_shop_cpu(one_shop: Scenario, three_shops: Scenario) -> None:
    """Stack CPU per paid checkout of three shops against one of a single shop (the goal:
    less than 2x, DESIGN.md §5); recorded on the three-shop scenario."""
    def stack_cpu(scenario: Scenario) -> float:
        return sum(v for k, v in scenario.cpu_ms_per_request.items() if k != "load generator")

    one, three = stack_cpu(one_shop), stack_cpu(three_shops)
    if one and three:
        three_shops.extra["cpu_ms_per_checkout"] = round(three, 2)
        three_shops.extra["cpu_ms_per_one_shop_checkout"] = round(one, 2)
        three_shops.extra["cpu_vs_one_shop"] = round(three / one, 2)
        log(f"3-shop checkout CPU {three:.1f} ms vs 1-shop {one:.1f} ms "
            f"= {three / one:.2f}x (goal < 2x)")


def pipeline_only(args) -> int:
    """`--pipeline-only`: just the purchase pipeline via the gateway, one-shop and
    three-shop carts, on a throwaway stack; prints the figures, writes no result files."""
    with throwaway_stack("etalase-bench-", sandbox_retry_schedule=None,
                         gateway_settings=NO_RATE_LIMITS, pg_stat_statements=True) as stack:
        gateway = stack.urls.gateway
        seller = shopper.login(gateway, shopper.DEMO_SELLER)
        product = shopper.create_product(gateway, seller, stock=1_000_000, price=99000,
                                         title="Bench batik tulis")
        tokens = [shopper.new_buyer(gateway, "bench") for _ in range(BUYERS)]
        others = other_shop_products(gateway)
        roots = procs.stack_roots(stack)
        one = run_pipeline(stack, "pipeline via gateway", "gateway", tokens, product["id"],
                           args.pipeline_duration, roots)
        three = run_pipeline(stack, THREE_SHOP_PIPELINE, "gateway", tokens, product["id"],
                             args.pipeline_duration, roots, other_shop_products=others)
        compare_shop_cpu(one, three)
    print(json.dumps({s.name: {**asdict(s), "cpu_ms_per_request": s.cpu_ms_per_request}
                      for s in (one, three)}, indent=2, default=str))
    return 0


# ----------------------------------------------------------------------------- profile


def profile_pipeline(stack, tokens, product_id, roots, out_dir: Path, seconds: int = 8) -> dict:
    """py-spy (sampling, all threads and gunicorn workers) of the Python processes while the
    gateway pipeline runs; returns the hottest leaf functions per process tree."""
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        return {"skipped": "py-spy is not installed (pip install -r bench/requirements.txt)"}
    targets = {name: pid for name, pid in roots.items()
               if name in ("transaction", "storefront", "sandbox", "sandbox-workers",
                           "transaction-workers")}
    spies = {}
    for name, pid in targets.items():
        raw = out_dir / f"profile-{name}.txt"
        spies[name] = (raw, subprocess.Popen(
            [pyspy, "record", "--pid", str(pid), "--subprocesses", "--duration", str(seconds),
             "--rate", "50", "--format", "raw", "--nonblocking", "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    run_pipeline(stack, "pipeline (profiled, not reported)", "gateway", tokens, product_id,
                 seconds, roots, warmup=0.5)
    summary = {}
    for name, (raw, process) in spies.items():
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        summary[name] = _top_frames(raw)
    return summary


def _top_frames(raw: Path, limit: int = 8) -> dict:
    """Share of samples per leaf function, and per innermost frame in our own code (py-spy
    samples running threads only by default, so idle waits are not counted)."""
    try:
        lines = raw.read_text().splitlines()
    except OSError:
        return {}
    leaf: Counter = Counter()
    ours: Counter = Counter()
    total = 0
    packages = ("storefront_service", "transaction_service", "payment_sandbox", "servicekit")
    for line in lines:
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack_text.split(";")
        n = int(count)
        total += n
        leaf[_short(frames[-1])] += n
        # py-spy's first frame names the process ("process 123:<cmdline>"): not code.
        own = [f for f in frames if any(p in f for p in packages)
               and not f.startswith("process ")]
        if own:
            ours[_short(own[-1])] += n
    if not total:
        return {}
    share = lambda c: [(k, round(100 * v / total, 1)) for k, v in c.most_common(limit)]  # noqa: E731
    return {"samples": total, "leaf_pct": share(leaf), "own_code_pct": share(ours)}


def _short(frame: str) -> str:
    match = re.match(r"(.+?) \((.+?):(\d+)\)", frame)
    if not match:
        return frame[:120]
    function, path, line = match.groups()
    return f"{function} ({'/'.join(Path(path).parts[-2:])}:{line})"
