"""compose.yaml against the bugs a real `docker compose up` showed (issue 13); the file
itself runs for real in `make compose-test`."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP_ROLES = {"storefront-db": "storefront", "transaction-db": "transaction"}


def _seconds(value: str) -> float:
    return float(re.fullmatch(r"(\d+)s", value).group(1))


def test_each_image_is_built_once():
    builds = Counter(s["image"] for s in SERVICES.values() if "build" in s)
    assert builds and all(n == 1 for n in builds.values()), builds
    for name, service in SERVICES.items():
        if service.get("image", "").startswith("etalase-") and "build" not in service:
            assert builds[service["image"]] == 1, f"{name} runs an image nobody builds"
            assert service.get("pull_policy") == "never", f"{name} would try to pull it"


def test_app_roles_are_not_the_bootstrap_superuser():
    for db, role in APP_ROLES.items():
        env = SERVICES[db]["environment"]
        assert env["POSTGRES_USER"] == "postgres", db
        assert env["APP_DB_USER"] == role
        assert "DB_ADMIN_PASSWORD" in env["POSTGRES_PASSWORD"], "the superuser's own secret"
        mounts = SERVICES[db]["volumes"]
        assert any(m.startswith("./deploy/postgres/create-app-role.sh:/docker-entrypoint-initdb.d/")
                   for m in mounts), mounts
    script = (ROOT / "deploy/postgres/create-app-role.sh").read_text()
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in script


def test_databases_are_utf8():
    for db in APP_ROLES:
        assert "--encoding=UTF8" in SERVICES[db]["environment"]["POSTGRES_INITDB_ARGS"]


def test_only_the_storefront_mounts_the_signing_key():
    mounting = sorted(name for name, s in SERVICES.items()
                      if any(str(v).startswith("jwt-keys:") for v in s.get("volumes", []))
                      and name != "keys")  # the one-shot that creates the key pair
    assert mounting == ["storefront"]


def test_gateway_follows_recreated_upstreams_and_fails_fast():
    gateway = SERVICES["gateway"]
    for upstream in ("storefront", "transaction", "sandbox"):
        dependency = gateway["depends_on"][upstream]
        assert dependency == {"condition": "service_healthy", "restart": True}, upstream
    check = gateway["healthcheck"]
    assert "/readyz" in " ".join(check["test"])
    # Unhealthy within ~15 s of an upstream going away, not a minute.
    assert _seconds(check["interval"]) * check["retries"] <= 15
