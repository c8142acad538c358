"""Command line: `python -m transaction_service migrate | worker NAME | audit-verify`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from servicekit import migrations
from servicekit.observability import configure_logging

from . import MIGRATIONS_DIR, make_database
from .config import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transaction_service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending SQL migrations")
    commands.add_parser("audit-verify", help="verify the audit hash chain (exit 1 if broken)")
    worker = commands.add_parser("worker", help="run a background worker loop")
    worker.add_argument("name", choices=sorted(_worker_names()))
    worker.add_argument("--once", action="store_true", help="run one step and exit")
    args = parser.parse_args(argv)

    config = Config()
    configure_logging("transaction", config.log_level)
    # Commands and workers run one loop on one thread: one connection, not a web pool
    # (four idle Postgres backends per worker process otherwise).
    database = make_database(replace(config, db_pool_min=1, db_pool_max=2))
    if getattr(args, "name", None) == "webhook-dispatcher":  # one connection per sender thread
        database = make_database(replace(config, db_pool_min=1,
                                         db_pool_max=config.webhook_dispatch_concurrency + 1))
    if args.command == "migrate":
        applied = migrations.apply(database, MIGRATIONS_DIR)
        print(f"applied {len(applied)} migration(s): {', '.join(m.name for m in applied) or '-'}")
        return 0
    if args.command == "audit-verify":
        return _audit_verify(database)
    if args.command == "worker":
        return _run_worker(config, database, args.name, once=args.once)
    return 2


def _worker_names() -> list[str]:
    from .workers.steps import WORKERS

    return list(WORKERS)


def _run_worker(config: Config, database, name: str, *, once: bool) -> int:
    from .context import build_context
    from .workers import runner
    from .workers.steps import WORKERS

    ctx = build_context(config, database)
    step = WORKERS[name]
    try:
        return runner.run(name, lambda: step(ctx), interval=config.worker_interval_seconds,
                          once=once)
    finally:
        database.close()


def _audit_verify(database) -> int:
    import json

    from .store import audit as audit_store

    with database.transaction() as cursor:
        result = audit_store.verify(cursor)
    print(json.dumps(result.to_dict()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
