"""`make bench`: the real stack under bounded loopback load, against same-run ceilings.

    python -m bench.run [--duration 8] [--pipeline-duration 15] [--out bench/results]

One run, one machine, one tool per kind of measurement (wrk for HTTP reads, a threaded
http.client driver for the purchase pipeline, pgbench for Postgres):

- reads: product detail and the feed, anonymous and with a buyer's JWT, through the
  gateway and straight at the storefront;
- the purchase pipeline: checkout -> sandbox pay -> signed notification -> AWAITING_SHIPMENT,
  32 concurrent buyers, distinct idempotency keys, through the gateway and direct;
- ceilings: nginx `return 200`, a Flask hello app under the services' gunicorn settings
  (direct, and behind the real gateway config), pgbench TPC-B on the stack's Postgres;
- memory: summed RSS of the stack's process trees at rest and the peak under load;
- CPU seconds per component per request (from /proc), which says where the time goes,
  and a py-spy profile of the pipeline when its targets are missed;
- time from `python -m devstack run` to /readyz = 200, on a fresh and a reused data dir.

Results: <out>/<date>.json, .md (tables) and .png (chart), copied to <out>/latest.*; the
README's performance section (between its bench markers) is rewritten from them.

This module runs the scenarios in order; bench/README.md says which module holds what
(measure.py: meters, wrk, ceilings, readiness; pipeline.py: the purchase pipeline and its
profile; report.py: targets, results files, README; one module per further scenario).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import flash_sale, login_flood  # noqa: E402
from bench.measure import (  # noqa: E402
    CONNECTIONS,
    NO_RATE_LIMITS,
    WRK_THREADS,
    Ceilings,
    RssSampler,
    Scenario,
    ensure_wrk,
    log,
    mb,
    run_pgbench,
    run_wrk,
    time_to_ready,
)
from bench.pipeline import (  # noqa: E402
    BUYERS,
    THREE_SHOP_PIPELINE,
    compare_shop_cpu,
    other_shop_products,
    pipeline_only,
    profile_pipeline,
    run_pipeline,
)
from bench.report import TARGETS, evaluate, explain, rederive, write_outputs  # noqa: E402
from devstack.gateway import ensure_nginx  # noqa: E402
from tools import procs, shopper  # noqa: E402
from tools.stacks import throwaway_stack  # noqa: E402

# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk scenario")
    parser.add_argument("--pipeline-duration", type=int, default=15)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--skip-ready", action="store_true", help="skip the make-run timing")
    parser.add_argument("--env", action="append", default=[], metavar="SERVICE:VAR=VALUE",
                        help="experiment: an env override for the stack (e.g. "
                             "all:DB_POOL_MIN=4); recorded in the results")
    parser.add_argument("--rederive", type=Path, metavar="JSON",
                        help="recompute ratios, targets and notes of an earlier results "
                             "JSON (no measuring) and rewrite its files in --out")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="only the purchase pipeline, one-shop and three-shop carts "
                             "(prints the figures, writes no result files)")
    args = parser.parse_args(argv)
    if args.pipeline_only:
        return pipeline_only(args)
    if args.rederive:
        write_outputs(rederive(json.loads(args.rederive.read_text())), args.out)
        return 0
    env_overrides: dict[str, dict[str, str]] = {}
    for item in args.env:
        target, _, assignment = item.partition(":")
        var, _, value = assignment.partition("=")
        if not (target and var):
            parser.error(f"--env {item!r}: expected SERVICE:VAR=VALUE")
        env_overrides.setdefault(target, {})[var] = value

    wrk = ensure_wrk(allow_install=not args.no_install)
    nginx = ensure_nginx(allow_install=not args.no_install)
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="etalase-bench-"))
    workdir.chmod(0o711)
    started = time.monotonic()
    scenarios: dict[str, Scenario] = {}
    profile: dict = {}

    log("starting a dedicated stack (make run's settings, free ports) ...")
    load_before = os.getloadavg()
    with throwaway_stack("etalase-bench-", sandbox_retry_schedule=None,
                         gateway_settings=NO_RATE_LIMITS, env_overrides=env_overrides,
                         pg_stat_statements=True) as stack:
        gateway, storefront = stack.urls.gateway, stack.urls.storefront
        seller = shopper.login(gateway, shopper.DEMO_SELLER)
        product = shopper.create_product(gateway, seller, stock=1_000_000, price=99000,
                                         title="Bench batik tulis")
        log(f"registering {BUYERS} buyers ...")
        tokens = [shopper.new_buyer(gateway, "bench") for _ in range(BUYERS)]
        time.sleep(2)  # let start-up work settle before measuring memory at rest
        rest_by_tree = procs.stack_rss(stack)
        rest_pss = sum(procs.stack_pss(stack).values())

        ceilings = Ceilings(nginx, workdir)
        ceilings.start()
        try:
            ceilings.wait_ready()
            roots = {**procs.stack_roots(stack), **ceilings.roots()}
            sampler = RssSampler(stack)
            sampler.start()
            product_path = f"/api/v1/products/{product['id']}"
            plan = [
                ("nginx return 200", "ceiling", "-",
                 f"http://127.0.0.1:{ceilings.ports['nginx_return']}/", None),
                ("hello direct", "ceiling", "direct",
                 f"http://127.0.0.1:{ceilings.ports['hello']}{product_path}", None),
                ("hello via gateway", "ceiling", "gateway",
                 f"http://127.0.0.1:{ceilings.ports['hello_gateway']}{product_path}", None),
            ]
            for label, path in (("product", product_path), ("feed", "/api/v1/feed")):
                for auth in ("anon", "auth"):
                    token = tokens[0] if auth == "auth" else None
                    plan.append((f"{label} {auth} via gateway", "read", "gateway",
                                 gateway + path, token))
                    plan.append((f"{label} {auth} direct", "read", "direct",
                                 storefront + path, token))
            for name, kind, via, url, token in plan:
                scenarios[name] = run_wrk(wrk, Scenario(name, kind, via, url), args.duration,
                                          roots, token)
            for via in ("gateway", "direct"):
                name = f"pipeline {via}" if via == "direct" else "pipeline via gateway"
                scenarios[name] = run_pipeline(stack, name, via, tokens, product["id"],
                                               args.pipeline_duration, roots)
            # issue 16: carts of three shops (one payment, three orders) in the same pipeline
            scenarios[THREE_SHOP_PIPELINE] = run_pipeline(
                stack, THREE_SHOP_PIPELINE, "gateway", tokens, product["id"],
                args.pipeline_duration, roots,
                other_shop_products=other_shop_products(gateway))
            compare_shop_cpu(scenarios["pipeline via gateway"], scenarios[THREE_SHOP_PIPELINE])
            from bench import webhooks as webhook_bench  # issue 19: webhook cost, throughput

            scenarios.update(webhook_bench.run(stack, tokens, product["id"], roots, seller,
                                               duration=args.pipeline_duration, log=log))
            sampler.stop()
            scenarios["pgbench TPC-B"] = run_pgbench(stack, args.duration)
            login_flood_result = login_flood.run(stack, tokens[0], product["id"], log=log)
            # issue 21: 1,000 buyers, one product of 200 units, within one second
            flash_sale_result = flash_sale.run(stack, roots=roots, log=log)
            pipeline = scenarios["pipeline via gateway"]
            if (pipeline.rps < TARGETS["paid_orders_per_s"] or pipeline.errors
                    or pipeline.p99_ms is None or pipeline.p99_ms >= TARGETS["checkout_p99_ms"]):
                log("pipeline targets missed: profiling it with py-spy ...")
                profile = profile_pipeline(stack, tokens, product["id"], roots, workdir)
        finally:
            ceilings.stop()
        from bench import audit_cost  # CPU per paid order spent in the audit log

        audit = audit_cost.measure(stack)
        rss = {
            "at_rest_mb": mb(sum(rest_by_tree.values())),
            "at_rest_by_tree_mb": {k: mb(v) for k, v in rest_by_tree.items()},
            "peak_under_load_mb": mb(sampler.peak_total),
            "peak_by_tree_mb": {k: mb(v) for k, v in sampler.peak_by_tree.items()},
            # PSS splits pages shared by forked processes (gunicorn workers, Postgres
            # backends and shared_buffers): the stack's real footprint.
            "pss_at_rest_mb": mb(rest_pss),
            "pss_peak_under_load_mb": mb(sampler.peak_pss_total),
        }
        log(f"stack RSS at rest {rss['at_rest_mb']} MB, peak under load "
            f"{rss['peak_under_load_mb']} MB")

    ready = {"skipped": "--skip-ready"} if args.skip_ready else time_to_ready()
    ratios, checks = evaluate(scenarios, rss, ready, flash_sale_result)
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    doc = {
        "date": date,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0],
                    "kernel": os.uname().release,
                    # Other work on the machine skews every number: recorded, not hidden.
                    "loadavg_1m_before": round(load_before[0], 2),
                    "loadavg_1m_after": round(os.getloadavg()[0], 2)},
        "settings": {"duration_s": args.duration, "pipeline_duration_s":
                     args.pipeline_duration, "connections": CONNECTIONS, "buyers": BUYERS,
                     "wrk_threads": WRK_THREADS, "web_concurrency": 2, "web_threads": 4,
                     "env_overrides": env_overrides},
        "scenarios": [{**asdict(s), "cpu_ms_per_request": s.cpu_ms_per_request}
                      for s in scenarios.values()],
        "ratios": ratios,
        "targets": checks,
        "rss": rss,
        "ready": ready,
        "profile": profile,
        "audit": audit,
        "notes": explain(scenarios, checks, profile, rss, flash_sale_result),
        "bench_seconds": round(time.monotonic() - started, 1),
        "login_flood": login_flood_result,
        "flash_sale": flash_sale_result,
    }
    shutil.rmtree(workdir, ignore_errors=True)
    write_outputs(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
