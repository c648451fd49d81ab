import datetime as dt

import pytest

from mlops_assets.pipeline.backfill import day_ranges

D = dt.date(2013, 1, 1)


def days(*offsets: int) -> list[dt.date]:
    return [D + dt.timedelta(days=o) for o in offsets]


def test_consecutive_days_make_one_range():
    assert day_ranges(days(2, 0, 1, 3)) == [(D, D + dt.timedelta(days=3))]


def test_a_gap_starts_a_new_range():
    assert day_ranges(days(0, 1, 3, 4, 7)) == [
        (D, D + dt.timedelta(days=1)), (D + dt.timedelta(days=3), D + dt.timedelta(days=4)),
        (D + dt.timedelta(days=7), D + dt.timedelta(days=7)),
    ]


def test_ranges_hold_at_most_max_days():
    ranges = day_ranges(days(*range(10)), max_days=4)
    assert [(a - D).days for a, _ in ranges] == [0, 4, 8]
    assert [(b - a).days + 1 for a, b in ranges] == [4, 4, 2]


def test_duplicates_and_no_days():
    assert day_ranges(days(0, 0)) == [(D, D)]
    assert day_ranges([]) == []


def test_max_days_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        day_ranges(days(0), max_days=0)
