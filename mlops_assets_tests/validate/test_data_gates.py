"""The data gates on snapshots built from files the tests drop into the landing zone: each broken
rule fails its gate, naming the column, what was observed, and a few offending rows."""

from __future__ import annotations

import csv
import datetime as dt
import re

import pytest

from mlops_assets.core import verdicts
from mlops_assets.validate.data_gates import (
    DATA_GATES,
    RAW_ASSET,
    accepted_hashes,
    check_null_rates,
    check_row_count,
    check_rows_in_partition,
    check_schema,
    check_unique_entity_key,
)
from mlops_assets.ingest.snapshots import IngestionError, current_snapshot, ingest_day, snapshot_versions
from mlops_assets.ingest.landing import landing_path
from mlops_assets.core.verdicts import GateResult
from mlops_assets.core.spec import load_spec
from mlops_assets.core.warehouse import connect

DAY = dt.date(2024, 3, 4)


def run_gate(layout, spec, day, gate):
    snapshot = ingest_day(spec, layout, day)
    with connect(layout.warehouse_path) as con:
        return gate(con, spec, snapshot)


def failure_for(result: GateResult, column: str):
    matching = [f for f in result.failures if f.column == column]
    assert matching, f"no failure names {column!r}: {result.summary}"
    return matching[0]


def accept(layout, spec, day, *, passed: bool = True) -> None:
    """Ingest the landed day and record a verdict for every data gate, as the checks would."""
    snapshot = ingest_day(spec, layout, day)
    with connect(layout.warehouse_path) as con:
        for name in DATA_GATES:
            verdicts.record(
                con, dataset=spec.name, asset=RAW_ASSET, day=day, content_hash=snapshot.content_hash,
                result=GateResult(name, passed, "recorded by the test"), run_id=None,
            )


# -- a clean day ------------------------------------------------------------------------------------


def test_a_clean_day_passes_every_gate(state, sensors, sensor_spec, gate):
    sensors.land(state, sensor_spec, DAY, sensors.rows(DAY))
    snapshot, results = gate(sensor_spec, state, DAY)
    assert snapshot.rows == 50 and snapshot.is_new
    assert {name: r.passed for name, r in results.items()} == {name: True for name in DATA_GATES}
    assert results["check_null_rates"].stats["null_rate.reading"] == 0.0
    assert results["check_unique_entity_key"].stats == {"duplicated_keys": 0, "keys_held_by_other_days": 0}
    with connect(state.warehouse_path) as con:
        assert accepted_hashes(con, sensor_spec, DAY, DAY + dt.timedelta(days=1)) == {DAY: snapshot.content_hash}


def test_real_flight_days_pass_every_gate(state, spec, land_flights, flight_days, gate):
    land_flights(flight_days[0])
    snapshot, results = gate(spec, state, flight_days[0])
    assert snapshot.rows == 842  # flights that departed NYC on 2013-01-01
    assert all(r.passed for r in results.values()), {n: r.summary for n, r in results.items()}


# -- check_schema ------------------------------------------------------------------------------------


def test_wrong_type_fails_schema_naming_column_and_rows(state, spec, land_flights, flight_days):
    (path,) = land_flights(flight_days[0])
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    broken = {3, 10, 20}
    for index in broken:
        rows[index]["distance"] = "abc"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    result = run_gate(state, spec, flight_days[0], check_schema)
    assert not result.passed
    failure = failure_for(result, "distance")
    assert "coerce_dtype" in failure.rule
    assert failure.observed.startswith("3 failing value(s), e.g. abc")
    assert failure.expected == "values of type int"
    assert "column 'distance'" in result.summary
    # the samples are the very rows that were broken, identified by their entity key
    expected_keys = {(rows[i]["carrier"], rows[i]["flight"], rows[i]["origin"]) for i in broken}
    assert len(failure.samples) == 3
    assert {(s["carrier"], str(s["flight"]), s["origin"]) for s in failure.samples} == expected_keys
    assert all(s["distance"] == "abc" for s in failure.samples)


def test_wrong_type_in_a_users_column(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    rows[7]["reading"] = "n/a"
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_schema)
    failure = failure_for(result, "reading")
    assert failure.expected == "values of type float"
    assert failure.samples == [{"device_id": rows[7]["device_id"], "ts": rows[7]["ts"], "reading": "n/a"}]


def test_out_of_range_values_fail_schema(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    rows[2]["reading"] = 151.5
    rows[9]["reading"] = -60
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_schema)
    assert not result.passed
    rules = {(f.column, f.expected): f for f in result.failures}
    too_high = rules[("reading", "<= 150")]
    too_low = rules[("reading", ">= -50")]
    assert "151.5" in too_high.observed and "-60" in too_low.observed
    assert [s["device_id"] for s in too_high.samples] == [rows[2]["device_id"]]
    assert [s["device_id"] for s in too_low.samples] == [rows[9]["device_id"]]
    assert len(result.failures) == 2


def test_values_outside_the_allowed_set_fail_schema(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    rows[4]["site"] = "west"
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_schema)
    failure = failure_for(result, "site")
    assert "isin" in failure.rule and "west" in failure.observed
    assert failure.expected == "one of ['north', 'south', 'east']"
    assert failure.samples[0]["site"] == "west"


def test_missing_column_fails_schema(state, sensors, sensor_spec):
    sensors.land(state, sensor_spec, DAY, sensors.rows(DAY), fields=["ts", "device_id", "reading", "outcome"])
    result = run_gate(state, sensor_spec, DAY, check_schema)
    failure = failure_for(result, "site")
    assert (failure.rule, failure.observed, failure.expected) == ("column present", "missing", "a string column")
    assert len(result.failures) == 1


def test_extra_column_fails_schema(state, sensors, sensor_spec):
    rows = [{**row, "firmware": "1.2"} for row in sensors.rows(DAY)]
    sensors.land(state, sensor_spec, DAY, rows, fields=[*rows[0]])
    result = run_gate(state, sensor_spec, DAY, check_schema)
    failure = failure_for(result, "firmware")
    assert failure.rule == "no undeclared columns"
    assert "unexpected column of type" in failure.observed
    assert len(result.failures) == 1


# -- check_null_rates ----------------------------------------------------------------------------------


def test_null_burst_fails_naming_column_and_rate(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    for row in rows[:15]:  # 30% blank readings; the spec allows 10%
        row["reading"] = None
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_null_rates)
    assert not result.passed
    failure = failure_for(result, "reading")
    assert failure.observed == "30.00% nulls"
    assert failure.expected == "at most 10.00%"
    assert len(failure.samples) == sensor_spec.quality.failure_samples
    assert all(sample["reading"] is None for sample in failure.samples)
    assert result.stats["null_rate.reading"] == pytest.approx(0.3)
    assert [f.column for f in result.failures] == ["reading"]


def test_nulls_under_the_ceiling_pass(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    for row in rows[:5]:  # exactly 10%
        row["reading"] = None
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_null_rates)
    assert result.passed
    assert result.stats["null_rate.reading"] == pytest.approx(0.1)


def test_a_column_of_the_default_ceiling(state, sensors, sensor_spec):
    """outcome sets max_null_rate 0; a single blank fails it."""
    rows = sensors.rows(DAY)
    rows[0]["outcome"] = None
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_null_rates)
    assert failure_for(result, "outcome").observed == "2.00% nulls"


# -- check_unique_entity_key ----------------------------------------------------------------------------


def test_duplicates_fail_with_samples(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    rows += [dict(rows[3]), dict(rows[3]), {**rows[8], "reading": 1.0}]
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_unique_entity_key)
    assert not result.passed
    failure = result.failures[0]
    assert failure.column == "device_id, ts"
    assert failure.observed == "2 keys duplicated (3 extra rows)"
    assert result.stats == {"duplicated_keys": 2, "keys_held_by_other_days": 0}
    assert failure.samples[0]["device_id"] == rows[3]["device_id"]
    assert failure.samples[0]["copies"] == 3
    assert failure.samples[1]["device_id"] == rows[8]["device_id"]
    assert failure.samples[1]["copies"] == 2


def device_keyed_spec(sensors, scope: str | None):
    """The sensors spec keyed by the device alone: unique within a day of 25 readings, not across days."""
    text = sensors.spec_path.read_text().replace("entity_key: [device_id, ts]\n", "entity_key: [device_id]\n")
    if scope is not None:
        text = text.replace("entity_key: [device_id]\n", f"entity_key: [device_id]\nentity_key_scope: {scope}\n")
    path = sensors.spec_path.with_name(f"device_keyed_{scope}.yaml")
    path.write_text(text)
    return load_spec(path)


def test_keys_held_by_another_days_accepted_snapshot_fail_naming_keys_and_day(state, sensors):
    spec = device_keyed_spec(sensors, scope=None)
    assert spec.entity_key_scope == "dataset"
    earlier = DAY - dt.timedelta(days=1)
    sensors.land(state, spec, earlier, sensors.rows(earlier, n=25))
    accept(state, spec, earlier)
    rows = sensors.rows(DAY, n=25)
    sensors.land(state, spec, DAY, rows)
    result = run_gate(state, spec, DAY, check_unique_entity_key)
    assert not result.passed
    failure = failure_for(result, "device_id")
    assert failure.observed == "25 keys already held by other days' accepted snapshots (e.g. 2024-03-03)"
    assert failure.samples[0] == {"device_id": "d00", "held_by_day": "2024-03-03"}
    assert result.stats == {"duplicated_keys": 0, "keys_held_by_other_days": 25}
    # the same day ingested again is a new version of that day, not another day holding its keys
    accept(state, spec, DAY)
    assert not run_gate(state, spec, earlier, check_unique_entity_key).passed
    sensors.land(state, spec, DAY, rows[:10])
    summary = run_gate(state, spec, DAY, check_unique_entity_key).summary
    assert "10 keys already held by other days' accepted snapshots (e.g. 2024-03-03)" in summary


def test_a_rejected_day_holds_no_keys_and_scope_partition_allows_repeats(state, sensors):
    spec = device_keyed_spec(sensors, scope=None)
    earlier = DAY - dt.timedelta(days=1)
    sensors.land(state, spec, earlier, sensors.rows(earlier, n=25))
    accept(state, spec, earlier, passed=False)
    sensors.land(state, spec, DAY, sensors.rows(DAY, n=25))
    assert run_gate(state, spec, DAY, check_unique_entity_key).passed
    accept(state, spec, earlier)
    assert not run_gate(state, spec, DAY, check_unique_entity_key).passed
    per_day = device_keyed_spec(sensors, scope="partition")
    result = run_gate(state, per_day, DAY, check_unique_entity_key)
    assert result.passed and result.summary == "every entity key appears once in the day"


# -- check_rows_in_partition ----------------------------------------------------------------------------


def test_a_row_from_another_day_fails(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    stray = sensors.rows(DAY + dt.timedelta(days=1))[0]
    rows.append(stray)
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_rows_in_partition)
    assert not result.passed
    failure = failure_for(result, "ts")
    assert failure.observed == "1 rows on other days"
    assert failure.expected == "all rows on 2024-03-04 (UTC)"
    assert [s["device_id"] for s in failure.samples] == [stray["device_id"]]
    assert str(failure.samples[0]["ts"]).startswith("2024-03-05")
    assert result.stats == {"rows_outside_day": 1}


def test_partition_day_is_the_local_day_of_the_spec_timezone(state, spec, land_flights, flight_days):
    """A flight at 23:59 New York time is 04:59 UTC the next day, and still belongs to its local day;
    moving the file to the UTC date's partition is caught."""
    (path,) = land_flights(flight_days[0])
    moved = landing_path(state, spec, flight_days[1])
    path.rename(moved)
    result = run_gate(state, spec, flight_days[1], check_rows_in_partition)
    assert not result.passed
    assert result.stats["rows_outside_day"] == 842  # every row is on 2013-01-01 local time


# -- check_row_count -----------------------------------------------------------------------------------


def land_history(state, sensors, spec, days: int, *, rows: int = 50):
    for offset in range(days, 0, -1):
        day = DAY - dt.timedelta(days=offset)
        sensors.land(state, spec, day, sensors.rows(day, rows))
        accept(state, spec, day)


def test_row_count_passes_by_rule_with_little_history(state, sensors, sensor_spec):
    land_history(state, sensors, sensor_spec, 2)
    sensors.land(state, sensor_spec, DAY, sensors.rows(DAY, 5))
    result = run_gate(state, sensor_spec, DAY, check_row_count)
    assert result.passed
    assert "only 2 earlier accepted days (< 3)" in result.summary
    assert result.stats == {"rows": 5, "trailing_partitions": 2}


def test_truncated_day_fails_against_the_trailing_median(state, sensors, sensor_spec):
    land_history(state, sensors, sensor_spec, 3)
    sensors.land(state, sensor_spec, DAY, sensors.rows(DAY, 10))
    result = run_gate(state, sensor_spec, DAY, check_row_count)
    assert not result.passed
    failure = result.failures[0]
    assert failure.rule == "row count against trailing median"
    assert failure.observed == "10 rows (0.20x the median 50 of 3 days)"
    assert failure.expected == "between 0.5x and 2x"
    assert result.stats["trailing_median_rows"] == 50
    assert result.stats["ratio_to_median"] == 0.2


def test_a_doubled_export_fails_and_a_normal_day_passes(state, sensors, sensor_spec):
    land_history(state, sensors, sensor_spec, 3)
    sensors.land(state, sensor_spec, DAY, sensors.rows(DAY, 101))
    assert not run_gate(state, sensor_spec, DAY, check_row_count).passed
    sensors.land(state, sensor_spec, DAY, sensors.rows(DAY, 45))
    result = run_gate(state, sensor_spec, DAY, check_row_count)
    assert result.passed
    assert result.stats["ratio_to_median"] == 0.9


def test_rejected_days_do_not_count_as_history(state, sensors, sensor_spec):
    land_history(state, sensors, sensor_spec, 2)
    rejected = DAY - dt.timedelta(days=3)
    sensors.land(state, sensor_spec, rejected, sensors.rows(rejected))
    accept(state, sensor_spec, rejected, passed=False)
    sensors.land(state, sensor_spec, DAY, sensors.rows(DAY, 10))
    result = run_gate(state, sensor_spec, DAY, check_row_count)
    assert result.passed  # only 2 accepted days: the comparison passes by rule
    assert result.stats["trailing_partitions"] == 2


def test_explicit_trailing_counts(state, sensors, sensor_spec):
    sensors.land(state, sensor_spec, DAY, sensors.rows(DAY, 50))
    snapshot = ingest_day(sensor_spec, state, DAY)
    with connect(state.warehouse_path) as con:
        assert check_row_count(con, sensor_spec, snapshot, [200, 210, 190]).stats["ratio_to_median"] == 0.25
        assert check_row_count(con, sensor_spec, snapshot, [50, 60, 40]).passed


# -- snapshots -------------------------------------------------------------------------------------


def test_snapshots_are_content_addressed(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    sensors.land(state, sensor_spec, DAY, rows)
    first = ingest_day(sensor_spec, state, DAY)
    sensors.land(state, sensor_spec, DAY, list(reversed(rows)))  # same rows, another order
    again = ingest_day(sensor_spec, state, DAY)
    assert again.content_hash == first.content_hash
    assert again.source_sha256 != first.source_sha256  # the file bytes did change
    assert (first.is_new, again.is_new) == (True, False)
    rows[0]["reading"] = 12.34
    sensors.land(state, sensor_spec, DAY, rows)
    changed = ingest_day(sensor_spec, state, DAY)
    assert changed.is_new and changed.content_hash != first.content_hash
    with connect(state.warehouse_path) as con:
        assert [s.content_hash for s in snapshot_versions(con, sensor_spec, DAY)] == [
            first.content_hash, changed.content_hash,
        ]
        assert current_snapshot(con, sensor_spec, DAY).content_hash == changed.content_hash
        old = con.execute(f"SELECT count(*) FROM {first.qualified_table}").fetchall()
        assert old == [(50,)]


def test_an_unreadable_file_is_refused_naming_it(state, sensors, sensor_spec):
    path = sensors.land(state, sensor_spec, DAY, sensors.rows(DAY))
    with open(path, "a") as handle:
        handle.write("2024-03-04 23:59:00,d01,1.0,north,ok,unexpected,extra\n")
    with pytest.raises(IngestionError, match="cannot read landing file .*2024-03-04.csv"):
        ingest_day(sensor_spec, state, DAY)
    with connect(state.warehouse_path) as con:
        assert current_snapshot(con, sensor_spec, DAY) is None


# -- what pandera alone lets through (the bad-input corpus, issue 5) ----------------------------------


def test_nan_and_infinity_fail_schema_naming_the_column(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    rows[3]["reading"] = "NaN"  # pandas would read it as a missing value, and skip the range check
    rows[5]["reading"] = "inf"
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_schema)
    failure = [f for f in result.failures if f.rule == "finite values"][0]
    assert failure.column == "reading"
    assert failure.observed == "2 NaN or infinite value(s), e.g. inf, nan"
    assert {s["device_id"] for s in failure.samples} == {rows[3]["device_id"], rows[5]["device_id"]}


def test_an_enormous_string_fails_schema_and_is_cut_in_the_summary(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    rows[6]["device_id"] = "y" * 50_000
    sensors.land(state, sensor_spec, DAY, rows)
    result = run_gate(state, sensor_spec, DAY, check_schema)
    failure = failure_for(result, "device_id")
    assert failure.rule == "string length"
    assert failure.observed == "1 value(s) longer than 10000 characters (longest 50000)"
    assert len(result.summary) < 1000
    assert failure.samples[0]["device_id"].endswith("... (50000 characters)")


def test_an_unreadable_timestamp_is_the_schema_gates_finding_only(state, sensors, sensor_spec):
    rows = sensors.rows(DAY)
    rows[12]["ts"] = "yesterday"
    sensors.land(state, sensor_spec, DAY, rows)
    snapshot = ingest_day(sensor_spec, state, DAY)
    with connect(state.warehouse_path) as con:
        assert not check_schema(con, sensor_spec, snapshot).passed
        assert check_rows_in_partition(con, sensor_spec, snapshot).passed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", r"the file is empty \(0 bytes\)", id="empty"),
        pytest.param(b"ts;device_id;reading;site;outcome\n2024-03-04 00:00:00;d01;1.0;north;ok\n",
                     r"separated by ';', but the spec's delimiter is ','", id="wrong-delimiter"),
        pytest.param(b"ts,device_id,reading,site,outcome\n2024-03-04 00:00:00,\"d01,1.0,north,ok\n",
                     r"line 2: unexpected end of data", id="unterminated-quote"),
        pytest.param(b"ts,device_id,reading,site,site\n2024-03-04 00:00:00,d01,1.0,north,ok\n",
                     r"the header line names 'site' twice \(fields 4 and 5\)", id="duplicated-header-name"),
        pytest.param(b"ts,device_id ,reading,site,outcome\n2024-03-04 00:00:00,d01,1.0,north,ok\n",
                     r"header name 'device_id ' \(field 2\) has leading or trailing spaces", id="header-trailing-space"),
        pytest.param(b"ts,device_id,,site,outcome\n2024-03-04 00:00:00,d01,1.0,north,ok\n",
                     r"header field 3 is empty", id="empty-header-name"),
    ],
)
def test_unreadable_files_are_refused_naming_the_problem(state, sensor_spec, content, message):
    path = landing_path(state, sensor_spec, DAY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(IngestionError, match=message):
        ingest_day(sensor_spec, state, DAY)
    with connect(state.warehouse_path) as con:
        assert current_snapshot(con, sensor_spec, DAY) is None


def test_a_ragged_last_row_is_not_taken_for_the_header(state, sensors, sensor_spec):
    """DuckDB's sniffer can pick a longer last row as the header and read zero rows; the header
    line is compared with what was read."""
    rows = [{**row, "site": "north"} for row in sensors.rows(DAY)]
    path = sensors.land(state, sensor_spec, DAY, rows)
    with open(path, "a") as handle:
        handle.write("2024-03-04 23:59:00,d01,1.0,north,ok,unexpected,extra\n")
    with pytest.raises(IngestionError, match=r"line 52 has 7 field\(s\), the header has 5"):
        ingest_day(sensor_spec, state, DAY)


def test_a_day_outside_the_partitions_is_refused(state, sensors, sensor_spec):
    day = dt.date(2024, 4, 2)
    sensors.land(state, sensor_spec, day, sensors.rows(day))
    with pytest.raises(IngestionError, match="outside the partitions of sensors"):
        ingest_day(sensor_spec, state, day)


# -- timestamps are read one way, and strings hold no control characters --------------------------------


def _respec(sensors, **replace: str):
    from mlops_assets.core.spec import load_spec

    text = sensors.spec_path.read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = sensors.spec_path.with_name("respec.yaml")
    path.write_text(text)
    return load_spec(path)


OTHER_TIMESTAMP_FORMATS = {
    "month-first": lambda t: t.strftime("%m/%d/%Y %H:%M:%S"),
    "day-first-dotted": lambda t: t.strftime("%d.%m.%Y %H:%M:%S"),
    "epoch-seconds": lambda t: str(int(t.replace(tzinfo=dt.timezone.utc).timestamp())),
    "month-name": lambda t: t.strftime("%b %d %Y %H:%M:%S"),
    "compact": lambda t: t.strftime("%Y%m%dT%H%M%S"),
    "unpadded": lambda t: f"{t.year}-{t.month}-{t.day} {t.hour}:{t.minute}:{t.second}",
    "twelve-hour": lambda t: t.strftime("%Y-%m-%d %I:%M:%S %p"),
}


@pytest.mark.parametrize("style", OTHER_TIMESTAMP_FORMATS, ids=list(OTHER_TIMESTAMP_FORMATS))
def test_a_timestamp_in_another_format_fails_the_schema_gate_only(state, sensors, sensor_spec, gate, style):
    """Every row in the format (so a sniffer could take the column for a timestamp, day first or
    month first), or one row: either way the schema gate names the column, the format and rows,
    and the typed snapshot is never read with a value it cannot turn."""
    restyle = OTHER_TIMESTAMP_FORMATS[style]
    every = [{**r, "ts": restyle(dt.datetime.fromisoformat(r["ts"]))} for r in sensors.rows(DAY)]
    for rows in (every, [*sensors.rows(DAY)[:-1], every[-1]]):
        sensors.land(state, sensor_spec, DAY, rows)
        _snapshot, results = gate(sensor_spec, state, DAY)
        assert {n for n, r in results.items() if not r.passed} == {"check_schema"}, {n: r.summary for n, r in results.items()}
        failure = failure_for(results["check_schema"], "ts")
        assert failure.rule == "timestamp format"
        assert failure.expected.startswith("ISO 8601: YYYY-MM-DD HH:MM[:SS[.ffffff]]")
        assert failure.samples and f"'{failure.samples[0]['ts']}'" in failure.observed


def test_naive_timestamps_are_local_time_in_the_spec_timezone(state, sensors):
    from mlops_assets.ingest.snapshots import typed_snapshot_sql

    spec = _respec(sensors, **{"timezone: UTC": "timezone: Europe/Berlin"})
    rows = sensors.rows(DAY)
    rows[0]["ts"] = "2024-03-04 00:30:00"       # local: 23:30 UTC the day before, still the 4th here
    rows[1]["ts"] = "2024-03-04T12:00:00Z"      # an offset is an instant, whatever the zone
    sensors.land(state, spec, DAY, rows)
    snapshot = ingest_day(spec, state, DAY)
    with connect(state.warehouse_path) as con:
        assert check_schema(con, spec, snapshot).passed
        assert check_rows_in_partition(con, spec, snapshot).passed
        typed = {row[0] for row in con.execute(
            f"SELECT CAST(ts AS VARCHAR) FROM ({typed_snapshot_sql(spec, snapshot)})"
        ).fetchall()}
    assert {"2024-03-03 23:30:00+00", "2024-03-04 12:00:00+00"} <= typed
    assert "2024-03-04 09:04:48+00" in typed  # 10:04:48 in Berlin (UTC+1 in March)


@pytest.mark.parametrize(
    "day, value, kind",
    [(dt.date(2024, 3, 10), "2024-03-10 02:30:00", "skipped"), (dt.date(2024, 11, 3), "2024-11-03 01:30:00", "repeated")],
)
def test_a_local_time_the_clock_skipped_or_repeated_fails_naming_the_row(state, sensors, day, value, kind):
    spec = _respec(sensors, **{"timezone: UTC": "timezone: America/New_York", "end_date: 2024-04-01": "end_date: 2025-01-01"})
    rows = sensors.rows(day)
    rows[20]["ts"] = value
    sensors.land(state, spec, day, rows)
    result = run_gate(state, spec, day, check_schema)
    failure = failure_for(result, "ts")
    assert failure.rule == "local time exists once in America/New_York"
    assert re.fullmatch(rf"\d local time\(s\) {kind} by the clock change, e\.g\. .*'{value}'.*", failure.observed)
    assert {"device_id": rows[20]["device_id"], "ts": value} in failure.samples
    assert all(sample["ts"].startswith(value[:13]) for sample in failure.samples)  # that hour, no other


def test_offsets_required_refuses_a_naive_timestamp(state, sensors):
    spec = _respec(sensors, **{"timezone: UTC}": "timezone: UTC, offsets: required}"})
    rows = [{**r, "ts": r["ts"] + "+00:00"} for r in sensors.rows(DAY)]
    sensors.land(state, spec, DAY, rows)
    assert run_gate(state, spec, DAY, check_schema).passed
    rows[3]["ts"] = rows[3]["ts"].removesuffix("+00:00")
    sensors.land(state, spec, DAY, rows)
    failure = failure_for(run_gate(state, spec, DAY, check_schema), "ts")
    assert (failure.rule, failure.observed) == ("UTC offset present", f"1 value(s) without a UTC offset, e.g. '{rows[3]['ts']}'")


@pytest.mark.parametrize("character", ["\x00", "\x1f", "\x7f", "\x1b", "\x85"])
def test_a_control_character_in_a_string_fails_the_schema_gate(state, sensors, sensor_spec, character):
    rows = sensors.rows(DAY)
    rows[5]["device_id"] = rows[5]["device_id"] + character
    sensors.land(state, sensor_spec, DAY, rows)
    failure = failure_for(run_gate(state, sensor_spec, DAY, check_schema), "device_id")
    assert (failure.rule, failure.observed) == ("no control characters", "1 value(s) holding control characters")
    assert failure.samples[0]["device_id"] == rows[5]["device_id"].encode("unicode_escape").decode("ascii")
