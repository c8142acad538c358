"""Shared names and values of the consumer-driven contracts (pacts/).

The consumer tests write the pact files into `pacts/` (committed: they are the contract);
the provider tests replay them against the real services. Values here are fixed so the
written pacts are stable and the provider states can create exactly what they name.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACT_DIR = REPO_ROOT / "pacts"

SHOWCASE = "etalase-showcase"  # storefront_service, the provider of the internal API
MARKETPLACE = "etalase-marketplace"  # transaction_service
SANDBOX = "etalase-payment-sandbox"  # payment_sandbox, the provider that notifies

MARKETPLACE_SHOWCASE_PACT = PACT_DIR / f"{MARKETPLACE}-{SHOWCASE}.json"
SANDBOX_MARKETPLACE_PACT = PACT_DIR / f"{SANDBOX}-{MARKETPLACE}.json"

# The contracts' server key (signatures in the notification pact). The contract stack runs
# the marketplace and the sandbox with it, so verification checks real signatures.
CONTRACT_SERVER_KEY = "pact-contract-server-key"
CONSUMER_INTERNAL_TOKEN = "consumer-test-internal-token"  # replaced by the stack's real one

SHOP_ID = "5b0e2a7c-1f7d-4c1e-9b8a-6f2d1c3b4a01"
PRODUCT_ID = "7a4c2e91-3b5d-4f6a-8c7e-9d0b1a2c3e01"
SOLD_OUT_PRODUCT_ID = "7a4c2e91-3b5d-4f6a-8c7e-9d0b1a2c3e02"
BUYER_ID = "2c9d8e7f-6a5b-4c3d-9e1f-0a1b2c3d4e01"
PRICE = 185000
ORDER_TO_RESERVE = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b01"
ORDER_SOLD_OUT = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b02"
ORDER_ACTIVE_COMMIT = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b03"
ORDER_ACTIVE_RELEASE = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b04"
ORDER_RELEASED = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b05"
ORDER_COMMITTED = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b06"
ORDER_UNKNOWN = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b07"
ORDER_COMMITTED_RESTOCK = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b08"
ORDER_RELEASED_RESTOCK = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b09"
# A delivered order's return (DESIGN.md §12): its received units go back in stock.
ORDER_RETURNED = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b10"
ORDER_RETURNED_TOO_MANY = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b11"
RETURN_ID = "3a2b1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c01"
RETURN_TOO_MANY_ID = "3a2b1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c02"

# The notification contract: an UNPAID, placed order with this total.
NOTIFIED_ORDER_ID = "4f3e2d1c-0b9a-4876-9543-210fedcba901"
NOTIFIED_TOTAL = 370000
# ... and a paid e-wallet (GoPay) order the marketplace asked the provider to refund in part.
REFUNDED_ORDER_ID = "4f3e2d1c-0b9a-4876-9543-210fedcba902"
REFUNDED_TOTAL = 240000
REFUND_KEY = "pact-refund-1"
REFUND_AMOUNT = 90000
# ... and an UNPAID checkout of two shops' orders: one payment under the checkout's id.
CHECKOUT_ID = "4f3e2d1c-0b9a-4876-9543-210fedcba903"
CHECKOUT_ORDER_IDS = ("4f3e2d1c-0b9a-4876-9543-210fedcba904",
                      "4f3e2d1c-0b9a-4876-9543-210fedcba905")
CHECKOUT_ORDER_TOTALS = (150000, 60000)
CHECKOUT_TOTAL = sum(CHECKOUT_ORDER_TOTALS)
OTHER_SHOP_ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1e"
