"""The marketplace checks the showcase's attribution answer before it freezes it into an
order (a breach of the contract is an unusable answer, never a commission)."""

import pytest

from transaction_service.clients.storefront import UnusableAnswer, attribution_of

CONTENT = "8d1f7c2a-5b3e-4f60-9a71-2c4d5e6f7a80"
CREATOR = "6a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def _item(**attribution):
    base = {"content_id": CONTENT, "creator_id": CREATOR, "commission_rate_bps": 1000}
    return {"product_id": "p", "attribution": {**base, **attribution}}


def test_a_well_formed_attribution_is_kept():
    assert attribution_of(_item(), CONTENT) == {
        "content_id": CONTENT, "creator_id": CREATOR, "commission_rate_bps": 1000}
    assert attribution_of({"product_id": "p", "attribution": None}) is None


@pytest.mark.parametrize("changes", [
    {"commission_rate_bps": 8001}, {"commission_rate_bps": -1}, {"commission_rate_bps": 10.5},
    {"commission_rate_bps": True}, {"commission_rate_bps": "1000"},
    {"content_id": "not-a-uuid"}, {"creator_id": None},
])
def test_a_malformed_attribution_is_unusable(changes):
    with pytest.raises(UnusableAnswer):
        attribution_of(_item(**changes))


def test_the_content_the_buyer_named_must_come_back():
    with pytest.raises(UnusableAnswer, match="lost"):
        attribution_of({"product_id": "p", "attribution": None}, CONTENT)
    with pytest.raises(UnusableAnswer, match="another content"):
        attribution_of(_item(content_id="00000000-0000-4000-8000-000000000001"), CONTENT)
    with pytest.raises(UnusableAnswer):
        attribution_of({"product_id": "p", "attribution": "yes"})
