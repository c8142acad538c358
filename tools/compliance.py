"""Compliance report: the separation of DESIGN.md §9 holds on a real stack.

Trade rules let the showcase promote goods but not process payments, so the showcase and
the marketplace must be separate systems. Each check below looks for evidence of a breach
and fails on any; a check that cannot reach what it inspects fails too (an unproven
separation is not a pass):

1. schema   - the showcase database holds no payment, card/VA, ledger, escrow, payout,
              refund or settlement tables, columns, types or functions;
2. routes   - no gateway route sends a payment, order, checkout or ledger path to the
              showcase (the route table, and the generated nginx config when given);
3. imports  - the showcase code imports no marketplace or sandbox code, nor a module named
              after payments or the ledger (followed into the repo's shared packages);
4. roles    - each service's database role is refused by the other database (and can use
              its own, so the refusal is not a typo), and holds no superuser powers;
5. audit    - the marketplace's audit log (RFC 9162 Merkle tree) verifies;
6. k8s-network  - the NetworkPolicies of deploy/k8s keep the showcase away from the
              marketplace's database and the provider, and only the gateway reachable;
7. deploy-roles - compose and deploy/k8s create the app roles without superuser powers;
8. audited  - what this report audits (route table, both schemas, database role grants and
              attributes, compose and Kubernetes network policies where present) has the
              fingerprint recorded at the last audit (compliance/audited.json: who, when,
              why); any difference is listed and fails the report until it is audited and
              recorded with `make compliance-record REASON=...`.

Every report is appended to the marketplace's transparency log (entity
`compliance_report`), so which reports ran, and what they found, cannot be quietly dropped.

    python -m tools.compliance --fresh-stack [--json PATH]    # a throwaway stack (CI)
    python -m tools.compliance --data-dir .data [--json PATH] # a running `make run`
    python -m tools.compliance --stack-from-env [--json PATH] # STOREFRONT_DATABASE_URL,
                                                              # TRANSACTION_DATABASE_URL
                                                              # [, GATEWAY_NGINX_CONF]
    python -m tools.compliance --fresh-stack --record "REASON" # audit the changes: record
                                                              # the current fingerprint
Exit status: 0 all checks passed, 1 a check failed.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `python tools/compliance.py` as well as `-m`
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402
import psycopg2.extensions  # noqa: E402

from gateway import routes as gateway_routes  # noqa: E402

CONNECT_TIMEOUT_SECONDS = 5

# ----------------------------------------------------------------------------- results


@dataclass
class CheckResult:
    name: str
    title: str
    ok: bool = True
    violations: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def violation(self, text: str) -> None:
        self.ok = False
        self.violations.append(text)


@dataclass(frozen=True)
class Target:
    """What the checks inspect: the two service databases (as their own roles), the code,
    and optionally the gateway's generated nginx config."""

    storefront_dsn: str
    transaction_dsn: str
    repo_root: Path = REPO_ROOT
    nginx_conf: Path | None = None

    @classmethod
    def from_stack(cls, stack) -> Target:
        conf = stack.run_dir / "gateway" / "nginx.conf"
        return cls(
            storefront_dsn=stack.dsn("storefront"),
            transaction_dsn=stack.dsn("transaction"),
            nginx_conf=conf if conf.exists() else None,
        )

    @classmethod
    def from_data_dir(cls, data_dir: Path, pg_port: int | None = None) -> Target:
        """A stack started by `make run` / `python -m devstack run` on this data dir."""
        from devstack.postgres import SERVICE_DATABASES

        data_dir = Path(data_dir).resolve()
        secrets_path = data_dir / "secrets.json"
        if not secrets_path.exists():
            raise SystemExit(f"no {secrets_path}: is `make run` using {data_dir}?")
        secrets = json.loads(secrets_path.read_text())
        port = pg_port or _configured_pg_port(data_dir) or 55432
        dsns = {}
        for service, (role, dbname) in SERVICE_DATABASES.items():
            dsns[service] = psycopg2.extensions.make_dsn(
                host="127.0.0.1",
                port=port,
                user=role,
                password=secrets[f"{service}_db_password"],
                dbname=dbname,
            )
        conf = data_dir / "run" / "gateway" / "nginx.conf"
        return cls(dsns["storefront"], dsns["transaction"], nginx_conf=conf if conf.exists()
                   else None)

    @classmethod
    def from_env(cls) -> Target:
        missing = [v for v in ("STOREFRONT_DATABASE_URL", "TRANSACTION_DATABASE_URL")
                   if not os.environ.get(v)]
        if missing:
            raise SystemExit(f"--stack-from-env needs {', '.join(missing)}")
        conf = os.environ.get("GATEWAY_NGINX_CONF")
        return cls(
            os.environ["STOREFRONT_DATABASE_URL"],
            os.environ["TRANSACTION_DATABASE_URL"],
            nginx_conf=Path(conf) if conf else None,
        )


def _configured_pg_port(data_dir: Path) -> int | None:
    """The port devstack wrote into the cluster's config (`make run --pg-port`)."""
    try:
        text = (data_dir / "pg" / "data" / "devstack.conf").read_text()
    except OSError:
        return None
    match = re.search(r"^port\s*=\s*(\d+)", text, re.M)
    return int(match.group(1)) if match else None


def connect(dsn: str, **overrides):
    return psycopg2.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS, **overrides)


# ----------------------------------------------------------------------------- 1. schema

# Names that betray payment or money-movement data. `price`, `unit_price` and the like are
# the showcase's own business (DESIGN.md §2) and deliberately do not match.
PAYMENT_NAME = re.compile(
    r"payment|(^|_)pay(_|$)|(^|_)paid(_|$)|card|(^|_)va(_|$)|va_number|virtual_account"
    r"|ledger|journal|escrow|payout|refund|settle|wallet|(^|_)bank|iban|account_number"
    r"|deeplink|charge|gross_amount|(^|_)transaction|(^|_)provider|acquir|cvv|(^|_)pan(_|$)"
    r"|balance|invoice|billing",
    re.I,
)

# Every user-visible object of the database, from pg_catalog rather than
# information_schema: the latter hides objects the connected role has no privilege on, and
# an object nobody may read is still data the showcase database holds.
_SCHEMA_OBJECTS_SQL = """
WITH user_ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'
), not_extension AS (
    SELECT objid FROM pg_depend WHERE deptype = 'e'
)
SELECT 'schema' AS kind, n.nspname AS name FROM user_ns n
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index' ELSE 'table' END,
       n.nspname || '.' || c.relname
FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'i')
  AND c.oid NOT IN (SELECT objid FROM not_extension)
UNION ALL
SELECT 'column', n.nspname || '.' || c.relname || '.' || a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN user_ns n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
  AND c.oid NOT IN (SELECT objid FROM not_extension)
UNION ALL
SELECT 'function', n.nspname || '.' || p.proname
FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
WHERE p.oid NOT IN (SELECT objid FROM not_extension)
UNION ALL
SELECT 'type', n.nspname || '.' || t.typname
FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
  AND t.oid NOT IN (SELECT objid FROM not_extension)
UNION ALL
SELECT 'enum label', n.nspname || '.' || t.typname || '=' || e.enumlabel
FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN user_ns n ON n.oid = t.typnamespace
"""


def check_schema(cursor) -> CheckResult:
    """No payment or ledger objects in the database `cursor` is connected to."""
    result = CheckResult("schema", "showcase schema holds no payment or ledger data")
    cursor.execute("SELECT current_database(), current_user")
    database, user = cursor.fetchone()
    cursor.execute(_SCHEMA_OBJECTS_SQL)
    objects = cursor.fetchall()
    counts: dict[str, int] = {}
    for kind, name in objects:
        counts[kind] = counts.get(kind, 0) + 1
        leaf = name.rsplit(".", 1)[-1]
        match = PAYMENT_NAME.search(leaf)
        if match:
            result.violation(f"{kind} {name} in {database} (matches {match.group(0)!r})")
    scanned = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
    result.evidence.append(f"scanned {database} as {user}: {scanned or 'nothing'}")
    if not counts.get("table"):
        # An empty database proves nothing (wrong database, migrations not run).
        result.violation(f"{database} has no tables: not the migrated showcase database")
    return result


# ----------------------------------------------------------------------------- 2. routes

# The marketplace's public paths (DESIGN.md §3) plus the sandbox: none may reach the
# showcase. Ids are placeholders; routing is by prefix.
MARKETPLACE_PROBES = (
    "/api/v1/checkout",
    "/api/v1/orders",
    "/api/v1/orders/00000000-0000-0000-0000-000000000000",
    "/api/v1/orders/00000000-0000-0000-0000-000000000000/cancel",
    "/api/v1/orders/00000000-0000-0000-0000-000000000000/ship",
    "/api/v1/orders/00000000-0000-0000-0000-000000000000/confirm-receipt",
    "/api/v1/payments/notifications/sandbox",
    "/api/v1/payments/notifications/midtrans",
    "/api/v1/sellers/me/balance",
    "/api/v1/sellers/me/ledger",
    "/api/v1/sellers/me/payouts",
    "/api/v1/creators/me/balance",
    "/api/v1/creators/me/payouts",
    "/api/v1/admin/audit/verify",
    "/api/v1/audit/checkpoint",
    "/api/v1/audit/entries/0",
    "/api/v1/orders/00000000-0000-0000-0000-000000000000/audit",
    "/sandbox/v2/00000000-0000-0000-0000-000000000000/pay",
)
# A showcase route whose path even mentions money movement is a breach in the making.
MONEY_PATH = re.compile(
    r"checkout|order|payment|(^|/)pay(/|$)|ledger|journal|escrow|payout|refund|settle"
    r"|balance|notification|sandbox|/v2/|invoice|charge",
    re.I,
)
STOREFRONT_UPSTREAM = "etalase_storefront"


def resolve(table: Iterable, path: str):
    """The route nginx picks for `path` in `table` (longest matching prefix), or None."""
    if path in gateway_routes.GATEWAY_PATHS or gateway_routes.is_blocked(path):
        return None
    candidates = [r for r in table if r.matches(path)]
    return max(candidates, key=lambda r: len(r.prefix)) if candidates else None


def check_routes(
    table: Iterable | None = None, nginx_conf_text: str | None = None, conf_label: str = ""
) -> CheckResult:
    result = CheckResult("routes", "no gateway route sends a payment/order/ledger path to the "
                                   "showcase")
    table = tuple(gateway_routes.ROUTES if table is None else table)
    for path in MARKETPLACE_PROBES:
        route = resolve(table, path)
        upstream = route.upstream if route else "(not routed)"
        if upstream == gateway_routes.STOREFRONT:
            result.violation(f"{path} is routed to the showcase (route {route.prefix})")
    for route in table:
        if route.upstream == gateway_routes.STOREFRONT and MONEY_PATH.search(route.prefix):
            result.violation(f"showcase route {route.prefix} names a money path")
        if gateway_routes.is_blocked(route.prefix.rstrip("/")):
            result.violation(f"route {route.prefix} exposes a service-to-service path")
    showcase = sorted(r.prefix for r in table if r.upstream == gateway_routes.STOREFRONT)
    result.evidence.append(
        f"route table: {len(table)} routes, showcase prefixes: {', '.join(showcase)}; "
        f"{len(MARKETPLACE_PROBES)} marketplace paths resolved away from the showcase"
    )
    if nginx_conf_text is not None:
        locations = nginx_proxy_locations(nginx_conf_text)
        to_showcase = [loc for loc, target in locations if STOREFRONT_UPSTREAM in target]
        for loc in to_showcase:
            if MONEY_PATH.search(loc):
                result.violation(f"nginx config {conf_label}: location {loc} proxies a money "
                                 "path to the showcase")
        if not locations:
            result.violation(f"nginx config {conf_label} has no proxied location: not a "
                             "gateway config")
        result.evidence.append(
            f"nginx config {conf_label}: {len(locations)} proxied locations, "
            f"{len(to_showcase)} to the showcase"
        )
    return result


def nginx_proxy_locations(text: str) -> list[tuple[str, str]]:
    """(location spec, proxy_pass target) for each location that proxies, in order.

    A small brace-depth scan is enough for the generated config (one directive per line,
    no braces inside strings that matter here)."""
    found: list[tuple[str, str]] = []
    stack: list[str | None] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        opened = re.match(r"location\s+(.+?)\s*\{$", line)
        if opened:
            stack.append(opened.group(1))
            continue
        if line.endswith("{"):
            stack.append(None)
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        proxied = re.match(r"proxy_pass\s+(\S+?);", line)
        if proxied:
            location = next((s for s in reversed(stack) if s is not None), None)
            if location is not None:
                found.append((location, proxied.group(1)))
    return found


# ----------------------------------------------------------------------------- 3. imports

FORBIDDEN_PACKAGES = ("transaction_service", "payment_sandbox")
# Module names that say "payment code", whatever package they live in (a payment client
# added to the showcase, a provider SDK).
PAYMENT_MODULE = re.compile(
    r"payment|ledger|payout|escrow|refund|settlement|midtrans|xendit|stripe|checkout",
    re.I,
)


def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, relative ones resolved,
    `from X import name` also yielding X.name (it may be a submodule), and string
    arguments of importlib.import_module / __import__."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_of(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                keep = len(base_parts) - (node.level - 1)
                base = ".".join(base_parts[:max(keep, 0)])
                name = ".".join(p for p in (base, node.module or "") if p)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names
                      if alias.name != "*"]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((node.lineno, arg.value))
    return found


def _local_packages(root: Path) -> set[str]:
    return {p.parent.name for p in root.glob("*/__init__.py")}


def check_imports(root: Path = REPO_ROOT, package: str = "storefront_service") -> CheckResult:
    """The showcase package, and every repo-local package it reaches, import no payment
    code."""
    result = CheckResult("imports", "showcase code imports no payment or ledger code")
    local = _local_packages(root)
    if package not in local:
        result.violation(f"{root / package} is not a package: nothing to scan")
        return result
    queue = [package]
    scanned_packages: list[str] = []
    reached_from: dict[str, str] = {package: package}
    files = 0
    while queue:
        current = queue.pop(0)
        scanned_packages.append(current)
        for path in sorted((root / current).rglob("*.py")):
            files += 1
            rel = path.relative_to(root)
            try:
                imports = _imports(path, root)
            except SyntaxError as exc:
                result.violation(f"{rel}: cannot parse ({exc.msg}); unscanned code")
                continue
            via = "" if current == package else f" (reached via {reached_from[current]})"
            for line, name in imports:
                top = name.split(".", 1)[0]
                if top in FORBIDDEN_PACKAGES:
                    result.violation(f"{rel}:{line} imports {name}{via}")
                elif PAYMENT_MODULE.search(name):
                    result.violation(f"{rel}:{line} imports payment-named module {name}{via}")
                if top in local and top not in reached_from:
                    reached_from[top] = f"{reached_from[current]} -> {rel}:{line}"
                    queue.append(top)
    result.evidence.append(
        f"{files} files scanned in {', '.join(scanned_packages)} (the showcase and the local "
        "packages it imports)"
    )
    return result


# ----------------------------------------------------------------------------- 4. roles

# What Postgres says when it refuses a role at the door. Anything else (refused TCP
# connection, unknown database, timeout) proves nothing about the role and fails the check.
REFUSALS = (
    re.compile(r"permission denied for database"),
    re.compile(r"password authentication failed"),
    re.compile(r"no pg_hba\.conf entry"),
    re.compile(r'role ".*" does not exist'),  # separate servers (compose): unknown role
)


def _refusal(message: str) -> str | None:
    return next((p.pattern for p in REFUSALS if p.search(message)), None)


def check_roles(storefront_dsn: str, transaction_dsn: str) -> CheckResult:
    result = CheckResult("roles", "each service's database role cannot reach the other "
                                  "database")
    services = {"storefront": storefront_dsn, "transaction": transaction_dsn}
    for service, own_dsn in services.items():
        other = "transaction" if service == "storefront" else "storefront"
        own = psycopg2.extensions.parse_dsn(own_dsn)
        foreign = psycopg2.extensions.parse_dsn(services[other])
        # This role's credentials at the other service's server and database.
        cross = {**foreign, "user": own.get("user"), "password": own.get("password", "")}
        role = own.get("user")

        # Positive control: the credentials work on the role's own database.
        try:
            conn = connect(own_dsn)
        except psycopg2.Error as exc:
            result.violation(f"{service} role {role} cannot reach its own database "
                             f"({_first_line(exc)}): the refusal below would prove nothing")
            continue
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, "
                    "rolreplication FROM pg_roles WHERE rolname = current_user"
                )
                powers = dict(zip(("superuser", "createrole", "createdb", "bypassrls",
                                   "replication"), cursor.fetchone(), strict=True))
                held = [name for name, value in powers.items() if value]
                if held:
                    result.violation(f"{service} role {role} holds {', '.join(held)}: it "
                                     "could grant itself the other database")
                cursor.execute(
                    "SELECT datname, has_database_privilege(current_user, datname, 'CONNECT') "
                    "FROM pg_database WHERE datname = %s",
                    (foreign.get("dbname"),),
                )
                row = cursor.fetchone()
                if row and row[1]:
                    result.violation(f"{service} role {role} has CONNECT on {row[0]}")
        finally:
            conn.close()

        # The real test: knock on the other database's door.
        try:
            conn = connect(psycopg2.extensions.make_dsn(**cross))
        except psycopg2.OperationalError as exc:
            message = _first_line(exc)
            refusal = _refusal(message)
            if refusal:
                result.evidence.append(
                    f"{role} -> {foreign.get('dbname')}@{foreign.get('host')}:"
                    f"{foreign.get('port')}: refused ({message})"
                )
            else:
                result.violation(
                    f"{role} -> {foreign.get('dbname')}: failed for another reason "
                    f"({message}); the separation is unproven"
                )
        else:
            conn.close()
            result.violation(f"{service} role {role} CONNECTED to {foreign.get('dbname')}")
    return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ----------------------------------------------------------------------------- 5. audit


def check_audit(cursor) -> CheckResult:
    from transaction_service.store import audit

    result = CheckResult("audit", "the marketplace's audit log (Merkle tree) verifies")
    verified = audit.verify(cursor)
    if verified.ok:
        result.evidence.append(
            f"audit log intact: {verified.tree_size} leaves recomputed, "
            f"{verified.checkpoints} signed checkpoints matched, {verified.unsequenced} "
            "entries awaiting a position")
    else:
        result.violation(f"audit chain broken at seq {verified.first_broken_seq}: "
                         f"{verified.reason}")
    return result


# ----------------------------------------------------------------------------- 6. k8s network


def check_k8s_network_policies(root: Path = REPO_ROOT) -> CheckResult:
    """The NetworkPolicies of deploy/k8s (base, and the local overlay with the sandbox)
    enforce the separation: the showcase reaches neither the marketplace's database nor
    the payment provider, only the marketplace reaches its database (and only the showcase
    its own), and from outside only the gateway answers. Positive controls make sure the
    policies are not simply denying everything."""
    import yaml

    from tools import netpolicy

    result = CheckResult("k8s-network", "Kubernetes NetworkPolicies enforce the separation")
    k8s = root / "deploy" / "k8s"

    def load(*names: str) -> list[dict]:
        docs = []
        for name in names:
            docs += [d for d in yaml.safe_load_all((k8s / name).read_text()) if d]
        return docs

    base_docs = load(*(f"base/{f.name}" for f in sorted((k8s / "base").glob("*.yaml"))
                       if f.name != "kustomization.yaml"))
    base_policies = [d for d in base_docs if d["kind"] == "NetworkPolicy"]
    local_dir = k8s / "overlays" / "local"
    local_kustomization = yaml.safe_load((local_dir / "kustomization.yaml").read_text())
    patches = load(*(f"overlays/local/{p['path']}" for p in local_kustomization["patches"]))
    added = load(*(f"overlays/local/{r}" for r in local_kustomization["resources"]
                   if r.endswith(".yaml")))
    local_policies = netpolicy.overlay(
        base_policies, [d for d in patches if d["kind"] == "NetworkPolicy"],
        [d for d in added if d["kind"] == "NetworkPolicy"])
    provider_ip = "203.0.113.10"  # an address outside the cluster (the real provider's API)

    for variant, policies, docs in (("base", base_policies, base_docs),
                                    ("local", local_policies, base_docs + added)):
        if not policies:
            result.violation(f"{variant}: no NetworkPolicy found: nothing is enforced")
            continue
        pods = {pod.name: pod for pod in netpolicy.pods_of(docs)}
        system = {name: pod.labels.get("etalase.dev/system") for name, pod in pods.items()}

        def can(src, dst, port, policies=policies):
            return netpolicy.allowed(policies, src, dst, port)

        provider = (pods.get("sandbox"), 8000) if variant == "local" else (
            netpolicy.External(provider_ip), 443)
        for name, pod in pods.items():
            for db, owner in (("transaction-db", "marketplace"), ("storefront-db", "showcase")):
                reaches = can(pod, pods[db], 5432)
                if reaches and system[name] != owner:
                    result.violation(f"{variant}: {name} ({system[name]}) can reach {db}")
            if system[name] == "showcase" and provider[0] is not None \
                    and can(pod, provider[0], provider[1]):
                result.violation(f"{variant}: {name} (showcase) can reach the payment provider")
        for name, pod in pods.items():
            if name != "gateway" and any(can(netpolicy.OUTSIDE, pod, port)
                                         for port in (8000, 8080, 5432)):
                result.violation(f"{variant}: {name} is reachable from outside the namespace")
        controls = [
            (netpolicy.OUTSIDE, pods["gateway"], 8080, "outside -> gateway:8080"),
            (pods["gateway"], pods["storefront"], 8000, "gateway -> storefront"),
            (pods["gateway"], pods["transaction"], 8000, "gateway -> transaction"),
            (pods["transaction"], pods["storefront"], 8000, "transaction -> storefront"),
            (pods["transaction-workers"], pods["storefront"], 8000,
             "transaction-workers (outbox relay) -> storefront"),
            (pods["transaction"], pods["transaction-db"], 5432, "transaction -> its database"),
            (pods["storefront"], pods["storefront-db"], 5432, "storefront -> its database"),
            (pods["transaction"], provider[0], provider[1], "transaction -> provider"),
        ]
        if variant == "local":
            controls.append((pods["sandbox-workers"], pods["gateway"], 8080,
                             "sandbox-workers (notifier) -> gateway (notifications)"))
        for src, dst, port, label in controls:
            if can(src, dst, port):
                result.evidence.append(f"{variant}: allowed {label}")
            else:
                result.violation(f"{variant}: {label} is blocked: the system cannot work")
        result.evidence.append(
            f"{variant}: {len(policies)} policies over {len(pods)} workloads; showcase "
            "cannot reach transaction-db or the provider; only gateway reachable from outside")
    return result


# ----------------------------------------------------------------------------- 7. deploy roles


def check_deployed_database_roles(root: Path = REPO_ROOT) -> CheckResult:
    """Every run mode gives the apps ordinary roles: compose and deploy/k8s bootstrap each
    Postgres as `postgres` and create the app's role with deploy/postgres/create-app-role.sh
    (NOSUPERUSER NOCREATEDB NOCREATEROLE); `make run` is checked live by `roles`."""
    import yaml

    result = CheckResult("deploy-roles", "compose and Kubernetes databases give the apps "
                                         "ordinary roles (rolsuper, rolcreaterole, "
                                         "rolcreatedb false)")
    script = (root / "deploy" / "postgres" / "create-app-role.sh").read_text()
    create = re.search(r"CREATE ROLE[^;]*;", script, re.S)
    if not create or not all(word in create.group(0) for word in
                             ("NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE")):
        result.violation("create-app-role.sh does not create the role NOSUPERUSER NOCREATEDB "
                         "NOCREATEROLE")
    compose = yaml.safe_load((root / "compose.yaml").read_text())["services"]
    k8s = [d for f in sorted((root / "deploy" / "k8s" / "base").glob("*.yaml"))
           for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == "StatefulSet"]
    k8s_env = {d["metadata"]["name"]: {e["name"]: e.get("value") for e in
                                       d["spec"]["template"]["spec"]["containers"][0]["env"]}
               for d in k8s}
    for db, role in (("storefront-db", "storefront"), ("transaction-db", "transaction")):
        for mode, env in (("compose", compose.get(db, {}).get("environment", {})),
                          ("k8s", k8s_env.get(db, {}))):
            if env.get("POSTGRES_USER") != "postgres":
                result.violation(f"{mode} {db}: bootstrap user {env.get('POSTGRES_USER')!r} "
                                 "(the app's role would be the cluster's superuser)")
            elif env.get("APP_DB_USER") != role:
                result.violation(f"{mode} {db}: the app role {role} is not created")
            else:
                result.evidence.append(f"{mode} {db}: bootstrap postgres, app role {role} "
                                       "created ordinary")
    return result


# ----------------------------------------------------------------------------- 8. audited

AUDITED_FILE = Path("compliance") / "audited.json"
K8S_DIR = Path("deploy") / "k8s"
MAX_LISTED_DIFFERENCES = 40

# Everything that shapes what a database holds and who may touch it: tables and columns
# with their types, indexes, constraints, triggers (the append-only guards among them),
# functions (by a hash of their source), sequences and views. Extension objects excluded.
_FINGERPRINT_SCHEMA_SQL = """
WITH user_ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'
), ext AS (
    SELECT objid FROM pg_depend WHERE deptype = 'e'
)
SELECT 'relation ' || n.nspname || '.' || c.relname || ' (' || c.relkind::text || ')'
FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' '
       || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null'
       ELSE '' END || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN user_ns n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
  AND c.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'index ' || n.nspname || '.' || c.relname || ': ' || pg_get_indexdef(c.oid)
FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
WHERE c.relkind = 'i' AND c.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'constraint ' || n.nspname || '.' || c.relname || '.' || k.conname || ': '
       || pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
JOIN user_ns n ON n.oid = c.relnamespace
UNION ALL
SELECT 'trigger ' || n.nspname || '.' || c.relname || '.' || t.tgname || ': '
       || pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'D' THEN ' (DISABLED)' ELSE '' END
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN user_ns n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal
UNION ALL
SELECT 'function ' || n.nspname || '.' || p.proname || '('
       || pg_get_function_identity_arguments(p.oid) || ') source sha256:'
       || encode(sha256(convert_to(coalesce(p.prosrc, ''), 'UTF8')), 'hex')
FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
WHERE p.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'type ' || n.nspname || '.' || t.typname
FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0 AND t.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension
"""

# The connected role: its attributes, memberships, what it may do to every database of
# the server, and the access lists of the objects it can see (grants to other roles).
_FINGERPRINT_ROLE_SQL = """
SELECT 'role ' || r.rolname || ': ' || concat_ws(',',
       CASE WHEN r.rolsuper THEN 'superuser' END, CASE WHEN r.rolcreaterole THEN 'createrole' END,
       CASE WHEN r.rolcreatedb THEN 'createdb' END, CASE WHEN r.rolbypassrls THEN 'bypassrls' END,
       CASE WHEN r.rolreplication THEN 'replication' END,
       CASE WHEN r.rolcanlogin THEN 'login' END, CASE WHEN r.rolinherit THEN 'inherit' END)
FROM pg_roles r WHERE r.rolname = current_user
UNION ALL
SELECT 'role ' || current_user || ' member of ' || g.rolname
FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
WHERE u.rolname = current_user
UNION ALL
SELECT 'role ' || current_user || ' on database ' || d.datname || ': ' || concat_ws(',',
       CASE WHEN has_database_privilege(current_user, d.datname, 'CONNECT') THEN 'connect' END,
       CASE WHEN has_database_privilege(current_user, d.datname, 'CREATE') THEN 'create' END,
       CASE WHEN has_database_privilege(current_user, d.datname, 'TEMP') THEN 'temp' END)
FROM pg_database d
-- the service databases and the maintenance one (not scratch databases tests may create)
WHERE d.datname IN ('postgres', 'etalase_storefront', 'etalase_transaction')
UNION ALL
SELECT 'database ' || current_database() || ' owner ' || pg_get_userbyid(d.datdba)
       || ' acl ' || coalesce(d.datacl::text, 'default')
FROM pg_database d WHERE d.datname = current_database()
UNION ALL
SELECT 'schema ' || n.nspname || ' owner ' || pg_get_userbyid(n.nspowner) || ' acl '
       || coalesce(n.nspacl::text, 'default')
FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
UNION ALL
SELECT 'acl ' || n.nspname || '.' || c.relname || ' owner ' || pg_get_userbyid(c.relowner)
       || ' ' || coalesce(c.relacl::text, 'default')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
"""


def _query_items(sql_text: str) -> Callable:
    def run(cursor) -> list[str]:
        cursor.execute(sql_text)
        return [row[0] for row in cursor.fetchall()]

    return run


def flatten(value, path: str = "") -> list[str]:
    """`a.b[0].c=value` lines for a parsed YAML/JSON document: diffs name what changed."""
    if isinstance(value, dict):
        items = []
        for key in sorted(value, key=str):
            items += flatten(value[key], f"{path}.{key}" if path else str(key))
        return items or [f"{path}={{}}"]
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            items += flatten(item, f"{path}[{index}]")
        return items or [f"{path}=[]"]
    return [f"{path}={json.dumps(value, ensure_ascii=False)}"]


def _file_items(path: Path, root: Path) -> list[str]:
    """A deployment file as flattened YAML (every document), or its hash if it is not
    YAML."""
    import yaml

    rel = path.relative_to(root).as_posix()
    data = path.read_bytes()
    if path.suffix in (".yaml", ".yml"):
        try:
            documents = list(yaml.safe_load_all(data.decode("utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            return [f"{rel}: unparseable YAML ({type(exc).__name__})"]
        items = []
        for n, document in enumerate(documents):
            if document is not None:
                items += [f"{rel}#{n} {line}" for line in flatten(document)]
        return items
    return [f"{rel} sha256:{hashlib.sha256(data).hexdigest()}"]


def route_items(table: Iterable | None = None) -> list[str]:
    table = tuple(gateway_routes.ROUTES if table is None else table)
    items = []
    for r in table:
        flags = [name for name in ("auth_rate_limited", "strip_prefix", "sandbox_only",
                                   "shared_cache") if getattr(r, name)]
        items.append(f"{r.prefix} -> {r.upstream} [{','.join(r.methods)}]"
                     + (f" ({','.join(flags)})" if flags else ""))
    items += [f"blocked {p}" for p in gateway_routes.BLOCKED_PREFIXES]
    return items


def deployment_items(root: Path) -> dict[str, list[str]]:
    sections = {}
    compose = root / "compose.yaml"
    if compose.exists():
        sections["compose"] = _file_items(compose, root)
    k8s = root / K8S_DIR
    if k8s.is_dir():
        items = []
        for path in sorted(p for p in k8s.rglob("*") if p.is_file()):
            items += _file_items(path, root)
        sections["k8s"] = items
    return sections


def fingerprint(target: Target) -> dict[str, list[str]]:
    """What the report audits, section by section, as sorted lines."""
    sections = {
        "routes": route_items(),
        "schema.storefront": _on(target.storefront_dsn, _query_items(_FINGERPRINT_SCHEMA_SQL)),
        "schema.transaction": _on(target.transaction_dsn,
                                  _query_items(_FINGERPRINT_SCHEMA_SQL)),
        "roles.storefront": _on(target.storefront_dsn, _query_items(_FINGERPRINT_ROLE_SQL)),
        "roles.transaction": _on(target.transaction_dsn, _query_items(_FINGERPRINT_ROLE_SQL)),
        **deployment_items(target.repo_root),
    }
    return {name: sorted(set(items)) for name, items in sections.items()}


def _digest(items: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest()


def fingerprint_document(sections: dict[str, list[str]]) -> dict:
    digests = {name: _digest(items) for name, items in sorted(sections.items())}
    return {
        "sha256": _digest(f"{name} {value}" for name, value in digests.items()),
        "sections": {name: {"sha256": digests[name], "items": sections[name]}
                     for name in sorted(sections)},
    }


def load_audited(root: Path) -> dict | None:
    path = root / AUDITED_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def differences(current: dict[str, list[str]], recorded: dict | None) -> list[str]:
    """Human-readable differences between the current sections and the recorded ones."""
    if recorded is None:
        return ["no audited fingerprint is recorded"]
    old_sections = (recorded.get("fingerprint") or {}).get("sections") or {}
    found = []
    for name in sorted(set(current) | set(old_sections)):
        if name not in old_sections:
            found.append(f"{name}: new section ({len(current[name])} items), never audited")
            continue
        if name not in current:
            found.append(f"{name}: audited before, now absent")
            continue
        old, new = set(old_sections[name].get("items") or []), set(current[name])
        found += [f"{name}: + {item}" for item in sorted(new - old)]
        found += [f"{name}: - {item}" for item in sorted(old - new)]
    return found


def check_audited(target: Target, current: dict[str, list[str]] | None = None) -> CheckResult:
    result = CheckResult("audited", "what this report audits has not changed since the "
                                    "last recorded audit")
    current = fingerprint(target) if current is None else current
    recorded = load_audited(target.repo_root)
    document = fingerprint_document(current)
    found = differences(current, recorded)
    for text in found[:MAX_LISTED_DIFFERENCES]:
        result.violation(text)
    if len(found) > MAX_LISTED_DIFFERENCES:
        result.violation(f"... and {len(found) - MAX_LISTED_DIFFERENCES} more differences")
    if found:
        result.violation("audit the change, then record it: make compliance-record "
                         "REASON='what changed and why it is fine'")
    if recorded is not None:
        result.evidence.append(
            f"last audit: {recorded.get('audited_at')} by {recorded.get('audited_by')}: "
            f"{recorded.get('reason')} (fingerprint {recorded['fingerprint']['sha256'][:16]})")
    result.evidence.append(
        f"current fingerprint {document['sha256'][:16]}: "
        + ", ".join(f"{name} {len(items)}" for name, items in sorted(current.items())))
    return result


def _auditor() -> str:
    """Who audits: AUDITED_BY (`make compliance-record` sets it from git), else the user."""
    return os.environ.get("AUDITED_BY") or os.environ.get("USER") or "unknown"


def record_audit(target: Target, reason: str) -> dict:
    """Write compliance/audited.json: the current fingerprint, who, when and why (earlier
    audits kept, newest first, as the history)."""
    if not reason or not reason.strip():
        raise SystemExit("recording an audit needs a reason: make compliance-record "
                         "REASON='...'")
    previous = load_audited(target.repo_root)
    history = []
    if previous is not None:
        history = [{k: previous.get(k) for k in ("audited_by", "audited_at", "reason")}
                   | {"sha256": previous["fingerprint"]["sha256"]}] + previous.get("history", [])
    document = {
        "audited_by": _auditor(),
        "audited_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reason": reason.strip(),
        "fingerprint": fingerprint_document(fingerprint(target)),
        "history": history,
    }
    path = target.repo_root / AUDITED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return document


def append_report_to_log(transaction_dsn: str, document: dict) -> None:
    """The report's outcome as an entry of the marketplace's transparency log."""
    from transaction_service.store import audit

    audited = next((c for c in document["checks"] if c["name"] == "audited"), None)
    conn = connect(transaction_dsn)
    try:
        with conn.cursor() as cursor:
            audit.append(cursor, entity="compliance_report",
                         entity_id=document["generated_at"], action="compliance.report",
                         actor=_auditor(), data={
                             "ok": document["ok"],
                             "checks": {c["name"]: c["ok"] for c in document["checks"]},
                             "fingerprint": document.get("fingerprint"),
                             "differences": len(audited["violations"]) if audited else None,
                         })
        conn.commit()
    finally:
        conn.close()


# ----------------------------------------------------------------------------- running


def _guarded(name: str, title: str, run: Callable[[], CheckResult]) -> CheckResult:
    """A check that crashes is a failed check, with the error as its finding."""
    try:
        return run()
    except Exception as exc:  # noqa: BLE001 - any failure to inspect is a failed check
        result = CheckResult(name, title)
        result.violation(f"could not run: {type(exc).__name__}: {_first_line(exc)}")
        return result


def _on(dsn: str, check: Callable) -> CheckResult:
    conn = connect(dsn)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cursor:
            return check(cursor)
    finally:
        conn.rollback()
        conn.close()


def run_checks(target: Target) -> list[CheckResult]:
    conf_text = None
    if target.nginx_conf is not None:
        conf_text = target.nginx_conf.read_text()
    return [
        _guarded("schema", "showcase schema", lambda: _on(target.storefront_dsn, check_schema)),
        _guarded("routes", "gateway routes", lambda: check_routes(
            nginx_conf_text=conf_text, conf_label=str(target.nginx_conf or ""))),
        _guarded("imports", "showcase imports", lambda: check_imports(target.repo_root)),
        _guarded("roles", "database roles", lambda: check_roles(target.storefront_dsn,
                                                                 target.transaction_dsn)),
        _guarded("audit", "audit chain", lambda: _on(target.transaction_dsn, check_audit)),
        _guarded("k8s-network", "Kubernetes network policies",
                 lambda: check_k8s_network_policies(target.repo_root)),
        _guarded("deploy-roles", "deployed database roles",
                 lambda: check_deployed_database_roles(target.repo_root)),
        _guarded("audited", "audited fingerprint", lambda: check_audited(target)),
    ]


def report(results: list[CheckResult]) -> dict:
    return {
        "report": "etalase-compliance",
        "design": "DESIGN.md §9: showcase and marketplace are separate systems",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ok": all(r.ok for r in results),
        "checks": [asdict(r) for r in results],
    }


def render_text(results: list[CheckResult]) -> str:
    lines = ["Etalase compliance report (DESIGN.md §9)", ""]
    for r in results:
        lines.append(f"{'PASS' if r.ok else 'FAIL'}  {r.name:<8} {r.title}")
        lines += [f"        - {e}" for e in r.evidence]
        lines += [f"        ! {v}" for v in r.violations]
    passed = sum(r.ok for r in results)
    lines += ["", f"RESULT: {'PASS' if passed == len(results) else 'FAIL'} "
                  f"({passed}/{len(results)} checks passed)"]
    return "\n".join(lines)


def record_history(gateway: str) -> None:
    """Place and cancel an order through the gateway, so a fresh stack's audit check
    walks a real chain (placed, cancelled) rather than an empty one."""
    import requests

    from tools import shopper

    seller = shopper.login(gateway, shopper.DEMO_SELLER)
    product = shopper.create_product(gateway, seller, stock=1, title="Compliance batik")
    buyer = shopper.new_buyer(gateway, "compliance")
    with requests.Session() as session:
        placed = shopper.checkout(session, gateway, buyer, product["id"])
        if placed.status_code != 201:
            raise RuntimeError(f"checkout: {placed.status_code} {placed.text[:300]}")
        order_id = placed.json()["order"]["id"]
        cancelled = session.post(f"{gateway}/api/v1/orders/{order_id}/cancel", timeout=30,
                                 headers={"Authorization": f"Bearer {buyer}",
                                          "Idempotency-Key": str(uuid.uuid4())})
        if cancelled.status_code != 200:
            raise RuntimeError(f"cancel: {cancelled.status_code} {cancelled.text[:300]}")


def _checkpoint(stack) -> None:
    """Sequence, sign and witness the fresh stack's log (it runs no workers), so the audit
    check walks a tree with a cosigned checkpoint."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "transaction_service", "audit-checkpoint"],
                          env=stack.env("audit-log"), capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"audit-checkpoint: {done.stdout[-300:]} {done.stderr[-300:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compliance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fresh-stack", action="store_true",
                        help="start a throwaway stack on free ports, check it, remove it")
    source.add_argument("--data-dir", type=Path, help="a running `make run` data dir (.data)")
    source.add_argument("--stack-from-env", action="store_true",
                        help="STOREFRONT_DATABASE_URL, TRANSACTION_DATABASE_URL "
                             "[, GATEWAY_NGINX_CONF]")
    parser.add_argument("--pg-port", type=int, help="with --data-dir: Postgres port "
                        "(default: the one devstack configured)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--record", metavar="REASON",
                        help="audit what changed: record the current fingerprint in "
                             f"{AUDITED_FILE} with who, when and this reason")
    parser.add_argument("--no-log", action="store_true",
                        help="do not append the report to the marketplace's audit log")
    args = parser.parse_args(argv)

    if args.fresh_stack:
        from tools.stacks import throwaway_stack

        with throwaway_stack("etalase-compliance-", fast_unsafe_db=True,
                             with_workers=False) as stack:
            record_history(stack.urls.gateway)
            _checkpoint(stack)
            return _report(Target.from_stack(stack), args)
    if args.data_dir:
        return _report(Target.from_data_dir(args.data_dir, args.pg_port), args)
    return _report(Target.from_env(), args)


def _report(target: Target, args) -> int:
    if args.record is not None:
        recorded = record_audit(target, args.record)
        print(f"recorded the audit of {recorded['fingerprint']['sha256'][:16]} in "
              f"{AUDITED_FILE} ({recorded['audited_by']}, {recorded['audited_at']}): "
              f"{recorded['reason']}")
    results = run_checks(target)
    document = report(results)
    try:
        document["fingerprint"] = fingerprint_document(fingerprint(target))["sha256"]
    except Exception:  # noqa: BLE001 - the audited check already reports why
        document["fingerprint"] = None
    if not args.no_log:
        try:
            append_report_to_log(target.transaction_dsn, document)
            document["appended_to_audit_log"] = True
        except Exception as exc:  # noqa: BLE001 - a report that cannot be logged fails
            results.append(CheckResult("logged", "the report is in the transparency log",
                                       ok=False, violations=[
                                           f"could not append: {_first_line(exc)}"]))
            document = {**report(results), "fingerprint": document["fingerprint"]}
    print(render_text(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        print(f"JSON report: {args.json}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
