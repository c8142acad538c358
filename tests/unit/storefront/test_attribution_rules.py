"""The showcase's attribution rules (DESIGN.md §11): which content a sale came from."""

from datetime import UTC, datetime, timedelta

import pytest

from storefront_service.domain import attribution
from storefront_service.domain.attribution import Touch
from storefront_service.domain.errors import Invalid

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
WEEK = 7 * 24 * 3600


def test_a_touch_counts_for_the_window_and_not_a_second_longer():
    assert attribution.in_window(NOW - timedelta(seconds=WEEK), NOW, WEEK)
    assert not attribution.in_window(NOW - timedelta(seconds=WEEK + 1), NOW, WEEK)
    assert not attribution.in_window(None, NOW, WEEK)


def test_content_that_does_not_tag_the_product_is_invalid():
    with pytest.raises(Invalid) as refused:
        attribution.require_valid_touch(None, content_id="c", product_id="p", buyer_id="b")
    assert refused.value.slug == "invalid-attribution"
    assert "content_id" in refused.value.errors


def test_a_creator_cannot_attribute_their_own_purchase():
    with pytest.raises(Invalid) as refused:
        attribution.require_valid_touch(Touch("c", "me"), content_id="c", product_id="p",
                                        buyer_id="me")
    assert refused.value.slug == "self-attribution"
    touch = Touch("c", "creator")
    assert attribution.require_valid_touch(touch, content_id="c", product_id="p",
                                           buyer_id="me") is touch


def test_frozen_attribution_carries_the_rate_and_refuses_out_of_range():
    assert attribution.frozen_attribution(None, 1000) is None
    assert attribution.frozen_attribution(Touch("c", "k"), 0) == {
        "content_id": "c", "creator_id": "k", "commission_rate_bps": 0}
    with pytest.raises(ValueError):
        attribution.frozen_attribution(Touch("c", "k"), 8001)
