"""Command line: `python -m transaction_service migrate | worker NAME | audit-verify`."""

from __future__ import annotations

import argparse
import sys

from servicekit import migrations
from servicekit.observability import configure_logging

from . import MIGRATIONS_DIR, make_database
from .config import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transaction_service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending SQL migrations")
    args = parser.parse_args(argv)

    config = Config()
    configure_logging("transaction", config.log_level)
    database = make_database(config)
    if args.command == "migrate":
        applied = migrations.apply(database, MIGRATIONS_DIR)
        print(f"applied {len(applied)} migration(s): {', '.join(m.name for m in applied) or '-'}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
