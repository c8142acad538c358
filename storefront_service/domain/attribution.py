"""Which creator's content a sale came from (DESIGN.md §11), as the showcase decides it.

A buyer "touches" a product from a content (a feed card, a video or live page) when adding
it to the cart or naming `content_id` on a checkout line. A touch counts only when the
content tags the product and is visible; the last touch wins, for the attribution window.
The showcase only records *who* and *at which rate*; the commission amount is the
marketplace's business (it holds the money).

A creator buying from their own content is refused (422 `self-attribution`): a commission
paid by the seller to the buyer would be a discount the seller never agreed to. The buyer
simply adds the product without `content_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import Invalid

MAX_COMMISSION_RATE_BPS = 8000
DEFAULT_WINDOW_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Touch:
    """A content tagging a product, as read from the database (None: it does not)."""

    content_id: str
    creator_id: str


def require_valid_touch(touch: Touch | None, *, content_id: str, product_id: str,
                        buyer_id: str) -> Touch:
    """The touch, or a 422 naming why `content_id` cannot attribute `product_id`."""
    if touch is None:
        raise Invalid(
            f"Content {content_id} does not exist, is not visible or does not tag "
            f"product {product_id}.",
            slug="invalid-attribution",
            errors={"content_id": ["The content must be visible and tag this product."]},
            product_id=product_id,
            content_id=content_id,
        )
    if str(touch.creator_id) == str(buyer_id):
        raise Invalid(
            "Creators earn no commission on their own purchases; add the product without "
            "content_id.",
            slug="self-attribution",
            errors={"content_id": ["You cannot attribute a purchase to your own content."]},
            product_id=product_id,
            content_id=content_id,
        )
    return touch


def in_window(attributed_at: datetime | None, now: datetime, window_seconds: int) -> bool:
    """Whether a cart touch made at `attributed_at` still counts at `now`."""
    if attributed_at is None:
        return False
    return now - attributed_at <= timedelta(seconds=window_seconds)


def frozen_attribution(touch: Touch | None, commission_rate_bps: int) -> dict | None:
    """The reservation line's attribution: authoritative, never recomputed."""
    if touch is None:
        return None
    if not 0 <= commission_rate_bps <= MAX_COMMISSION_RATE_BPS:
        raise ValueError(f"commission rate out of range: {commission_rate_bps}")
    return {
        "content_id": str(touch.content_id),
        "creator_id": str(touch.creator_id),
        "commission_rate_bps": int(commission_rate_bps),
    }
