"""The one SET-list builder of the marketplace's UPDATEs (no I/O)."""

import pytest

from transaction_service.store.assignments import set_clause


def test_values_become_parameters_and_now_the_database_clock():
    clause, values = set_clause({"status": "PAID", "paid_at": "now()", "total": 0},
                                {"status", "paid_at", "total"}, "order")
    assert clause == "updated_at = now(), status = %s, paid_at = now(), total = %s"
    assert values == ["PAID", 0]


def test_a_column_outside_the_allowed_ones_is_refused_by_name():
    with pytest.raises(ValueError, match="not an updatable refund column: id"):
        set_clause({"status": "SUCCEEDED", "id": "x"}, {"status"}, "refund")


def test_nothing_to_change_still_touches_updated_at():
    assert set_clause({}, {"status"}, "return") == ("updated_at = now()", [])
