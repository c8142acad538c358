"""Payment provider adapters.

Both adapters speak the Midtrans Core API (`/v2/charge`, `/v2/{order_id}/status|cancel|
refund`, HTTP Basic with the server key, SHA-512 notification signatures), so everything
lives in `MidtransProtocolProvider`; `SandboxProvider` and `MidtransProvider` differ only in
their name and default base URL. Switching to real Midtrans is configuration
(`PAYMENT_PROVIDER=midtrans`, `PAYMENT_BASE_URL`, `PAYMENT_SERVER_KEY`), not new code.

Timeouts are explicit. Midtrans does not deduplicate charges: a second `POST /v2/charge`
for an order_id that is pending or paid is refused with 406. So a charge is sent once, and
when its outcome is unknown (timeout, 5xx) or refused as a duplicate, the provider is asked
`GET /v2/{order_id}/status` first: an existing transaction of the same amount is adopted
(its VA number or deeplink is the buyer's payment instruction), and only an order_id the
provider has never seen is charged again (bounded). Status is retried on connection errors
and 502/503/504; cancel and refund are not retried here (the outbox relay retries them with
backoff, refund being idempotent on its refund_key).

Midtrans refunds only card, GoPay, ShopeePay, DANA, OVO, QRIS, Kredivo and Akulaku payments
(`can_refund`): a bank-transfer VA is refunded by hand (operations/refunds.py).
"""

from __future__ import annotations

import abc
import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import requests

from servicekit.http import json_or_none, make_session

from ..domain.money import format_provider_amount
from ..domain.signature import verify_notification_signature

# Midtrans writes times in Western Indonesia Time without an offset.
WIB = timezone(timedelta(hours=7), "WIB")


class ProviderUnavailable(Exception):
    """The provider could not be reached or failed (timeout, 5xx)."""


# Midtrans' payment types the provider can refund.
REFUNDABLE_PAYMENT_TYPES = frozenset(
    {"credit_card", "gopay", "shopeepay", "dana", "ovo", "qris", "kredivo", "akulaku"}
)
DUPLICATE_ORDER_ID = 406
CHARGE_ATTEMPTS = 2  # a charge the provider has no trace of is sent at most this often


class ProviderRefused(Exception):
    """The provider answered the request with a definite refusal."""

    def __init__(self, status: int, body: dict | None):
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        super().__init__(
            f"provider refused ({status}): {self.body.get('status_message') or self.body}"
        )


@dataclass(frozen=True)
class ChargeResult:
    transaction_id: str
    va_number: str | None
    bank: str | None
    deeplink: str | None
    expires_at: datetime | None
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class ProviderAnswer:
    """Outcome of cancel/refund: the effective Midtrans status code and the body."""

    status: int
    body: dict


class PaymentProvider(abc.ABC):
    name: str

    @abc.abstractmethod
    def charge(
        self, *, order_id: str, gross_amount: int, method: str, expiry_seconds: int
    ) -> ChargeResult: ...

    @abc.abstractmethod
    def status(self, order_id: str) -> dict: ...

    @abc.abstractmethod
    def cancel(self, order_id: str) -> ProviderAnswer: ...

    @abc.abstractmethod
    def refund(
        self, order_id: str, *, refund_key: str, amount: int, reason: str
    ) -> ProviderAnswer: ...

    @abc.abstractmethod
    def verify_notification_signature(self, payload: dict) -> bool: ...

    @abc.abstractmethod
    def can_refund(self, method: str) -> bool:
        """Whether the provider can refund a payment made with our `method`."""


def parse_provider_time(text: str | None) -> datetime | None:
    """Midtrans `"2024-05-01 13:00:00"` (WIB) or ISO-8601 -> aware datetime."""
    if not text or not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIB)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=WIB)


class MidtransProtocolProvider(PaymentProvider):
    name = "midtrans-protocol"
    default_base_url = ""
    # Honour HTTP(S)_PROXY and friends from the environment (an egress proxy in front of
    # the internet); a provider inside our own network skips those lookups per request.
    external = True
    # bank_transfer uses a BCA virtual account; "ewallet" is GoPay (deeplink).
    bank = "bca"
    payment_types = {"bank_transfer": "bank_transfer", "ewallet": "gopay"}

    def __init__(
        self, *, server_key: str, base_url: str | None = None, timeout_seconds: float = 5.0,
        session: requests.Session | None = None,
    ):
        if not server_key:
            raise ValueError("a payment provider needs its server key")
        self.server_key = server_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout = (min(2.0, timeout_seconds), timeout_seconds)
        # Only reads are retried by the session: a charge retried blindly would be refused
        # as a duplicate order id (see `charge`).
        self.retrying = session or make_session(methods=frozenset({"GET"}),
                                                trust_env=self.external)
        self.single_shot = requests.Session()
        self.single_shot.trust_env = self.external
        token = base64.b64encode(f"{server_key}:".encode()).decode()
        self.headers = {
            "Authorization": f"Basic {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def _request(self, session, method: str, path: str, payload: dict | None = None):
        try:
            response = session.request(
                method, self.base_url + path, json=payload, headers=self.headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
        body = json_or_none(response)
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{method} {path} answered {response.status_code}")
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{method} {path} answered a non-JSON body")
        # Midtrans may answer HTTP 200 with an error in `status_code`; trust the body.
        try:
            effective = int(body.get("status_code") or response.status_code)
        except (TypeError, ValueError):
            effective = response.status_code
        if effective >= 500:
            raise ProviderUnavailable(f"{method} {path} answered status_code {effective}")
        return effective, body

    def charge(
        self, *, order_id: str, gross_amount: int, method: str, expiry_seconds: int
    ) -> ChargeResult:
        """Payment instructions for `order_id`: a new charge, or the provider's existing
        transaction for it (asked for before any retry, and after a 406)."""
        if method not in self.payment_types:
            raise ValueError(f"unknown payment method {method}")
        payload: dict = {
            "payment_type": self.payment_types[method],
            "transaction_details": {"order_id": order_id, "gross_amount": gross_amount},
            "custom_expiry": {"expiry_duration": max(1, int(expiry_seconds)), "unit": "second"},
        }
        if method == "bank_transfer":
            payload["bank_transfer"] = {"bank": self.bank}
        unknown_outcome: ProviderUnavailable | None = None
        for _attempt in range(CHARGE_ATTEMPTS):
            body: dict = {}
            try:
                status, body = self._request(self.single_shot, "POST", "/v2/charge", payload)
            except ProviderUnavailable as exc:
                unknown_outcome = exc  # it may have been created: ask before retrying
            else:
                if status in (200, 201) and body.get("transaction_id"):
                    return self._charge_result(body)
                if status != DUPLICATE_ORDER_ID:
                    raise ProviderRefused(status, body)
            existing = self.existing_transaction(order_id)
            if existing is not None:
                return self._adopt(existing, gross_amount)
            if unknown_outcome is None:  # a 406 for an order_id the provider cannot find
                raise ProviderRefused(DUPLICATE_ORDER_ID, body)
        raise unknown_outcome or ProviderUnavailable("charge could not be completed")

    def existing_transaction(self, order_id: str) -> dict | None:
        """The provider's transaction for `order_id`, or None when it has none (404)."""
        try:
            return self.status(order_id)
        except ProviderRefused as refusal:
            if refusal.status == 404:
                return None
            raise

    def _adopt(self, body: dict, gross_amount: int) -> ChargeResult:
        """Take over a transaction the provider already holds for our order id: only a
        live (pending) or paid one of our amount is a payment instruction the buyer may
        use; anything else is a refusal the checkout reports."""
        state = body.get("transaction_status")
        amount_matches = body.get("gross_amount") == format_provider_amount(gross_amount)
        if not amount_matches or state not in ("pending", "settlement", "capture"):
            raise ProviderRefused(DUPLICATE_ORDER_ID, body)
        return self._charge_result(body)

    def _charge_result(self, body: dict) -> ChargeResult:
        va_number = bank = deeplink = None
        for va in body.get("va_numbers") or []:
            if isinstance(va, dict) and va.get("va_number"):
                va_number, bank = str(va["va_number"]), str(va.get("bank") or self.bank)
                break
        for action in body.get("actions") or []:
            if isinstance(action, dict) and action.get("name") == "deeplink-redirect":
                deeplink = str(action.get("url"))
        return ChargeResult(
            transaction_id=str(body["transaction_id"]),
            va_number=va_number,
            bank=bank,
            deeplink=deeplink,
            expires_at=parse_provider_time(body.get("expiry_time")),
            raw=body,
        )

    def can_refund(self, method: str) -> bool:
        return self.payment_types.get(method) in REFUNDABLE_PAYMENT_TYPES

    def status(self, order_id: str) -> dict:
        status, body = self._request(self.retrying, "GET", f"/v2/{order_id}/status")
        if status == 404:
            raise ProviderRefused(status, body)
        return body

    def cancel(self, order_id: str) -> ProviderAnswer:
        status, body = self._request(self.single_shot, "POST", f"/v2/{order_id}/cancel")
        return ProviderAnswer(status, body)

    def refund(self, order_id: str, *, refund_key: str, amount: int, reason: str) -> ProviderAnswer:
        status, body = self._request(
            self.single_shot,
            "POST",
            f"/v2/{order_id}/refund",
            {"refund_key": refund_key, "amount": amount, "reason": reason},
        )
        return ProviderAnswer(status, body)

    def verify_notification_signature(self, payload: dict) -> bool:
        fields = ("order_id", "status_code", "gross_amount")
        if not all(isinstance(payload.get(name), str) for name in fields):
            return False
        return verify_notification_signature(
            order_id=payload["order_id"],
            status_code=payload["status_code"],
            gross_amount=payload["gross_amount"],
            signature_key=payload.get("signature_key"),
            server_key=self.server_key,
        )

    @staticmethod
    def provider_amount(amount: int) -> str:
        return format_provider_amount(amount)


class SandboxProvider(MidtransProtocolProvider):
    """Etalase's payment sandbox (payment_sandbox/)."""

    name = "sandbox"
    default_base_url = "http://127.0.0.1:8003"
    external = False


class MidtransProvider(MidtransProtocolProvider):
    """Midtrans Core API (sandbox `https://api.sandbox.midtrans.com`, production
    `https://api.midtrans.com`)."""

    name = "midtrans"
    default_base_url = "https://api.sandbox.midtrans.com"


PROVIDERS: dict[str, type[MidtransProtocolProvider]] = {
    SandboxProvider.name: SandboxProvider,
    MidtransProvider.name: MidtransProvider,
}


def make_provider(name: str, *, server_key: str, base_url: str | None, timeout_seconds: float):
    try:
        provider_class = PROVIDERS[name]
    except KeyError:
        raise ValueError(
            f"PAYMENT_PROVIDER must be one of {sorted(PROVIDERS)}, got {name!r}"
        ) from None
    return provider_class(server_key=server_key, base_url=base_url, timeout_seconds=timeout_seconds)
