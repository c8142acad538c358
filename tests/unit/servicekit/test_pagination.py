import pytest

from servicekit.pagination import (
    decode_cursor,
    decode_keyset_cursor,
    encode_cursor,
    keyset_page,
    page,
)
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


def test_keyset_cursor_round_trip_through_keyset_page():
    from datetime import UTC, datetime

    rows = [
        {
            "created_at": datetime(2026, 11, 24, 10, i, tzinfo=UTC),
            "id": f"{i:08d}-0000-4000-8000-{i:012d}",
        }
        for i in range(3)
    ]
    result = keyset_page(rows, 2)
    assert result["data"] == rows[:2]
    assert decode_keyset_cursor(result["next_cursor"]) == (rows[1]["created_at"], rows[1]["id"])


@pytest.mark.parametrize(
    "position",
    [
        ["not-a-time", "00000000-0000-4000-8000-000000000000"],
        ["2026-11-24T10:00:00+00:00", "not-a-uuid"],
        ["2026-11-24T10:00:00", "00000000-0000-4000-8000-000000000000"],  # naive time
    ],
)
def test_keyset_cursor_with_bad_values_is_a_422(position):
    with pytest.raises(Problem) as caught:
        decode_keyset_cursor(encode_cursor(position))
    assert caught.value.status == 422
    assert caught.value.errors == {"cursor": ["Not a valid cursor."]}
