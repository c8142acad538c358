"""Command line: `python -m transaction_service migrate | workers [--only NAME] [--skip NAME]
| worker NAME [--once] | audit-verify | audit-checkpoint`."""

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
    parser = argparse.ArgumentParser(prog="python -m transaction_service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending SQL migrations")
    verify = commands.add_parser(
        "audit-verify",
        help="verify the audit log: the whole database, or offline (--checkpoint) saved API "
             "answers with only the public keys (exit 1 if not verified)")
    verify.add_argument("--checkpoint", help="offline: a saved GET /api/v1/audit/checkpoint")
    verify.add_argument("--keys", help="offline: a saved GET /api/v1/audit/keys")
    verify.add_argument("--log-vkey", action="append", help="offline: the log's vkey")
    verify.add_argument("--witness-vkey", action="append", help="offline: a witness vkey")
    verify.add_argument("--entries", nargs="*", help="offline: saved entry / order audit "
                        "answers")
    verify.add_argument("--previous", help="offline: an earlier checkpoint you kept")
    verify.add_argument("--consistency", help="offline: the consistency answer from it")
    commands.add_parser("audit-checkpoint",
                        help="sequence, sign a checkpoint now and have the witness cosign it")
    add_worker_commands(commands, _worker_names())
    args = parser.parse_args(argv)

    if args.command == "audit-verify" and args.checkpoint:
        from .audit_verifier import run

        return run(args)  # offline: no database, no configuration
    config = Config()
    configure_logging("transaction", config.log_level)
    # Commands run on one thread: one connection, not a web pool (four idle Postgres
    # backends otherwise). The worker loops share one pool: a connection or two per loop
    # thread, one per webhook sender thread; one per loop kept open while idle (psycopg2
    # closes a returned connection beyond the minimum: each tick would reconnect).
    loops_run = len(_worker_names()) if args.command in ("worker", "workers") else 0
    database = make_database(replace(
        config, db_pool_min=max(1, loops_run),
        db_pool_max=2 * loops_run + config.webhook_dispatch_concurrency if loops_run else 2))
    if args.command == "migrate":
        applied = migrations.apply(database, MIGRATIONS_DIR)
        print(f"applied {len(applied)} migration(s): {', '.join(m.name for m in applied) or '-'}")
        return 0
    if args.command == "audit-verify":
        return _audit_verify(config, database)
    if args.command == "audit-checkpoint":
        return _audit_checkpoint(config, database)
    if args.command in ("worker", "workers"):
        from .workers.steps import loops

        try:
            return run_worker_command(args, loops(config, database))
        finally:
            database.close()
    return 2


def _worker_names() -> list[str]:
    from .workers.steps import WORKERS

    return list(WORKERS)


def _audit_verify(config: Config, database) -> int:
    import json

    from .operations.audit_log import keys
    from .store import audit as audit_store

    log_keys = keys(config).log or None
    with database.transaction() as cursor:
        result = audit_store.verify(cursor, log_verifiers=log_keys)
    print(json.dumps(result.to_dict()))
    return 0 if result.ok else 1


def _audit_checkpoint(config: Config, database) -> int:
    import json

    from .context import build_context
    from .operations import audit_log
    from .store import audit_checkpoints

    ctx = build_context(config, database)
    if audit_log.signer(config) is None:
        print(json.dumps({"ok": False, "error": "AUDIT_LOG_KEY_FILE is not set"}))
        return 1
    sequenced = audit_log.sequence_all(ctx)
    audit_log.sign_checkpoint(ctx, force=True)
    outcome = audit_log.submit_to_witness(ctx)
    with database.transaction() as cursor:
        latest = audit_checkpoints.latest(cursor)
    print(json.dumps({"ok": outcome in ("cosigned", "nothing") and latest is not None
                      and latest["cosigned_note"] is not None,
                      "sequenced": sequenced, "witness": outcome,
                      "tree_size": latest["tree_size"] if latest else 0}))
    return 0 if latest is not None and latest["cosigned_note"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
