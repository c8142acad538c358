"""Who may connect to whom under a set of Kubernetes NetworkPolicies (one namespace).

No API server runs here, so the separation the policies promise is proven by reading them:
`allowed(policies, source, destination, port)` applies the NetworkPolicy rules (a pod is
isolated for a direction once any policy of that type selects it; then only a matching
rule lets a connection through; a connection needs both the source's egress and the
destination's ingress). Pure: used by tools/compliance.py and its unit tests.

Endpoints are `Pod(labels)` (a pod of the namespace), `OUTSIDE` (a client outside the
namespace: another namespace, a node, the internet) or `External(ip)` (an address outside
the cluster, e.g. the payment provider's API).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pod:
    name: str
    labels: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class External:
    ip: str


OUTSIDE = "outside"


def _selects(selector: dict, labels: dict) -> bool:
    """matchLabels / matchExpressions (In, NotIn, Exists, DoesNotExist) against labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_matches(peer: dict, endpoint) -> bool:
    if "ipBlock" in peer:
        if not isinstance(endpoint, External):
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(endpoint.ip)
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except", []))
    if "namespaceSelector" in peer:
        # Pods of other namespaces (kube-dns); never one of ours, never the outside
        # client we model (it has no labels a selector of ours names).
        if isinstance(endpoint, Pod) and not peer["namespaceSelector"]:
            return _selects(peer.get("podSelector") or {}, endpoint.labels)
        return False
    if "podSelector" in peer:
        return isinstance(endpoint, Pod) and _selects(peer["podSelector"], endpoint.labels)
    return False


def _port_matches(rule: dict, port: int) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == "TCP" and p.get("port") in (None, port)
               for p in ports)


def _types(policy: dict) -> list[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return spec["policyTypes"]
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _direction_allows(policies: list[dict], pod: Pod, kind: str, peer_endpoint,
                      port: int) -> bool:
    selecting = [p for p in policies if kind in _types(p)
                 and _selects(p["spec"].get("podSelector") or {}, pod.labels)]
    if not selecting:
        return True  # not isolated in this direction
    key, peers_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if peers is not None and not any(_peer_matches(p, peer_endpoint) for p in peers):
                continue
            if _port_matches(rule, port):
                return True
    return False


def allowed(policies: list[dict], source, destination, port: int) -> bool:
    """Whether `source` may open a TCP connection to `destination`:`port`."""
    if isinstance(source, Pod) and not _direction_allows(policies, source, "Egress",
                                                         destination, port):
        return False
    if isinstance(destination, Pod):
        return _direction_allows(policies, destination, "Ingress", source, port)
    return True  # leaving the namespace: only the source's egress applies


def pods_of(documents: list[dict]) -> list[Pod]:
    """One Pod per workload (Deployment, StatefulSet, Job) with its template's labels."""
    pods = []
    for doc in documents:
        if doc.get("kind") in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            labels = doc["spec"]["template"]["metadata"].get("labels", {})
            pods.append(Pod(doc["metadata"]["name"], dict(labels)))
    return pods


def overlay(base: list[dict], patches: list[dict], additions: list[dict]) -> list[dict]:
    """The policies of an overlay: the base's, those patched replaced (NetworkPolicy's
    ingress/egress lists have no merge key: a strategic merge replaces them), plus new."""
    by_name = {p["metadata"]["name"]: p for p in patches}
    merged = []
    for policy in base:
        patch = by_name.get(policy["metadata"]["name"])
        if patch:
            policy = {**policy, "spec": {**policy["spec"], **patch["spec"]}}
        merged.append(policy)
    return merged + additions
