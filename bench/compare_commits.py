# ruff: noqa: S603, S607 - runs git and the repo's own python on fixed arguments
"""The purchase pipeline of two (or more) commits, alternating on one machine.

    python -m bench.compare_commits 7128312 98ed672 [--rounds 2] [--seconds 12]

Each commit is checked out in a temporary git worktree (sharing this repo's .venv) and its
own bench code runs its own stack: 32 buyers checking out and paying through the gateway,
as `make bench`'s pipeline. Rounds alternate the commits, so a machine that slows down
or speeds up during the run weighs on each alike. Prints paid orders/s and stack CPU per
paid order of every run; used to compare the audit log's hash chain with its Merkle log
(bench/results/audit-chain-vs-merkle.md).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Runs inside a commit's worktree, with that commit's bench and tools on the path.
_INNER = """
import sys
from bench import run as b
try:
    from bench import pipeline as p
except ImportError:
    p = b
from tools.stacks import throwaway_stack
from tools import shopper, procs
seconds = float(sys.argv[1])
limits = getattr(p, "NO_RATE_LIMITS", None) or b.NO_RATE_LIMITS
with throwaway_stack("etalase-compare-", sandbox_retry_schedule=None,
                     gateway_settings=limits) as stack:
    seller = shopper.login(stack.urls.gateway, shopper.DEMO_SELLER)
    product = shopper.create_product(stack.urls.gateway, seller, stock=1_000_000, price=99000,
                                     title="Bench")
    # Buyers sign up at the showcase itself: older gateways limit logins per address.
    tokens = [shopper.new_buyer(stack.urls.storefront, "bench") for _ in range(p.BUYERS)]
    run = p.run_pipeline(stack, "pipeline", "gateway", tokens, product["id"], seconds,
                         procs.stack_roots(stack))
    cpu = sum(v for k, v in run.cpu_s.items() if k != "load generator")
    print(f"RESULT {run.rps} paid/s, {run.requests} orders, stack CPU "
          f"{1000 * cpu / max(run.requests, 1):.1f} ms per paid order")
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="+")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=12)
    args = parser.parse_args(argv)
    python = REPO_ROOT / ".venv" / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="etalase-compare-") as tmp:
        trees = {}
        for commit in args.commits:
            tree = Path(tmp) / commit
            subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "-q", "--detach",
                            str(tree), commit], check=True)
            trees[commit] = tree
        try:
            for round_no in range(1, args.rounds + 1):
                for commit, tree in trees.items():
                    out = subprocess.run(
                        [str(python), "-c", _INNER, str(args.seconds)], cwd=tree,
                        env={**os.environ, "PYTHONPATH": str(tree)},
                        capture_output=True, text=True)
                    line = next((ln for ln in out.stdout.splitlines()
                                 if ln.startswith("RESULT")), out.stderr[-500:])
                    load = os.getloadavg()[0]
                    print(f"round {round_no} {commit}: {line.removeprefix('RESULT ')} "
                          f"(load {load:.2f})", flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force",
                                str(tree)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
