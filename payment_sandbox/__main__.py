"""Command line: `python -m payment_sandbox worker notifier [--once]` | `init-db`."""

from __future__ import annotations

import argparse
import sys

from servicekit.observability import configure_logging

from .config import Config
from .store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payment_sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init-db", help="create the SQLite database and its schema")
    worker = commands.add_parser("worker", help="run a background worker")
    worker.add_argument("name", choices=["notifier"])
    worker.add_argument("--once", action="store_true",
                        help="one pass (expire, deliver what is due) then exit")
    args = parser.parse_args(argv)

    config = Config()
    if args.command == "init-db":
        configure_logging("payment-sandbox", config.log_level)
        Store(config.db_path).initialize()
        print(f"initialised {config.db_path}")
        return 0
    if args.command == "worker" and args.name == "notifier":
        configure_logging("payment-sandbox-notifier", config.log_level)
        from .workers.notifier import main as notifier_main

        return notifier_main(config, once=args.once)
    return 2


if __name__ == "__main__":
    sys.exit(main())
