"""Payment provider adapters.

Both adapters speak the Midtrans Core API (`/v2/charge`, `/v2/{order_id}/status|cancel|
refund`, HTTP Basic with the server key, SHA-512 notification signatures), so everything
lives in `MidtransProtocolProvider`; `SandboxProvider` and `MidtransProvider` differ only in
their name and default base URL. Switching to real Midtrans is configuration
(`PAYMENT_PROVIDER=midtrans`, `PAYMENT_BASE_URL`, `PAYMENT_SERVER_KEY`), not new code.

Timeouts are explicit. Retries: charge (idempotent on order_id at the provider) and status
are retried on connection errors and 502/503/504; cancel and refund are not retried here
(the outbox relay retries them with backoff, refund being idempotent on its refund_key).
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

    def __init__(
        self, *, server_key: str, base_url: str | None = None, timeout_seconds: float = 5.0,
        session: requests.Session | None = None,
    ):
        if not server_key:
            raise ValueError("a payment provider needs its server key")
        self.server_key = server_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout = (min(2.0, timeout_seconds), timeout_seconds)
        # POST is listed because the only POST sent through this session is the charge,
        # which the provider deduplicates on order_id.
        self.retrying = session or make_session(methods=frozenset({"GET", "POST"}),
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
        payload: dict = {
            "transaction_details": {"order_id": order_id, "gross_amount": gross_amount},
            "custom_expiry": {"expiry_duration": max(1, int(expiry_seconds)), "unit": "second"},
        }
        if method == "bank_transfer":
            payload["payment_type"] = "bank_transfer"
            payload["bank_transfer"] = {"bank": self.bank}
        elif method == "ewallet":
            payload["payment_type"] = "gopay"
        else:
            raise ValueError(f"unknown payment method {method}")
        status, body = self._request(self.retrying, "POST", "/v2/charge", payload)
        if status not in (200, 201) or not body.get("transaction_id"):
            raise ProviderRefused(status, body)
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
