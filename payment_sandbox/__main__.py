"""Command line: `python -m payment_sandbox workers [--only NAME] | worker notifier [--once]
| init-db`."""

from __future__ import annotations

import argparse
import sys

from servicekit.observability import configure_logging
from servicekit.workers import add_worker_commands, run_worker_command

from .config import Config
from .store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payment_sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init-db", help="create the SQLite database and its schema")
    add_worker_commands(commands, ["notifier"])
    args = parser.parse_args(argv)

    config = Config()
    if args.command == "init-db":
        configure_logging("payment-sandbox", config.log_level)
        Store(config.db_path).initialize()
        print(f"initialised {config.db_path}")
        return 0
    if args.command in ("worker", "workers"):
        configure_logging("payment-sandbox-notifier", config.log_level)
        from .workers.notifier import loops

        return run_worker_command(args, loops(config))
    return 2


if __name__ == "__main__":
    sys.exit(main())
