"""deploy/k8s: generated, complete, and its NetworkPolicies read back by the compliance
check (tools/netpolicy.py applies the NetworkPolicy rules; no API server runs here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from devstack.stack import PACKAGES, WORKERS
from tools import compliance, k8s_manifests, netpolicy

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def _docs(*files: str) -> list[dict]:
    return [d for f in files for d in yaml.safe_load_all((K8S / f).read_text()) if d]


BASE = _docs(*(f"base/{p.name}" for p in sorted((K8S / "base").glob("*.yaml"))
               if p.name != "kustomization.yaml"))
LOCAL = _docs("overlays/local/sandbox.yaml")


def _by(kind: str, docs=BASE + LOCAL) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_committed_manifests_are_what_the_generator_writes():
    for name, text in k8s_manifests.all_files().items():
        assert (K8S / name).read_text() == text, f"{name} is stale: run make k8s-manifests"


def test_every_worker_loop_of_make_run_is_deployed_once():
    deployments = _by("Deployment")
    deployed: list[str] = []
    for name, (service, arguments) in k8s_manifests.deployed_workers().items():
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][-len(arguments):] == arguments
        assert container["command"][2] == PACKAGES[service]
        assert deployments[name]["spec"]["replicas"] >= (1 if service == "sandbox" else 2)
        loops = list(WORKERS[f"{service}-workers"][1])
        flag = dict(zip(arguments[1::2], arguments[2::2], strict=False))
        if "--only" in flag:
            loops = flag["--only"].split(",")
        loops = [loop for loop in loops if loop not in flag.get("--skip", "").split(",")]
        deployed += loops
    every_loop = [loop for _service, loops in WORKERS.values() for loop in loops]
    assert sorted(deployed) == sorted(every_loop)  # each loop runs in exactly one Deployment


def test_only_the_audit_log_deployment_mounts_its_signing_key():
    mounting = sorted(
        d["metadata"]["name"] for d in BASE + LOCAL if d["kind"] in ("Deployment", "Job")
        and any(v.get("secret", {}).get("secretName") == "audit-log-signing-key"
                for v in d["spec"]["template"]["spec"].get("volumes", [])))
    assert mounting == ["audit-log"]


def test_services_have_probes_limits_autoscalers_budgets_and_migrations():
    deployments, hpas, pdbs, jobs = _by("Deployment"), _by("HorizontalPodAutoscaler"), \
        _by("PodDisruptionBudget"), _by("Job")
    for service in ("storefront", "transaction"):
        container = deployments[service]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert hpas[service]["spec"]["minReplicas"] >= 2
        assert service in pdbs
        assert f"{service}-migrate" in jobs
    for name, deployment in deployments.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert {"requests", "limits"} <= set(container["resources"]), name
    assert "sandbox" not in _by("Deployment", BASE)  # the stand-in provider: local only


def test_only_the_storefront_mounts_the_signing_key():
    mounting = sorted(
        d["metadata"]["name"] for d in BASE + LOCAL if d["kind"] in ("Deployment", "Job")
        and any(v.get("secret", {}).get("secretName") == "jwt-signing-key"
                for v in d["spec"]["template"]["spec"].get("volumes", [])))
    assert mounting == ["storefront"]


def test_gateway_config_map_is_built_from_the_route_table():
    base = (K8S / "base" / "nginx.conf").read_text()
    local = (K8S / "overlays" / "local" / "nginx.conf").read_text()
    assert "target: k8s" in base and "/api/v1/checkout" in base
    assert "location ^~ /sandbox/" not in base and "/sandbox/" in local


# ------------------------------------------------------------------- NetworkPolicy rules

def _pol(select: dict, ingress=None, egress=None) -> dict:
    spec = {"podSelector": {"matchLabels": select},
            "policyTypes": [t for t, r in (("Ingress", ingress), ("Egress", egress))
                            if r is not None]}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"kind": "NetworkPolicy", "metadata": {"name": "p"}, "spec": spec}


WEB = netpolicy.Pod("web", {"app": "web"})
DB = netpolicy.Pod("db", {"app": "db"})


def test_unselected_pods_are_open_and_selected_ones_only_what_a_rule_allows():
    assert netpolicy.allowed([], WEB, DB, 5432)
    only_web = [_pol({"app": "db"}, ingress=[{"from": [{"podSelector": {
        "matchLabels": {"app": "web"}}}], "ports": [{"protocol": "TCP", "port": 5432}]}])]
    assert netpolicy.allowed(only_web, WEB, DB, 5432)
    assert not netpolicy.allowed(only_web, WEB, DB, 22)
    assert not netpolicy.allowed(only_web, netpolicy.OUTSIDE, DB, 5432)
    assert not netpolicy.allowed(only_web, netpolicy.Pod("x", {"app": "x"}), DB, 5432)


def test_egress_and_ip_blocks():
    deny_out = [_pol({"app": "web"}, egress=[{"to": [{"ipBlock": {
        "cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 443}]}])]
    assert netpolicy.allowed(deny_out, WEB, netpolicy.External("203.0.113.1"), 443)
    assert not netpolicy.allowed(deny_out, WEB, netpolicy.External("10.1.2.3"), 443)
    assert not netpolicy.allowed(deny_out, WEB, DB, 5432)  # egress isolated, no rule


def test_the_committed_policies_prove_the_separation():
    result = compliance.check_k8s_network_policies(ROOT)
    assert result.ok, result.violations
    assert any("showcase cannot reach transaction-db" in e for e in result.evidence)


def _open_showcase_egress(policy: dict) -> dict:
    if policy["metadata"]["name"] == "showcase-egress":
        policy["spec"]["egress"] = [{}]  # an empty rule: anywhere, any port
    return policy


@pytest.mark.parametrize("edit, finding", [
    # The showcase's egress opened to everything and the marketplace's database left
    # without a policy (nor the default deny): the showcase reaches it.
    (lambda docs: [_open_showcase_egress(d) for d in docs
                   if d["metadata"]["name"] not in ("transaction-db", "default-deny")],
     "storefront (showcase) can reach transaction-db"),
    # The marketplace's service exposed to every client.
    (lambda docs: [d for d in docs if d["metadata"]["name"] not in ("transaction",
                                                                     "default-deny")],
     "transaction is reachable from outside"),
])
def test_a_weakened_policy_is_a_violation(tmp_path, edit, finding):
    copy = tmp_path / "deploy" / "k8s"
    shutil.copytree(K8S, copy)
    policies = copy / "base" / "network-policies.yaml"
    docs = [d for d in yaml.safe_load_all(policies.read_text()) if d]
    policies.write_text(yaml.safe_dump_all(edit(docs)))
    result = compliance.check_k8s_network_policies(tmp_path)
    assert not result.ok
    assert any(finding in v for v in result.violations), result.violations


def test_deployed_database_roles_are_ordinary():
    result = compliance.check_deployed_database_roles(ROOT)
    assert result.ok, result.violations
