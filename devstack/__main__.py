"""python -m devstack run [--data-dir .data] [--port 8080] [--pg-port N] [--scale N]
                                                            (what `make run` calls)
python -m devstack keys DIR [--kid KID] [--publish-jwks DIR] (JWT key pair into DIR)
    [--audit-log-key DIR] [--witness-key DIR] (transparency-log and witness keys)
python -m devstack doctor                                   (are the system tools there?)
python -m devstack clean-data [--data-dir .data]            (delete local data)
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from devstack.util import DevstackError


def _run(args: argparse.Namespace) -> int:
    from devstack.gateway import ensure_nginx
    from devstack.stack import Stack, resolve_ports

    ensure_nginx(allow_install=True)  # before anything starts: a missing nginx fails fast
    ports = resolve_ports(
        {
            "gateway": args.port,
            "postgres": args.pg_port,
            "storefront": args.storefront_port,
            "transaction": args.transaction_port,
            "sandbox": args.sandbox_port,
        }
    )
    stack = Stack(
        args.data_dir,
        ports=ports,
        with_workers=not args.no_workers,
        with_sandbox_route=not args.no_sandbox,
        sandbox_retry_schedule=args.sandbox_retry_schedule,
        allow_install=True,
        scale=args.scale,
    )

    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        print(f"devstack: starting Etalase (data in {stack.data_dir}) ...", flush=True)
        stack.start()
        _seed_demo_orders(stack, args)
        _print_summary(stack, args)
        while True:
            time.sleep(0.5)
            # A dead process is restarted with backoff, as compose's restart policy does.
            for event in stack.supervise():
                print(f"devstack: {event}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\ndevstack: stopping ...", flush=True)
        return 0
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # no second interrupt mid-cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        if stopping:
            print("devstack: stopped.", flush=True)


def _seed_demo_orders(stack, args) -> None:
    """Creator-attributed orders for the demo (through the public API, once per data dir);
    needs the sandbox route and the workers. A failure is reported, never fatal."""
    if args.no_sandbox or args.no_workers:
        return
    from tools.demo_orders import seed_once

    try:
        placed = seed_once(stack.urls.gateway, stack.data_dir)
    except Exception as exc:  # noqa: BLE001 - the demo must not stop the system starting
        print(f"devstack: demo orders not placed: {exc}", file=sys.stderr, flush=True)
        return
    if placed:
        print(f"devstack: placed {len(placed)} demo orders from creators' content", flush=True)


def _print_summary(stack, args) -> None:
    urls = stack.urls
    lines = [
        "",
        f"Etalase is running at {urls.gateway}/  (Ctrl-C stops everything)",
        f"  API:      {urls.gateway}/api/v1/...",
        f"  health:   {urls.gateway}/healthz   ready: {urls.gateway}/readyz",
    ]
    if not args.no_sandbox:
        lines.append(
            f"  sandbox:  {urls.gateway}/sandbox/v2/<order_id>/pay  (plays the customer paying)"
        )
    ports = ", ".join(f"{name} {port}" for name, port in stack.ports.items())
    lines.append(f"  ports:    {ports}")
    lines.append(f"  logs:     {stack.logs_dir}/")
    demo = stack.demo_summary()
    if demo:
        demo_lines = demo.splitlines()
        lines.append("  demo data:")
        lines += [f"    {line}" for line in demo_lines[:30]]
        if len(demo_lines) > 30:
            lines.append(f"    ... (all of it in {stack.data_dir / 'demo-credentials.txt'})")
    print("\n".join(lines), flush=True)


def _keys(args: argparse.Namespace) -> int:
    import shutil

    from devstack.keys import ensure_jwt_keys

    kid, private, jwks = ensure_jwt_keys(Path(args.dir), kid=args.kid)
    print(f"kid={kid}\nprivate_key={private}\njwks={jwks}")
    if args.publish_jwks:
        # Services that only verify tokens mount this directory, never the private key.
        public = Path(args.publish_jwks)
        public.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(jwks, public / "jwks.json")
        print(f"published={public / 'jwks.json'}")
    if args.audit_log_key or args.witness_key:
        from devstack.keys import ensure_audit_keys

        audit = ensure_audit_keys(Path(args.audit_log_key or args.dir),
                                  Path(args.witness_key or args.dir),
                                  rotate=tuple(args.rotate or ()))
        print("\n".join(f"{name}={path}" for name, path in audit.items()))
        if args.publish_jwks:  # the verifier keys are public like the JWKS
            for name in ("log_vkeys", "witness_vkeys"):
                shutil.copyfile(audit[name], Path(args.publish_jwks) / audit[name].name)
    return 0


def _doctor(_args: argparse.Namespace) -> int:
    """Report the system tools `make run` / `make test` need; non-zero if one is missing."""
    from devstack.gateway import find_nginx, nginx_version
    from devstack.postgres import find_bindir

    ok = True
    nginx = find_nginx()
    if nginx:
        print(f"ok       nginx {'.'.join(map(str, nginx_version(nginx)))} at {nginx}")
    else:
        ok = False
        print("MISSING  nginx: apt-get install nginx-light (make run installs it when root)")
    try:
        print(f"ok       PostgreSQL server binaries in {find_bindir()}")
    except DevstackError as exc:
        ok = False
        print(f"MISSING  {exc}")
    return 0 if ok else 1


def _clean_data(args: argparse.Namespace) -> int:
    from devstack.stack import Stack

    stack = Stack(args.data_dir)
    stack.remove_data()
    print(f"removed {stack.data_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the whole system in the foreground")
    run.add_argument("--data-dir", default=".data", type=Path)
    run.add_argument("--port", default=8080, type=int, help="gateway port")
    # Unset: the default (55432, 8001-8003) when free, else a free port (printed at start),
    # so two stacks run side by side.
    run.add_argument("--pg-port", default=None, type=int, help="Postgres port")
    run.add_argument("--storefront-port", default=None, type=int)
    run.add_argument("--transaction-port", default=None, type=int)
    run.add_argument("--sandbox-port", default=None, type=int)
    run.add_argument(
        "--scale", default=1, type=int, help="copies of each service and background worker"
    )
    run.add_argument("--no-workers", action="store_true", help="do not start background workers")
    run.add_argument("--no-sandbox", action="store_true", help="no /sandbox/ route at the gateway")
    run.add_argument(
        "--sandbox-retry-schedule",
        default=None,
        help="comma-separated seconds between notification retries",
    )
    run.set_defaults(func=_run)

    keys = sub.add_parser("keys", help="create the JWT signing key pair and JWKS in DIR")
    keys.add_argument("dir")
    keys.add_argument("--kid", default=None, help="key id (default: the key's RFC 7638 thumbprint)")
    keys.add_argument(
        "--publish-jwks",
        default=None,
        metavar="DIR",
        help="also copy the public jwks.json (and audit vkeys) into DIR",
    )
    keys.add_argument("--audit-log-key", metavar="DIR", default=None,
                      help="create the audit log's Ed25519 signing key in DIR")
    keys.add_argument("--witness-key", metavar="DIR", default=None,
                      help="create the witness's Ed25519 cosigning key in DIR")
    keys.add_argument("--rotate", action="append", choices=("audit-log", "witness"),
                      help="replace that key, keeping its old vkey as retired")
    keys.set_defaults(func=_keys)

    doctor = sub.add_parser("doctor", help="check that nginx and Postgres are installed")
    doctor.set_defaults(func=_doctor)

    clean = sub.add_parser("clean-data", help="delete the data dir (the stack must be stopped)")
    clean.add_argument("--data-dir", default=".data", type=Path)
    clean.set_defaults(func=_clean_data)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
