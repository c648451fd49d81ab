"""core.grain: partition keys, starts, neighbours and window conversions for every grain."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from mlops_assets.core.grain import GRAINS, GrainError, grain

D = dt.date
T = dt.datetime


@pytest.mark.parametrize("name, moment, start, key", [
    ("hourly", T(2024, 3, 10, 14, 59, 59), T(2024, 3, 10, 14), "2024-03-10-14:00"),
    ("daily", T(2024, 3, 10, 23, 59), T(2024, 3, 10), "2024-03-10"),
    ("weekly", D(2024, 3, 10), T(2024, 3, 4), "2024-03-04"),  # a Sunday belongs to the week of Monday the 4th
    ("monthly", D(2024, 2, 29), T(2024, 2, 1), "2024-02-01"),
    ("yearly", T(2019, 12, 31, 23, 0), T(2019, 1, 1), "2019-01-01"),
])
def test_a_moment_maps_to_its_partition_and_key(name, moment, start, key):
    rules = grain(name)
    assert rules.start_of(moment) == start
    assert rules.key(moment) == key
    assert rules.parse_key(key) == (start if name == "hourly" else start.date())
    assert rules.is_start(start) and not rules.is_start(start + dt.timedelta(minutes=30))


@pytest.mark.parametrize("name, start, after, before", [
    ("hourly", T(2024, 3, 10, 23), T(2024, 3, 11, 0), T(2024, 3, 10, 22)),
    ("daily", D(2024, 2, 28), D(2024, 2, 29), D(2024, 2, 27)),
    ("weekly", D(2024, 1, 1), D(2024, 1, 8), D(2023, 12, 25)),
    ("monthly", D(2024, 1, 1), D(2024, 2, 1), D(2023, 12, 1)),
    ("yearly", D(2019, 1, 1), D(2020, 1, 1), D(2018, 1, 1)),
])
def test_next_and_previous_partition(name, start, after, before):
    rules = grain(name)
    assert rules.next(start) == after
    assert rules.previous(start) == before
    assert rules.shift(start, 3) == rules.next(rules.next(rules.next(start)))
    assert type(rules.next(start)) is type(start)


def test_partitions_between_and_counted():
    yearly = grain("yearly")
    assert yearly.between(D(2017, 1, 1), D(2020, 1, 1)) == [D(2017, 1, 1), D(2018, 1, 1), D(2019, 1, 1)]
    assert yearly.count_between(D(2017, 1, 1), D(2019, 1, 1)) == 3
    assert yearly.count_between(D(2019, 1, 1), D(2017, 1, 1)) == 0
    assert grain("monthly").end_of(D(2024, 2, 1)) == T(2024, 3, 1)


@pytest.mark.parametrize("name, key, problem", [
    ("yearly", "2019-03-01", "does not start a yearly partition (that one starts 2019-01-01)"),
    ("weekly", "2024-03-10", "does not start a weekly partition (that one starts 2024-03-04)"),
    ("hourly", "2024-03-10", "is not a hourly partition key (like '2024-01-01-00:00')"),
    ("daily", "2024-3-1x", "is not a daily partition key"),
    # Dagster names the repeated hour of a clock change apart; the grain stores local wall hours
    ("hourly", "2024-10-27-02:00+0100", "is the second pass of an hour the clock change repeats"),
])
def test_a_key_that_starts_no_partition_is_refused(name, key, problem):
    with pytest.raises(GrainError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        grain(name).parse_key(key)


@pytest.mark.parametrize("name, window, partitions", [
    ("daily", 28, 28),
    ("daily", "28 days", 28),
    ("daily", "2 weeks", 14),
    ("daily", "48 hours", 2),
    ("hourly", "1 day", 24),
    ("weekly", "28 days", 4),
    ("weekly", "3 partitions", 3),
    ("monthly", "1 year", 12),
    ("monthly", "6 months", 6),
    ("yearly", "3 years", 3),
    ("yearly", "24 months", 2),
    ("yearly", "1 year", 1),
])
def test_windows_convert_to_whole_partitions(name, window, partitions):
    assert grain(name).partitions_in(window) == partitions


@pytest.mark.parametrize("name, window, problem", [
    ("weekly", "10 days", "is not a whole number of weeks (1.42857)"),
    ("yearly", "18 months", "is not a whole number of years (1.5)"),
    ("monthly", "28 days", "a monthly dataset counts calendar months and years; days have no fixed number of months"),
    ("daily", "1 year", "a daily dataset counts hours, days and weeks; years have no fixed number of days"),
    ("daily", "a fortnight", "not a number of partitions or a duration"),
    ("daily", -1, "must be 0 or more partitions"),
])
def test_a_window_that_is_no_whole_number_of_partitions_is_refused(name, window, problem):
    with pytest.raises(GrainError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        grain(name).partitions_in(window)


@pytest.mark.parametrize("name", [name for name, rules in GRAINS.items() if rules.partitioned])
def test_the_sql_partition_agrees_with_python(name):
    """Replay and the rows-in-partition gate map rows in SQL; the platform reasons in Python: one answer."""
    rules = grain(name)
    con = duckdb.connect()
    moments = [T(2023, 12, 31, 23, 30), T(2024, 1, 1), T(2024, 2, 29, 12), T(2024, 3, 10, 1), T(2024, 12, 30, 5)]
    for moment in moments:
        in_sql = con.execute(f"SELECT {rules.start_sql('CAST(? AS TIMESTAMP)')}", [moment]).fetchall()[0][0]
        assert in_sql == rules.partition_of(moment), moment


def test_an_unknown_grain_is_named():
    with pytest.raises(GrainError, match="unknown grain 'fortnightly'; known: hourly, daily, weekly, monthly, yearly, none"):
        grain("fortnightly")


@pytest.mark.parametrize("name, start, stem, label, literal", [
    ("hourly", T(2024, 3, 10, 14), "2024-03-10T14", "2024-03-10T14:00", "TIMESTAMP '2024-03-10 14:00:00'"),
    ("daily", D(2024, 3, 10), "2024-03-10", "2024-03-10", "DATE '2024-03-10'"),
    ("yearly", D(2019, 1, 1), "2019-01-01", "2019-01-01", "DATE '2019-01-01'"),
])
def test_a_partition_is_named_the_same_way_by_the_landing_writer_and_reader(name, start, stem, label, literal):
    rules = grain(name)
    assert rules.file_stem(start) == stem and ":" not in stem  # portable file names
    assert rules.parse_file_stem(stem) == start and type(rules.parse_file_stem(stem)) is type(start)
    assert rules.label(start) == rules.label_of(label) == label
    assert rules.literal_sql(start) == literal
    assert duckdb.connect().execute(f"SELECT {literal}").fetchall()[0][0] == start or name != "hourly"


@pytest.mark.parametrize("stem", ["2024-03-10T14:00", "2024-03-10T4", "2024-03-10 14", "2024-03-10", "2024-3-10T14"])
def test_a_landing_name_not_in_the_hourly_format_names_no_partition(stem):
    assert grain("hourly").parse_file_stem(stem) is None


def test_a_day_read_back_from_a_timestamp_column_is_a_day():
    """The catalog stores every partition start as a TIMESTAMP: a date grain reads midnight as its date."""
    assert grain("daily").as_start(T(2024, 3, 10)) == D(2024, 3, 10)
    assert type(grain("monthly").as_start(T(2024, 3, 1))) is dt.date
    assert grain("hourly").as_start(D(2024, 3, 10)) == T(2024, 3, 10, 0)
    assert grain("hourly").as_start(T(2024, 3, 10, 5, tzinfo=dt.timezone.utc)).tzinfo is None
    assert grain("hourly").shift(D(2024, 3, 10), 30) == T(2024, 3, 11, 6)


@pytest.mark.parametrize("name, text, moment", [
    ("hourly", "2024-03-10T14", T(2024, 3, 10, 14)),
    ("hourly", "2024-03-10T14:30", T(2024, 3, 10, 14, 30)),
    ("hourly", "2024-03-10 14:00", T(2024, 3, 10, 14)),
    ("hourly", "2024-03-10-14:00", T(2024, 3, 10, 14)),  # a partition key as Dagster shows it
    ("hourly", "2024-03-10", D(2024, 3, 10)),
    ("daily", "2024-03-10", D(2024, 3, 10)),
])
def test_a_typed_moment_is_a_date_or_a_time(name, text, moment):
    assert grain(name).parse_moment(text) == moment


@pytest.mark.parametrize("name, text, problem", [
    ("daily", "2024-03-10T14", "names a time of day, but daily partitions are whole days"),
    ("hourly", "2024-03-10T25", "is not a date or time"),
    ("hourly", "yesterday", "is not a date or time (like '2024-03-10T14')"),
])
def test_a_typed_moment_that_means_nothing_here_is_refused(name, text, problem):
    with pytest.raises(GrainError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        grain(name).parse_moment(text)


def test_an_unpartitioned_dataset_is_one_partition_and_counts_no_durations():
    from mlops_assets.core.grain import UNPARTITIONED_START

    whole = grain("none")
    assert not whole.partitioned and whole.partition_of(T(2031, 5, 6, 7)) == UNPARTITIONED_START
    assert whole.shift(UNPARTITIONED_START, -7) == whole.next(UNPARTITIONED_START) == UNPARTITIONED_START
    assert whole.file_stem(UNPARTITIONED_START) == "current" and whole.parse_file_stem("current") == UNPARTITIONED_START
    assert whole.parse_file_stem("2024-01-01") is None
    assert duckdb.connect().execute(f"SELECT {whole.start_sql('now()')}").fetchall()[0][0] == UNPARTITIONED_START
    assert whole.partitions_in(7) == 7  # a default's number of partitions: the history is simply empty
    with pytest.raises(GrainError, match="an unpartitioned dataset has no partitions to count"):
        whole.partitions_in("7 days")
