"""Command line: `python -m storefront_service migrate | seed | workers [--only NAME] |
worker reservation-sweeper [--once]`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from servicekit import migrations
from servicekit.observability import configure_logging
from servicekit.workers import add_worker_commands, run_worker_command

from . import MIGRATIONS_DIR, make_database
from .config import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storefront_service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending SQL migrations")
    commands.add_parser("seed", help="load demo data (idempotent)")
    add_worker_commands(commands, ["reservation-sweeper"])
    args = parser.parse_args(argv)

    config = Config()
    configure_logging("storefront", config.log_level)
    # Commands and the one loop run on one thread: one connection, not a web pool
    # (four idle Postgres backends per process otherwise).
    database = make_database(replace(config, db_pool_min=1, db_pool_max=2))
    if args.command == "migrate":
        applied = migrations.apply(database, MIGRATIONS_DIR)
        print(f"applied {len(applied)} migration(s): {', '.join(m.name for m in applied) or '-'}")
        return 0
    if args.command == "seed":
        from .seed import seed

        summary = seed(database)
        print("seeded: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
        return 0
    if args.command in ("worker", "workers"):
        from .workers.reservation_sweeper import loops

        return run_worker_command(args, loops(config, database))
    return 2


if __name__ == "__main__":
    sys.exit(main())
