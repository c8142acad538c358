import pytest

from servicekit.pagination import decode_cursor, encode_cursor, page
from servicekit.problems import Problem


def test_cursor_round_trip():
    cursor = encode_cursor(["2026-11-24T10:00:00+00:00", "a1"])
    assert decode_cursor(cursor, 2) == ["2026-11-24T10:00:00+00:00", "a1"]


@pytest.mark.parametrize(
    "bad", ["!!!", "bm90IGpzb24", encode_cursor(["only-one"]), encode_cursor([{"x": 1}, 2])]
)
def test_bad_cursor_is_a_422(bad):
    with pytest.raises(Problem) as caught:
        decode_cursor(bad, 2)
    assert caught.value.status == 422
    assert "cursor" in caught.value.errors


def test_page_sets_next_cursor_only_when_more_rows_exist():
    rows = [{"id": i} for i in range(4)]
    assert page(rows, 3, key=lambda r: [r["id"]])["next_cursor"] == encode_cursor([2])
    assert page(rows, 4, key=lambda r: [r["id"]])["next_cursor"] is None
