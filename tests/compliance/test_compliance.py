"""The compliance report (tools/compliance.py, DESIGN.md §9) against the real session stack,
and proof that every check can fail: each is run once more against a doctored input (a
payment column in a scratch schema, a route table sending orders to the showcase, a
showcase module importing the marketplace, a role granted the other database, a tampered
audit row). Doctored database state lives in a transaction that is rolled back, or is
undone in `finally`, so the shared stack is left as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest

from gateway import routes as gateway_routes
from gateway.routes import STOREFRONT, TRANSACTION, Route
from tools import compliance
from tools.compliance import Target

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def target(stack) -> Target:
    return Target.from_stack(stack)


class rolled_back:  # noqa: N801 - used as a context manager, reads like a statement
    def __init__(self, dsn: str):
        self.dsn = dsn

    def __enter__(self):
        self.conn = psycopg2.connect(self.dsn)
        return self.conn.cursor()

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()


def assert_fails(result, *needles: str) -> None:
    assert not result.ok, result
    text = "\n".join(result.violations)
    for needle in needles:
        assert needle in text, text


# --------------------------------------------------------------------- the real stack


def test_every_check_passes_on_the_real_stack(target):
    results = compliance.run_checks(target)
    assert [r.name for r in results] == ["schema", "routes", "imports", "roles", "audit",
                                         "k8s-network", "deploy-roles", "audited"]
    failed = [r for r in results if not r.ok]
    assert not failed, compliance.render_text(results)
    # Each check really looked at something.
    assert all(r.evidence for r in results)
    assert target.nginx_conf is not None


def test_cli_reports_a_running_data_dir_as_text_and_json(stack, tmp_path):
    out = tmp_path / "compliance.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools.compliance", "--data-dir", str(stack.data_dir),
         "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: PASS (8/8 checks passed)" in result.stdout
    document = json.loads(out.read_text())
    assert document["ok"] is True
    assert {c["name"]: c["ok"] for c in document["checks"]} == {
        "schema": True, "routes": True, "imports": True, "roles": True, "audit": True,
        "k8s-network": True, "deploy-roles": True, "audited": True}
    # The report itself went into the transparency log.
    assert document["appended_to_audit_log"] is True
    with psycopg2.connect(stack.dsn("transaction")) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT data FROM audit_log WHERE entity = 'compliance_report'"
                       " AND entity_id = %s", (document["generated_at"],))
        (logged,) = cursor.fetchone()
    conn.close()
    assert logged["ok"] is True and logged["fingerprint"] == document["fingerprint"]
    assert logged["checks"]["audited"] is True


def test_cli_exits_non_zero_when_a_check_fails(stack, tmp_path):
    # Point the "showcase" at the marketplace database: its payment tables must be caught.
    env = dict(os.environ, STOREFRONT_DATABASE_URL=stack.dsn("transaction"),
               TRANSACTION_DATABASE_URL=stack.dsn("transaction"))
    out = tmp_path / "compliance.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools.compliance", "--stack-from-env", "--json", str(out)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  schema" in result.stdout
    assert json.loads(out.read_text())["ok"] is False


# --------------------------------------------------------------------- 1. schema


def test_schema_check_catches_a_va_number_column(stack):
    with rolled_back(stack.dsn("storefront")) as cursor:
        cursor.execute("CREATE SCHEMA compliance_probe")
        cursor.execute("CREATE TABLE compliance_probe.checkout_info (id int, va_number text)")
        result = compliance.check_schema(cursor)
    assert_fails(result, "compliance_probe.checkout_info.va_number")


@pytest.mark.parametrize("ddl, needle", [
    ("CREATE TABLE ledger_lines (id int)", "ledger_lines"),
    ("ALTER TABLE products ADD COLUMN payment_status text", "products.payment_status"),
    ("CREATE TYPE escrow_state AS ENUM ('held')", "escrow_state"),
    ("CREATE FUNCTION record_refund() RETURNS int LANGUAGE sql AS 'SELECT 1'",
     "record_refund"),
])
def test_schema_check_catches_payment_objects_of_every_kind(stack, ddl, needle):
    with rolled_back(stack.dsn("storefront")) as cursor:
        cursor.execute(ddl)
        result = compliance.check_schema(cursor)
    assert_fails(result, needle)


def test_schema_check_flags_the_marketplace_database(stack):
    # The same patterns on the database that *does* hold payments: they must bite.
    with rolled_back(stack.dsn("transaction")) as cursor:
        result = compliance.check_schema(cursor)
    assert_fails(result, "payments", "journal_lines", "va_number")


def test_schema_check_fails_on_an_empty_database(stack):
    with rolled_back(stack.dsn("superuser", "postgres")) as cursor:
        result = compliance.check_schema(cursor)
    assert_fails(result, "no tables")


# --------------------------------------------------------------------- 2. routes


def _table_with(*changes: tuple[str, Route | None]) -> tuple[Route, ...]:
    """ROUTES with the route of each prefix replaced (or added when new)."""
    table = {r.prefix: r for r in gateway_routes.ROUTES}
    for prefix, route in changes:
        table[prefix] = route
    return tuple(table.values())


def _orders_to_showcase():
    orders = next(r for r in gateway_routes.ROUTES if r.prefix == "/api/v1/orders")
    return _table_with(("/api/v1/orders", replace(orders, upstream=STOREFRONT)))


def test_route_check_catches_orders_sent_to_the_showcase():
    assert_fails(compliance.check_routes(_orders_to_showcase()),
                 "/api/v1/orders is routed to the showcase", "/api/v1/orders/")


def test_route_check_catches_a_payment_prefix_on_the_showcase():
    table = _table_with(("/api/v1/payments/", Route("/api/v1/payments/", STOREFRONT, ("GET",),
                                                    "doctored")))
    assert_fails(compliance.check_routes(table), "showcase route /api/v1/payments/")


def test_route_check_catches_a_catch_all_showcase_route():
    # A bare /api/v1/ prefix to the showcase, with the seller money route removed: the
    # balance, ledger and payout paths would fall through to it.
    table = tuple(r for r in _table_with(("/api/v1/", Route("/api/v1/", STOREFRONT, ("GET",),
                                                              "doctored")))
                  if r.prefix != "/api/v1/sellers/me/")
    assert_fails(compliance.check_routes(table), "/api/v1/sellers/me/ledger",
                 "/api/v1/sellers/me/payouts")


def test_route_check_catches_internal_routes():
    table = _table_with(("/internal/reservations",
                         Route("/internal/reservations", TRANSACTION, ("POST",), "doctored")))
    assert_fails(compliance.check_routes(table), "service-to-service")


def test_route_check_reads_the_running_gateway_config(target):
    text = target.nginx_conf.read_text()
    assert compliance.check_routes(nginx_conf_text=text).ok
    doctored = text.replace("proxy_pass http://etalase_transaction;",
                            "proxy_pass http://etalase_storefront;")
    assert_fails(compliance.check_routes(nginx_conf_text=doctored, conf_label="doctored"),
                 "location = /api/v1/checkout", "location ^~ /api/v1/orders/")


def test_route_check_rejects_a_config_that_is_not_a_gateway():
    assert_fails(compliance.check_routes(nginx_conf_text="events {}\n"), "no proxied location")


# --------------------------------------------------------------------- 3. imports


def _fake_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"storefront_service/__init__.py": "", **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_import_check_passes_on_clean_code(tmp_path):
    root = _fake_repo(tmp_path, {
        "storefront_service/api.py": "import json\nfrom .store import products\n",
        "storefront_service/store/__init__.py": "",
        "storefront_service/store/products.py": "from servicekit import db\n",
        "servicekit/__init__.py": "",
        "servicekit/db.py": "import psycopg2\n",
    })
    result = compliance.check_imports(root)
    assert result.ok, result.violations
    assert "servicekit" in result.evidence[0]


@pytest.mark.parametrize("files, needle", [
    ({"storefront_service/evil.py": "import transaction_service.store.ledger\n"},
     "evil.py:1 imports transaction_service.store.ledger"),
    ({"storefront_service/evil.py": "\nfrom payment_sandbox import provider\n"},
     "evil.py:2 imports payment_sandbox"),
    ({"storefront_service/api/__init__.py": "",
      "storefront_service/api/evil.py": "from ..clients import payments\n"},
     "imports payment-named module storefront_service.clients.payments"),
    ({"storefront_service/evil.py":
      "import importlib\nmod = importlib.import_module('transaction_service')\n"},
     "evil.py:2 imports transaction_service"),
    ({"storefront_service/evil.py": "import helperkit\n",
      "helperkit/__init__.py": "from transaction_service.store import audit\n"},
     "helperkit/__init__.py:1 imports transaction_service.store (reached via "),
])
def test_import_check_catches_payment_imports(tmp_path, files, needle):
    assert_fails(compliance.check_imports(_fake_repo(tmp_path, files)), needle)


def test_import_check_catches_a_module_in_the_real_tree(tmp_path):
    # The real showcase code plus one offending module, scanned from a copy.
    import shutil

    for package in ("storefront_service", "servicekit"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "storefront_service" / "store" / "settle.py").write_text(
        "from transaction_service.store import ledger  # breach\n")
    assert_fails(compliance.check_imports(tmp_path), "store/settle.py:1 imports "
                 "transaction_service.store")


# --------------------------------------------------------------------- 4. roles


def test_role_check_catches_a_granted_connect(stack):
    admin = psycopg2.connect(stack.dsn("superuser", "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("GRANT CONNECT ON DATABASE etalase_transaction TO storefront")
        result = compliance.check_roles(stack.dsn("storefront"), stack.dsn("transaction"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute("REVOKE CONNECT ON DATABASE etalase_transaction FROM storefront")
        admin.close()
    assert_fails(result, "storefront role storefront has CONNECT on etalase_transaction",
                 "CONNECTED to etalase_transaction")
    assert compliance.check_roles(stack.dsn("storefront"), stack.dsn("transaction")).ok


def test_role_check_treats_an_unreachable_database_as_unproven(stack):
    wrong_db = psycopg2.extensions.parse_dsn(stack.dsn("transaction"))
    wrong_db["dbname"] = "no_such_database"
    result = compliance.check_roles(stack.dsn("storefront"),
                                    psycopg2.extensions.make_dsn(**wrong_db))
    assert_fails(result, "transaction role transaction cannot reach its own database")
    assert any("unproven" in v for v in result.violations), result.violations


def test_role_check_catches_a_superuser_role(stack):
    admin = psycopg2.connect(stack.dsn("superuser", "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("ALTER ROLE storefront CREATEROLE")
        result = compliance.check_roles(stack.dsn("storefront"), stack.dsn("transaction"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute("ALTER ROLE storefront NOCREATEROLE")
        admin.close()
    assert_fails(result, "storefront role storefront holds createrole")


# --------------------------------------------------------------------- 5. audit


def test_audit_check_catches_a_tampered_row(stack):
    from transaction_service.store import audit

    with rolled_back(stack.dsn("transaction")) as cursor:
        for n in range(3):
            audit.append(cursor, entity="compliance-probe", entity_id=str(n), action="probe",
                         actor="test", data={"n": n})
        while audit.sequence(cursor):  # give them positions (the worker may race us: fine)
            pass
        assert compliance.check_audit(cursor).ok
        # The log is append-only by trigger; its owner may switch that off, and this
        # transaction is rolled back, so nothing survives the test.
        cursor.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        cursor.execute("SELECT max(seq) - 1 FROM audit_log")
        (seq,) = cursor.fetchone()
        cursor.execute("UPDATE audit_log SET data = '{\"n\": 99}' WHERE seq = %s", (seq,))
        result = compliance.check_audit(cursor)
    assert_fails(result, f"audit chain broken at seq {seq}")


# --------------------------------------------------------------------- 6. audited


def _copy_repo_files(root: Path) -> None:
    """The files the deployment fingerprint reads, and the recorded audit."""
    (root / "compliance").mkdir(parents=True)
    for name in ("compose.yaml", "compliance/audited.json"):
        (root / name).write_bytes((REPO_ROOT / name).read_bytes())
    if (REPO_ROOT / compliance.K8S_DIR).is_dir():
        shutil.copytree(REPO_ROOT / compliance.K8S_DIR, root / compliance.K8S_DIR)


def test_the_recorded_audit_matches_the_real_stack(target):
    result = compliance.check_audited(target)
    assert result.ok, compliance.render_text([result])
    recorded = compliance.load_audited(REPO_ROOT)
    assert recorded["audited_by"] and recorded["audited_at"] and recorded["reason"]
    assert set(recorded["fingerprint"]["sections"]) >= {
        "routes", "schema.storefront", "schema.transaction", "roles.storefront",
        "roles.transaction", "compose"}


def test_every_kind_of_change_is_listed_until_recorded(target, tmp_path, monkeypatch):
    _copy_repo_files(tmp_path)
    here = replace(target, repo_root=tmp_path)
    assert compliance.check_audited(here).ok
    current = compliance.fingerprint(here)

    # a route, a column, a grant, a new service, a new Kubernetes policy
    changed = {name: list(items) for name, items in current.items()}
    changed["routes"].append("/api/v1/loyalty -> storefront [GET]")
    changed["schema.storefront"].append("column public.products.cashback integer")
    changed["roles.transaction"].append(
        "role transaction on database etalase_storefront: connect")
    compose = (tmp_path / "compose.yaml").read_text()
    (tmp_path / "compose.yaml").write_text(compose.replace(
        "services:\n", "services:\n  loyalty:\n    image: loyalty:latest\n", 1))
    k8s = tmp_path / "deploy" / "k8s"
    k8s.mkdir(parents=True, exist_ok=True)
    (k8s / "netpol-extra.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
        "  name: showcase-egress\nspec:\n  podSelector: {}\n")
    changed.update(compliance.deployment_items(tmp_path))
    result = compliance.check_audited(here, current=changed)
    assert_fails(result,
                 "routes: + /api/v1/loyalty -> storefront [GET]",
                 "schema.storefront: + column public.products.cashback integer",
                 "roles.transaction: + role transaction on database etalase_storefront",
                 'compose: + compose.yaml#0 services.loyalty.image="loyalty:latest"',
                 'k8s: + deploy/k8s/netpol-extra.yaml#0 metadata.name="showcase-egress"',
                 "make compliance-record")

    # Recording the audit (who, when, why) makes the report pass again; the old record
    # is kept as history.
    monkeypatch.setattr(compliance, "fingerprint", lambda _target: changed)
    monkeypatch.setenv("AUDITED_BY", "auditor@etalase.test")
    with pytest.raises(SystemExit):
        compliance.record_audit(here, "  ")
    recorded = compliance.record_audit(here, "loyalty service reviewed: no payment data")
    assert recorded["audited_by"] == "auditor@etalase.test"
    assert recorded["reason"] == "loyalty service reviewed: no payment data"
    assert recorded["history"][0]["sha256"] == compliance.load_audited(REPO_ROOT)[
        "fingerprint"]["sha256"]
    assert compliance.check_audited(here, current=changed).ok
    # A removed item is a difference too.
    smaller = dict(changed, routes=changed["routes"][1:])
    assert_fails(compliance.check_audited(here, current=smaller), "routes: - ")


def test_no_recorded_audit_fails(target, tmp_path):
    (tmp_path / "compose.yaml").write_bytes((REPO_ROOT / "compose.yaml").read_bytes())
    assert_fails(compliance.check_audited(replace(target, repo_root=tmp_path)),
                 "no audited fingerprint is recorded")


def test_a_real_schema_change_shows_in_the_fingerprint(stack, target):
    """The fingerprint reads the live catalog: a column added (and rolled back) shows."""
    with rolled_back(stack.dsn("storefront")) as cursor:
        cursor.execute("ALTER TABLE products ADD COLUMN audit_probe integer")
        items = compliance._query_items(compliance._FINGERPRINT_SCHEMA_SQL)(cursor)
    assert "column public.products.audit_probe integer" in items
    assert "column public.products.audit_probe integer" not in compliance.fingerprint(
        target)["schema.storefront"]
