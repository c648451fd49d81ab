"""The spec's grain, windows and derived timestamp: what is accepted, and every refusal names its field."""

from __future__ import annotations

import copy

import pytest
import yaml

from mlops_assets.core.spec import BUILTIN_SPECS_DIR, SpecError, spec_from_dict


@pytest.fixture
def document() -> dict:
    return yaml.safe_load((BUILTIN_SPECS_DIR / "nycflights.yaml").read_text())


def load(document: dict, mutate=lambda d: None):
    changed = copy.deepcopy(document)
    mutate(changed)
    return spec_from_dict(changed, base_dir=BUILTIN_SPECS_DIR)


def refusal(document: dict, mutate) -> str:
    with pytest.raises(SpecError) as error:
        load(document, mutate)
    return str(error.value)


def test_a_spec_without_a_grain_is_daily_and_days_are_partitions(document):
    spec = load(document)
    assert spec.partitions.grain == "daily"
    assert [spec.partitions_in(rate.span) for rate in spec.trailing_rates] == [7, 7, 28]
    assert spec.partitions_in(spec.quality.row_count_history) == 7


def test_windows_may_be_durations_or_partitions(document):
    def weekly(doc):
        doc["partitions"] = {"grain": "weekly", "start_date": "2012-12-31", "end_date": "2013-12-30"}
        doc["trailing_rates"] = [
            {"name": "carrier_late_rate_7d", "group_by": ["carrier"], "window": "2 weeks"},
            {"name": "origin_late_rate_7d", "group_by": ["origin"], "window": 3},
            {"name": "route_late_rate_28d", "group_by": ["origin", "dest"], "days": 28},
        ]
        doc["quality"]["row_count"] = {"trailing": "8 weeks", "min_history": 3}

    spec = load(document, weekly)
    assert [spec.partitions_in(rate.span) for rate in spec.trailing_rates] == [2, 3, 4]
    assert spec.max_trailing_partitions == 4
    assert spec.partitions_in(spec.quality.row_count_history) == 8


@pytest.mark.parametrize("mutate, expected", [
    pytest.param(lambda d: d["partitions"].__setitem__("grain", "yearly"),
                 "trailing_rates.carrier_late_rate_7d: window '7 days': a yearly dataset counts calendar months and "
                 "years; days have no fixed number of years", id="days-in-a-yearly-dataset"),
    pytest.param(lambda d: d["partitions"].update({"grain": "yearly", "start_date": "2013-02-01"}),
                 "partitions: start_date 2013-02-01 does not start a yearly partition (that one starts 2013-01-01)",
                 id="start-inside-a-year"),
    pytest.param(lambda d: d["partitions"].update({"grain": "weekly"}),
                 "start_date 2013-01-01 does not start a weekly partition (that one starts 2012-12-31)",
                 id="week-not-starting-monday"),
    pytest.param(lambda d: (d["partitions"].__setitem__("grain", "hourly"),
                            d.__setitem__("timestamp", {"derive": "make_date(year, month, day)"})),
                 "timestamp.derive: gives a date, but hourly partitions need the time of day", id="hourly-from-a-date"),
    pytest.param(lambda d: (d["partitions"].__setitem__("grain", "hourly"),
                            d["quality"]["row_count"].update({"trailing": "90 minutes", "trailing_days": None})),
                 "quality.row_count: window '90 minutes': not a number of partitions or a duration",
                 id="minutes-in-an-hourly-dataset"),
    pytest.param(lambda d: (d["partitions"].__setitem__("grain", "hourly"),
                            d["trailing_rates"][0].update({"window": "1 month", "days": None})),
                 "trailing_rates.carrier_late_rate_7d: window '1 month': a hourly dataset counts hours, days and weeks",
                 id="months-in-an-hourly-dataset"),
    pytest.param(lambda d: d["partitions"].__setitem__("grain", "fortnightly"),
                 "partitions.grain: Input should be 'hourly', 'daily', 'weekly', 'monthly', 'yearly' or 'none'",
                 id="unknown-grain"),
    pytest.param(lambda d: d["trailing_rates"][0].__setitem__("window", "7 days"),
                 "give one of window or days", id="window-and-days"),
    pytest.param(lambda d: d["trailing_rates"][0].update({"window": "a week", "days": None}),
                 "trailing_rates.carrier_late_rate_7d: window 'a week': not a number of partitions or a duration",
                 id="unreadable-window"),
    pytest.param(lambda d: d["trailing_rates"][0].update({"window": 0, "days": None}),
                 "trailing_rates.carrier_late_rate_7d: the window must cover at least one partition",
                 id="empty-window"),
    pytest.param(lambda d: d["quality"]["row_count"].__setitem__("trailing", "1 month"),
                 "quality.row_count: give one of trailing or trailing_days", id="row-count-twice"),
    pytest.param(lambda d: d["quality"]["row_count"].update({"trailing": "1 month", "trailing_days": None}),
                 "quality.row_count: window '1 month': a daily dataset counts hours, days and weeks",
                 id="row-count-in-months"),
    pytest.param(lambda d: d["timestamp"].__setitem__("derive", "make_date(year, 1, 1)"),
                 "timestamp: give one of column (a raw timestamp or date column) or derive (SQL giving one)",
                 id="column-and-derive"),
    pytest.param(lambda d: d.__setitem__("timestamp", {"derive": "make_date(yaer, 1, 1)"}),
                 "timestamp.derive: unknown column(s) ['yaer']", id="derive-unknown-column"),
    pytest.param(lambda d: d.__setitem__("timestamp", {"derive": "year * 10"}),
                 "timestamp.derive: gives BIGINT, not a date or timestamp", id="derive-not-a-date"),
    pytest.param(lambda d: d.__setitem__("timestamp", {"derive": "(SELECT max(time_hour) FROM weather)"}),
                 "timestamp.derive: may only read the row's own columns", id="derive-reads-a-table"),
])
def test_grain_and_window_mistakes_are_refused_naming_the_field(document, mutate, expected):
    assert expected in refusal(document, mutate)


def test_an_hourly_dataset_counts_its_windows_in_hours(document):
    def hourly(doc):
        doc["partitions"]["grain"] = "hourly"
        doc["trailing_rates"][0].update({"window": "6 hours", "days": None})

    spec = load(document, hourly)
    assert spec.grain.within_day and spec.grain.column_type == "TIMESTAMP"
    # '6 hours' is six partitions; 'N days' windows are 24 N of them
    assert [spec.partitions_in(rate.span) for rate in spec.trailing_rates] == [6, 168, 672]
    assert spec.partitions_in(spec.quality.row_count_history) == 168


def test_a_derived_timestamp_needs_no_timestamp_column(document):
    def derived(doc):
        doc["timestamp"] = {"derive": "make_timestamp(year, month, day, hour, minute, 0)", "timezone": "America/New_York"}

    spec = load(document, derived)
    assert spec.timestamp.column is None
    assert spec.timestamp_columns == []
    assert "time_hour" in spec.passthrough_columns  # still a raw column (of the entity key) the features carry
