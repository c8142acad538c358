"""The gateway's route table: the single source of truth for what the public API exposes.

`gateway/build.py` turns this table into nginx configuration, the unit tests and the
compliance report read it to prove the separation of DESIGN.md §9 (no payment, order or
ledger path reaches the showcase; `/internal/` is never routed).

A route is a path prefix. A prefix that does not end in "/" names a collection and matches
the path itself and everything below "<prefix>/" (so `/api/v1/shops` does not also catch
`/api/v1/shopsXYZ`). The services serve the public API under the same paths, so proxying
keeps the path unless `strip_prefix` is set (only the sandbox, which serves at `/`).
"""

from __future__ import annotations

from dataclasses import dataclass

STOREFRONT = "storefront"
TRANSACTION = "transaction"
SANDBOX = "sandbox"
UPSTREAMS = (STOREFRONT, TRANSACTION, SANDBOX)

# Paths the gateway answers itself; never proxied.
GATEWAY_PATHS = ("/healthz", "/readyz")
# Service-to-service APIs: the gateway answers 404 for these paths and anything below them.
BLOCKED_PREFIXES = ("/internal",)


def is_blocked(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in BLOCKED_PREFIXES)


@dataclass(frozen=True)
class Route:
    prefix: str
    upstream: str
    methods: tuple[str, ...]
    description: str
    # Limit POSTs per client address with the `auth` limit_req zone (login brute force);
    # reads under the same prefix are not counted.
    auth_rate_limited: bool = False
    # Remove the prefix before proxying (the upstream serves this API at "/").
    strip_prefix: bool = False
    # Only present when the sandbox switch is on (never in production).
    sandbox_only: bool = False
    # Anonymous GETs may be answered from the gateway's microcache, for as long as the
    # service's own Cache-Control allows (the service decides what is shareable).
    shared_cache: bool = False

    def __post_init__(self) -> None:
        if self.upstream not in UPSTREAMS:
            raise ValueError(f"unknown upstream {self.upstream!r}")
        if not self.prefix.startswith("/"):
            raise ValueError(f"route prefix must start with '/': {self.prefix!r}")
        if any(m != m.upper() for m in self.methods) or not self.methods:
            raise ValueError(f"methods must be upper-case and non-empty: {self.methods!r}")

    @property
    def allowed_methods(self) -> tuple[str, ...]:
        """The methods nginx lets through; HEAD comes with GET as in HTTP semantics."""
        methods = list(self.methods)
        if "GET" in methods and "HEAD" not in methods:
            methods.insert(methods.index("GET") + 1, "HEAD")
        return tuple(methods)

    def matches(self, path: str) -> bool:
        if self.prefix.endswith("/"):
            return path.startswith(self.prefix)
        return path == self.prefix or path.startswith(self.prefix + "/")


ROUTES: tuple[Route, ...] = (
    # --- showcase (storefront_service) -------------------------------------------------
    Route(
        "/api/v1/auth/",
        STOREFRONT,
        ("GET", "POST"),
        "register, login (POSTs are rate-limited) and the caller's account",
        auth_rate_limited=True,
    ),
    Route("/api/v1/shops", STOREFRONT, ("GET", "POST"), "shops", shared_cache=True),
    Route("/api/v1/products", STOREFRONT, ("GET", "POST", "PATCH"), "products", shared_cache=True),
    Route("/api/v1/feed", STOREFRONT, ("GET",), "the feed", shared_cache=True),
    Route("/api/v1/contents", STOREFRONT, ("GET", "POST"), "videos and live sessions",
          shared_cache=True),
    Route("/api/v1/cart", STOREFRONT, ("GET", "PUT", "DELETE"), "the buyer's cart"),
    Route("/api/v1/admin/accounts", STOREFRONT, ("POST",), "admin: disable accounts"),
    # --- marketplace (transaction_service) ---------------------------------------------
    Route("/api/v1/checkout", TRANSACTION, ("POST",), "checkout saga"),
    Route("/api/v1/checkouts/", TRANSACTION, ("GET", "POST"),
          "one checkout (one payment, one order per shop): read, cancel"),
    Route("/api/v1/orders", TRANSACTION, ("GET", "POST"), "orders and their transitions"),
    Route(
        "/api/v1/payments/notifications/",
        TRANSACTION,
        ("POST",),
        "payment provider notifications (signature, no JWT)",
    ),
    Route("/api/v1/sellers/me/", TRANSACTION, ("GET", "POST"), "balance, ledger, payouts"),
    Route("/api/v1/creators/me/", TRANSACTION, ("GET", "POST"),
          "creators' commission: balance, ledger, payouts, earnings"),
    Route("/api/v1/admin/", TRANSACTION, ("GET",), "admin: audit chain verification"),
    Route("/api/v1/admin/manual-refunds", TRANSACTION, ("GET", "POST"),
          "admin: the manual refund queue (list, record a transfer)"),
    Route("/api/v1/admin/orders", TRANSACTION, ("POST",), "admin: refund part of an order"),
    Route("/api/v1/audit", TRANSACTION, ("GET",),
          "transparency log: checkpoints, entries with proofs, consistency, verifier keys"),
    Route("/api/v1/returns", TRANSACTION, ("GET", "POST"),
          "returns, refunds and disputes after delivery"),
    Route("/api/v1/webhooks/", TRANSACTION, ("GET", "POST", "PATCH", "DELETE"),
          "webhook endpoints, test sends, deliveries"),
    # --- payment sandbox (local and compose only) --------------------------------------
    Route(
        "/sandbox/",
        SANDBOX,
        ("GET", "POST"),
        "payment sandbox, Midtrans-style API at the sandbox's '/'",
        strip_prefix=True,
        sandbox_only=True,
    ),
)


def routes(with_sandbox: bool = True) -> tuple[Route, ...]:
    """The routes a gateway exposes; the sandbox switch off drops the sandbox route."""
    return tuple(r for r in ROUTES if with_sandbox or not r.sandbox_only)


def route_for(path: str, with_sandbox: bool = True) -> Route | None:
    """The route nginx would pick for `path` (longest prefix wins), or None.

    Blocked prefixes and gateway-own paths give None: they never reach an upstream.
    """
    if path in GATEWAY_PATHS or is_blocked(path):
        return None
    candidates = [r for r in routes(with_sandbox) if r.matches(path)]
    if not candidates:
        return None
    return max(candidates, key=lambda r: len(r.prefix))


def validate(table: tuple[Route, ...] = ROUTES) -> None:
    """Reject a table nginx would accept but that breaks our rules."""
    seen: set[str] = set()
    for route in table:
        if route.prefix in seen:
            raise ValueError(f"duplicate route prefix {route.prefix}")
        seen.add(route.prefix)
        if is_blocked(route.prefix.rstrip("/")):
            raise ValueError(f"route {route.prefix} is under a blocked prefix")
        if route.prefix in GATEWAY_PATHS:
            raise ValueError(f"route {route.prefix} shadows a gateway path")


validate()
