"""The public API as the tools use it: demo logins, a bench seller's product, buyers,
checkout and the sandbox "customer pays" call, all through the gateway unless a base URL
says otherwise. Shared by tools.chaos and bench."""

from __future__ import annotations

import time
import uuid

import requests

from storefront_service.seed import DEMO_PASSWORD

DEMO_SELLER = "seller@etalase.test"
DEMO_SELLER_2 = "seller2@etalase.test"  # other shops: carts of several shops
DEMO_SELLER_3 = "seller3@etalase.test"
ADDRESS = {
    "name": "Rina Anggraini",
    "phone": "+6281234567890",
    "line1": "Jl. Jenderal Sudirman No. 1",
    "city": "Jakarta Selatan",
    "postal_code": "12190",
}
PROBLEM_TYPE = "application/problem+json"


class ApiError(RuntimeError):
    pass


def _post_with_rate_limit(session: requests.Session, url: str, body: dict) -> requests.Response:
    """POST to /auth/ (rate-limited per client address at the gateway): back off on 429."""
    for _ in range(50):
        response = session.post(url, json=body, timeout=30)
        if response.status_code != 429:
            return response
        time.sleep(0.2)
    return response


def login(base: str, email: str, password: str = DEMO_PASSWORD,
          session: requests.Session | None = None) -> str:
    session = session or requests.Session()
    response = _post_with_rate_limit(session, f"{base}/api/v1/auth/login",
                                     {"email": email, "password": password})
    if response.status_code != 200:
        raise ApiError(f"login {email}: {response.status_code} {response.text[:300]}")
    return response.json()["access_token"]


def new_buyer(base: str, label: str = "bench") -> str:
    """Register a fresh buyer and return their access token."""
    session = requests.Session()
    email = f"{label}-{uuid.uuid4().hex[:12]}@etalase.test"
    response = _post_with_rate_limit(session, f"{base}/api/v1/auth/register", {
        "email": email, "password": DEMO_PASSWORD, "name": "Bench Buyer", "role": "buyer"})
    if response.status_code != 201:
        raise ApiError(f"register {email}: {response.status_code} {response.text[:300]}")
    return login(base, email, session=session)


def seeded_buyers(stack, count: int, label: str = "seeded") -> list[str]:
    """`count` buyer accounts inserted on the stack's showcase database in one statement
    (one argon2 hash of the demo password shared by all, so each could log in) and an
    access token for each, signed with the stack's own key exactly as a login signs it.
    Bench and tests only: 1,000 registrations and logins would each hash a password
    (minutes on two cores)."""
    import psycopg2

    from storefront_service.identity import TokenIssuer, hash_password

    run = uuid.uuid4().hex[:8]
    ids = [str(uuid.uuid4()) for _ in range(count)]
    emails = [f"{label}-{run}-{n}@etalase.test" for n in range(count)]
    conn = psycopg2.connect(stack.dsn("storefront"))
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts (id, email, password_hash, name, role)"
                " SELECT id, email, %s, 'Seeded Buyer', 'buyer'"
                " FROM unnest(%s::uuid[], %s::text[]) AS a(id, email)",
                (hash_password(DEMO_PASSWORD), ids, emails),
            )
    finally:
        conn.close()
    issuer = TokenIssuer(stack.jwt_private_key_path, stack.jwt_kid, ttl_seconds=3600)
    return [issuer.issue(account_id, "buyer", None)[0] for account_id in ids]


def create_product(base: str, seller_token: str, *, stock: int, price: int = 150000,
                   title: str | None = None, commission_rate_bps: int = 0) -> dict:
    response = requests.post(
        f"{base}/api/v1/products",
        headers={"Authorization": f"Bearer {seller_token}"},
        json={"title": title or f"Bench batik {uuid.uuid4().hex[:8]}", "price": price,
              "stock": stock, "commission_rate_bps": commission_rate_bps},
        timeout=30,
    )
    if response.status_code != 201:
        raise ApiError(f"create product: {response.status_code} {response.text[:300]}")
    return response.json()


def creator_content(base: str, product_ids: list[str], label: str = "bench") -> str:
    """A fresh creator's video tagging the products; returns the content id."""
    session = requests.Session()
    email = f"{label}-creator-{uuid.uuid4().hex[:12]}@etalase.test"
    response = _post_with_rate_limit(session, f"{base}/api/v1/auth/register", {
        "email": email, "password": DEMO_PASSWORD, "name": "Bench Creator", "role": "creator"})
    if response.status_code != 201:
        raise ApiError(f"register {email}: {response.status_code} {response.text[:300]}")
    token = login(base, email, session=session)
    response = session.post(
        f"{base}/api/v1/contents", headers={"Authorization": f"Bearer {token}"}, timeout=30,
        json={"kind": "live", "title": f"{label} live", "product_ids": product_ids,
              "media_url": "https://live.etalase.test/streams/bench.m3u8"})
    if response.status_code != 201:
        raise ApiError(f"create content: {response.status_code} {response.text[:300]}")
    return response.json()["id"]


def checkout(session: requests.Session, base: str, token: str, product_id: str, *,
             key: str | None = None, timeout: float = 30,
             method: str = "bank_transfer",
             content_id: str | None = None,
             also: tuple[str, ...] = ()) -> requests.Response:
    """One unit of `product_id` and one of each product in `also` (other shops' products
    make a multi-shop checkout: one payment, one order per shop)."""
    line = {"product_id": product_id, "quantity": 1}
    if content_id:
        line["content_id"] = content_id  # bought from a creator's content
    lines = [line] + [{"product_id": other, "quantity": 1} for other in also]
    return session.post(
        f"{base}/api/v1/checkout",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key or str(uuid.uuid4())},
        json={"items": lines,
              "shipping_address": ADDRESS, "payment_method": method},
        timeout=timeout,
    )


def pay(session: requests.Session, sandbox_base: str, order_id: str,
        timeout: float = 30) -> requests.Response:
    """The sandbox plays the customer paying (`sandbox_base` is the gateway's /sandbox or
    the sandbox itself); its notifier then tells the marketplace. `order_id` is the
    provider's: the checkout id (the order's own id for a checkout of one order)."""
    return session.post(f"{sandbox_base}/v2/{order_id}/pay", timeout=timeout)


def problem_defect(response: requests.Response) -> str | None:
    """Why a failed response is not an RFC 9457 problem document (None when it is)."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if content_type != PROBLEM_TYPE:
        return f"Content-Type {content_type or '(none)'}"
    try:
        body = response.json()
    except ValueError:
        return "body is not JSON"
    if not isinstance(body, dict):
        return "body is not an object"
    missing = [k for k in ("type", "title", "status") if k not in body]
    if missing:
        return f"missing {', '.join(missing)}"
    if body["status"] != response.status_code:
        return f"status {body['status']} in a {response.status_code} response"
    return None
