"""Features, point in time: a day's trailing rates are computed from earlier accepted days only,
later data never changes an earlier day, no features come from a snapshot that failed a gate, and
the feature checks catch out-of-range values and leakage."""

from __future__ import annotations

import datetime as dt
import textwrap

import numpy as np
import pandas as pd
import pytest

from mlops_assets.core import verdicts
from mlops_assets.validate.data_gates import RAW_ASSET
from mlops_assets.features.checks import check_feature_schema, check_no_leakage
from mlops_assets.features.build import (
    FeatureError,
    build_features,
    current_feature_version,
    feature_query,
    features_table,
)
from mlops_assets.core.hashing import relation_sha256
from mlops_assets.ingest.snapshots import current_snapshot, ingest_day
from mlops_assets.ingest.landing import landing_path
from mlops_assets.core.spec import load_spec
from mlops_assets.core.verdicts import GateResult
from mlops_assets.core.warehouse import connect

TABLE = "features_nycflights"
RATES = ["carrier_late_rate_7d", "origin_late_rate_7d", "route_late_rate_28d"]


def day_features(layout, day: dt.date) -> pd.DataFrame:
    with connect(layout.warehouse_path) as con:
        frame = con.execute(f"SELECT * FROM {TABLE} WHERE _day = ?", [day]).df()
    return frame.sort_values(["carrier", "flight", "origin", "time_hour"]).reset_index(drop=True)


def day_hash(layout, day: dt.date) -> str:
    """sha256 of the rows stored for ``day`` (not the recorded version: what is really there)."""
    with connect(layout.warehouse_path) as con:
        return relation_sha256(con, f"(SELECT * FROM {TABLE} WHERE _day = DATE '{day.isoformat()}')")


def landed_frame(layout, spec, days) -> pd.DataFrame:
    """The raw landing CSVs of ``days``, read with pandas, with the day and the hand-made label."""
    parts = []
    for day in days:
        frame = pd.read_csv(landing_path(layout, spec, day), na_values=["NA", ""], keep_default_na=False)
        parts.append(frame.assign(day=day, late=frame.arr_delay.isna() | (frame.arr_delay > 15)))
    return pd.concat(parts, ignore_index=True)


def rewrite_day(layout, spec, day: dt.date, change) -> None:
    path = landing_path(layout, spec, day)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False)


def rebuild(spec, layout, gate, *days):
    for day in days:
        _snapshot, results = gate(spec, layout, day)
        assert all(r.passed for r in results.values()), {n: r.summary for n, r in results.items()}
        build_features(spec, layout, day)


# -- the feature rows ---------------------------------------------------------------------------------


def test_every_built_day_has_one_row_per_flight_with_the_label(built_flights, spec, flight_days):
    for day in flight_days:
        features = day_features(built_flights, day)
        raw = landed_frame(built_flights, spec, [day])
        assert len(features) == len(raw)
        assert set(features._day.dt.date) == {day}
        assert not features.duplicated(["carrier", "flight", "origin", "time_hour"]).any()
        # the label is the target rule applied to that flight's own outcome
        merged = features.merge(
            raw.assign(time_hour=pd.to_datetime(raw.time_hour, utc=True)),
            on=["carrier", "flight", "origin", "time_hour"], validate="one_to_one",
        )
        assert len(merged) == len(raw)
        assert (merged["late_x"] == merged["late_y"].astype(int)).all()
        # no outcome-side column reaches the table
        assert not set(spec.forbidden_columns) & set(features.columns)
        assert set(spec.features) <= set(features.columns)


def test_reference_tables_are_joined_point_in_time_by_hour(built_flights, flight_days):
    features = day_features(built_flights, flight_days[0])
    # weather is joined for the scheduled hour at the origin: most flights find a reading
    assert features.origin_temp.notna().mean() > 0.9
    assert features.sched_dep_hour.between(0, 24).all()
    assert set(features.day_of_week) == {2}  # 2013-01-01 was a Tuesday (ISO 2)


def test_trailing_rates_use_only_earlier_days(built_flights, spec, flight_days):
    first = day_features(built_flights, flight_days[0])
    assert first[RATES].isna().all().all()  # no history before the first day

    for day in flight_days[1:]:
        features = day_features(built_flights, day)
        earlier = landed_frame(built_flights, spec, [d for d in flight_days if d < day])

        def expected(group_by, window, min_rows=1):
            history = earlier[earlier.day >= day - dt.timedelta(days=window)]
            stats = history.groupby(group_by).late.agg(["mean", "count"])
            rates = stats["mean"].where(stats["count"] >= min_rows)
            keys = pd.MultiIndex.from_frame(features[group_by]) if len(group_by) > 1 else features[group_by[0]]
            return rates.reindex(keys).to_numpy(dtype=float)

        np.testing.assert_allclose(features.carrier_late_rate_7d.to_numpy(float), expected(["carrier"], 7))
        np.testing.assert_allclose(features.origin_late_rate_7d.to_numpy(float), expected(["origin"], 7))
        np.testing.assert_allclose(
            features.route_late_rate_28d.to_numpy(float), expected(["origin", "dest"], 28, min_rows=5)
        )
        # the rates are real numbers, not all NULL, and they differ from the day's own rate
        assert features.carrier_late_rate_7d.notna().mean() > 0.9
        assert features.route_late_rate_28d.isna().any()  # rare routes stay under min_rows


def test_a_days_own_outcomes_do_not_feed_its_trailing_rates(built_flights, spec, flight_days, gate):
    day = flight_days[2]
    before = day_features(built_flights, day)

    def everything_late(frame):
        frame["arr_delay"] = "120"

    rewrite_day(built_flights, spec, day, everything_late)
    rebuild(spec, built_flights, gate, day)
    after = day_features(built_flights, day)
    assert (after.late == 1).all() and not (before.late == 1).all()
    pd.testing.assert_frame_equal(after[RATES], before[RATES])


def test_later_data_never_changes_an_earlier_day(built_flights, spec, flight_days, gate):
    early, late_day = flight_days[1], flight_days[3]
    early_hash = day_hash(built_flights, early)
    with connect(built_flights.warehouse_path) as con:
        early_version = current_feature_version(con, spec, early)

    def no_delays(frame):
        frame["arr_delay"] = "-5"

    rewrite_day(built_flights, spec, late_day, no_delays)
    rebuild(spec, built_flights, gate, late_day, early)
    assert day_hash(built_flights, early) == early_hash
    with connect(built_flights.warehouse_path) as con:
        assert current_feature_version(con, spec, early) == early_version
    assert (day_features(built_flights, late_day).late == 0).all()


def test_earlier_data_does_change_a_later_day(built_flights, spec, flight_days, gate):
    """The counterpart of the test above: the hash does notice a change in real history."""
    first, second = flight_days[0], flight_days[1]
    before = day_features(built_flights, second)

    def everything_late(frame):
        frame["arr_delay"] = "120"

    rewrite_day(built_flights, spec, first, everything_late)
    rebuild(spec, built_flights, gate, first, second)
    after = day_features(built_flights, second)
    assert (after.carrier_late_rate_7d == 1.0).all()
    assert not before.carrier_late_rate_7d.eq(1.0).all()
    with connect(built_flights.warehouse_path) as con:
        inputs = con.execute(
            "SELECT arg_max(inputs_json, created_at) FROM feature_versions WHERE day = ?", [second]
        ).fetchall()[0][0]
        first_hash = current_snapshot(con, spec, first).content_hash
    assert f'"{first.isoformat()}": "{first_hash}"' in inputs


def test_history_skips_days_that_failed_their_gates(built_flights, spec, flight_days):
    """Day 1 is rejected: day 2's trailing rates then have no history at all."""
    first, second = flight_days[0], flight_days[1]
    with connect(built_flights.warehouse_path) as con:
        snapshot = current_snapshot(con, spec, first)
        verdicts.record(
            con, dataset=spec.name, asset=RAW_ASSET, day=first, content_hash=snapshot.content_hash,
            result=GateResult("check_null_rates", False, "rejected by the test"), run_id=None,
        )
    build = build_features(spec, built_flights, second)
    assert build.history_days == []
    assert day_features(built_flights, second)[RATES].isna().all().all()


def test_rebuilding_a_day_is_idempotent(built_flights, spec, flight_days):
    day = flight_days[3]
    before = day_hash(built_flights, day)
    build = build_features(spec, built_flights, day)
    assert day_hash(built_flights, day) == before
    assert build.history_days == flight_days[:3]
    assert build.rows == len(day_features(built_flights, day))
    with connect(built_flights.warehouse_path) as con:
        assert con.execute(f"SELECT count(*) FROM {TABLE} WHERE _day = ?", [day]).fetchall()[0][0] == build.rows
        assert current_feature_version(con, spec, day) == (build.content_hash, build.rows)


# -- refusals -------------------------------------------------------------------------------------


def test_no_features_from_a_snapshot_that_failed_a_gate(state, spec, land_flights, flight_days, gate):
    (path,) = land_flights(flight_days[0])
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[::3, "carrier"] = ""  # a null burst in a column that allows none
    frame.to_csv(path, index=False)
    _snapshot, results = gate(spec, state, flight_days[0])
    assert not results["check_null_rates"].passed
    with pytest.raises(FeatureError, match=r"has not passed its data gates.*check_null_rates: .*carrier"):
        build_features(spec, state, flight_days[0])
    with connect(state.warehouse_path) as con:
        assert current_feature_version(con, spec, flight_days[0]) is None
        tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert (TABLE,) not in tables


def test_no_features_from_a_snapshot_without_verdicts(state, spec, land_flights, flight_days):
    land_flights(flight_days[0])
    ingest_day(spec, state, flight_days[0])
    with pytest.raises(FeatureError, match="check_schema: no verdict recorded"):
        build_features(spec, state, flight_days[0])


def test_no_features_without_a_snapshot(state, spec, flight_days):
    with pytest.raises(FeatureError, match="no nycflights snapshot ingested for 2013-01-01"):
        build_features(spec, state, flight_days[0])


def test_a_later_failing_version_blocks_features(built_flights, spec, flight_days, gate):
    """A re-landed day whose new content fails keeps its old features but builds no new ones."""
    day = flight_days[3]
    before = day_hash(built_flights, day)

    def duplicate_first_row(frame):
        frame.loc[len(frame)] = frame.iloc[0]

    rewrite_day(built_flights, spec, day, duplicate_first_row)
    _snapshot, results = gate(spec, built_flights, day)
    assert not results["check_unique_entity_key"].passed
    with pytest.raises(FeatureError, match="check_unique_entity_key"):
        build_features(spec, built_flights, day)
    assert day_hash(built_flights, day) == before


# -- feature checks ---------------------------------------------------------------------------------


def test_built_days_pass_the_feature_checks(built_flights, spec, flight_days):
    with connect(built_flights.warehouse_path) as con:
        for day in flight_days:
            schema = check_feature_schema(con, spec, day)
            leakage = check_no_leakage(con, spec, day)
            assert schema.passed, schema.summary
            assert leakage.passed, leakage.summary
            aucs = {k: v for k, v in leakage.stats.items() if k.startswith("single_feature_auc.")}
            assert aucs and max(aucs.values()) < 0.98


def test_out_of_range_feature_fails_the_schema_check(built_flights, spec, flight_days):
    day = flight_days[1]
    with connect(built_flights.warehouse_path) as con:
        con.execute(
            f"UPDATE {TABLE} SET distance = 99999 WHERE _day = ? AND flight = "
            f"(SELECT min(flight) FROM {TABLE} WHERE _day = ?)",
            [day, day],
        )
        result = check_feature_schema(con, spec, day)
        other_day = check_feature_schema(con, spec, flight_days[0])
    assert not result.passed
    (failure,) = result.failures
    assert (failure.column, failure.rule, failure.expected) == ("distance", "feature range", "<= 6000")
    assert failure.samples and all(s["distance"] == 99999 for s in failure.samples)
    assert other_day.passed


def test_a_null_burst_in_a_feature_fails_the_schema_check(built_flights, spec, flight_days):
    day = flight_days[1]
    with connect(built_flights.warehouse_path) as con:
        con.execute(f"UPDATE {TABLE} SET sched_dep_hour = NULL WHERE _day = ? AND flight % 2 = 0", [day])
        result = check_feature_schema(con, spec, day)
    failure = [f for f in result.failures if f.column == "sched_dep_hour"][0]
    assert failure.rule == "null rate ceiling" and failure.expected == "at most 0.00%"


def test_a_forbidden_column_in_the_feature_table_is_leakage(built_flights, spec, flight_days):
    with connect(built_flights.warehouse_path) as con:
        con.execute(f"ALTER TABLE {TABLE} ADD COLUMN arr_delay BIGINT")
        result = check_no_leakage(con, spec, flight_days[0])
    assert not result.passed
    assert [(f.column, f.rule) for f in result.failures] == [("arr_delay", "no forbidden column")]


def test_a_feature_that_tracks_the_label_is_leakage(built_flights, spec, flight_days):
    day = flight_days[2]
    with connect(built_flights.warehouse_path) as con:
        # an innocent-looking weather feature that is really the outcome in disguise
        con.execute(f"UPDATE {TABLE} SET origin_temp = 20 + 30 * late WHERE _day = ?", [day])
        leaky = check_no_leakage(con, spec, day)
        untouched = check_no_leakage(con, spec, flight_days[1])
    assert not leaky.passed
    (failure,) = leaky.failures
    assert failure.column == "origin_temp"
    assert failure.observed == "AUC 1.0000 on its own"
    assert leaky.stats["single_feature_auc.origin_temp"] == 1.0
    assert untouched.passed


def test_an_inverted_proxy_is_leakage_too(built_flights, spec, flight_days):
    day = flight_days[2]
    with connect(built_flights.warehouse_path) as con:
        con.execute(f"UPDATE {TABLE} SET plane_seats = 400 - 300 * late WHERE _day = ?", [day])
        result = check_no_leakage(con, spec, day)
    assert [f.column for f in result.failures] == ["plane_seats"]


def test_a_feature_whose_missingness_tracks_the_label_is_leakage(built_flights, spec, flight_days):
    day = flight_days[2]
    with connect(built_flights.warehouse_path) as con:
        con.execute(
            f"UPDATE {TABLE} SET origin_wind_gust = CASE WHEN late = 1 THEN 25 END WHERE _day = ?", [day]
        )
        result = check_no_leakage(con, spec, day)
    assert not result.passed


# -- a user's own dataset ----------------------------------------------------------------------------


def test_a_users_spec_without_feature_sql_builds_point_in_time_features(state, sensors, sensor_spec, gate):
    from mlops_assets.ingest.landing import replay

    replay(sensor_spec, state, sensors.days[0], 3)
    builds = {}
    for day in sensors.days:
        _snapshot, results = gate(sensor_spec, state, day)
        assert all(r.passed for r in results.values())
        builds[day] = build_features(sensor_spec, state, day)
    assert [b.rows for b in builds.values()] == [50, 50, 50]
    assert builds[sensors.days[2]].history_days == sensors.days[:2]
    with connect(state.warehouse_path) as con:
        table = features_table(sensor_spec)
        columns = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
        rates = dict(con.execute(
            f"SELECT DISTINCT site, site_failure_rate_2d FROM {table} WHERE _day = ?", [sensors.days[2]]
        ).fetchall())
        assert check_feature_schema(con, sensor_spec, sensors.days[2]).passed
    assert columns == ["_day", "device_id", "ts", "site", "reading", "site_failure_rate_2d", "failed"]
    raw = pd.concat([pd.DataFrame(sensors.rows(d)) for d in sensors.days[:2]])
    expected = (raw.outcome == "fail").groupby(raw.site).mean().to_dict()
    assert rates == pytest.approx(expected)


def test_trailing_window_drops_days_older_than_its_length(state, sensors, gate):
    """With a 3-day rate beside it, the 2-day rate of day 4 still reads days 2 and 3 only: day 1
    (all failures) is in the history but outside its window."""
    text = sensors.spec_path.read_text()
    text = text.replace(
        "  - {name: site_failure_rate_2d, group_by: [site], days: 2}\n",
        "  - {name: site_failure_rate_2d, group_by: [site], days: 2}\n"
        "  - {name: device_failure_rate_3d, group_by: [device_id], days: 3}\n",
    ).replace(
        "features:\n",
        "features:\n  device_failure_rate_3d: {kind: numeric, min: 0, max: 1, max_null_rate: 1.0}\n",
    )
    path = sensors.spec_path.with_name("two_rates.yaml")
    path.write_text(text)
    sensor_spec = load_spec(path)
    assert sensor_spec.max_trailing_partitions == 3
    days = [*sensors.days, sensors.days[-1] + dt.timedelta(days=1)]
    for index, day in enumerate(days):
        rows = sensors.rows(day)
        if index == 0:
            rows = [{**row, "outcome": "fail"} for row in rows]
        sensors.land(state, sensor_spec, day, rows)
        _snapshot, results = gate(sensor_spec, state, day)
        assert all(r.passed for r in results.values())
        build = build_features(sensor_spec, state, day)
    assert build.history_days == days[:3]  # history is read for the longest window...
    with connect(state.warehouse_path) as con:
        table = features_table(sensor_spec)
        rates = dict(con.execute(
            f"SELECT DISTINCT site, site_failure_rate_2d FROM {table} WHERE _day = ?", [days[3]]
        ).fetchall())
        device_rates = con.execute(
            f"SELECT min(device_failure_rate_3d), max(device_failure_rate_3d) FROM {table} WHERE _day = ?",
            [days[3]],
        ).fetchall()[0]
    raw = pd.concat([pd.DataFrame(sensors.rows(d)) for d in days[1:3]])
    expected = (raw.outcome == "fail").groupby(raw.site).mean().to_dict()
    assert rates == pytest.approx(expected)  # ...but the 2-day rate only averages its own 2 days
    assert max(rates.values()) < 1.0
    assert device_rates[0] >= 1 / 3  # every device failed on day 1, inside the 3-day window


def test_the_feature_query_reads_the_forbidden_column_only_inside_the_target_rule(sensor_spec):
    query = feature_query(sensor_spec, dt.date(2024, 3, 3))
    assert query.count("(outcome = 'fail')") == 1
    assert "outcome" not in query.replace("(outcome = 'fail')", "")
    assert "FROM labelled b" in query and "FROM history" in query


# -- feature SQL runs in a sandbox: no outcome-side column, no warehouse table ---------------------------


def _sensor_spec_with_sql(sensors, feature_sql: str, features: str, *, check_sql: bool = True, name="sql.yaml"):
    text = sensors.spec_path.read_text().replace(
        "features:\n", f"feature_sql: |\n{textwrap.indent(feature_sql, '  ')}\nfeatures:\n{features}", 1
    )
    path = sensors.spec_path.with_name(name)
    path.write_text(text)
    return load_spec(path, check_sql=check_sql)


def _build_day(state, sensors, spec, gate, day, rows=None):
    sensors.land(state, spec, day, rows or sensors.rows(day))
    _snapshot, results = gate(spec, state, day)
    assert all(r.passed for r in results.values())
    build_features(spec, state, day)
    with connect(state.warehouse_path) as con:
        return con.execute(f"SELECT * FROM {features_table(spec)} WHERE _day = ? ORDER BY ALL", [day]).df()


WHOLE_ROW_ROUTES = {
    "to_json": "to_json(b)::VARCHAR",
    "row-as-text": "CAST(b AS VARCHAR)",
    "row-hash": "md5(CAST(b AS VARCHAR))",
    "columns-star": "concat_ws('|', *COLUMNS(*))",
}


@pytest.mark.parametrize("route", WHOLE_ROW_ROUTES, ids=list(WHOLE_ROW_ROUTES))
def test_a_whole_row_in_feature_sql_never_holds_the_outcome(state, sensors, gate, route):
    """Whatever the SQL does with the row, the outcome is not in it: flipping every outcome of the
    day changes the label and nothing else (the SQL ends in a comment, which must not matter)."""
    spec = _sensor_spec_with_sql(
        sensors,
        f"SELECT b.device_id, b.ts, {WHOLE_ROW_ROUTES[route]} AS row_text FROM base b -- the whole row",
        "  row_text: {kind: categorical}\n",
    )
    day = sensors.days[0]
    first = _build_day(state, sensors, spec, gate, day)
    flipped = [{**r, "outcome": "ok" if r["outcome"] == "fail" else "fail"} for r in sensors.rows(day)]
    second = _build_day(state, sensors, spec, gate, day, flipped)
    assert not first["row_text"].str.contains("outcome|fail", regex=True).any()
    assert (first["failed"] != second["failed"]).all()
    pd.testing.assert_frame_equal(first.drop(columns="failed"), second.drop(columns="failed"))


def test_feature_sql_that_got_past_validation_still_cannot_read_the_warehouse(state, sensors, sensor_spec, gate):
    """A spec loaded without its SQL checks (as if validated on another database): a CTE that
    shadows the snapshot table's name, a schema-qualified name or a subquery finds nothing."""
    day = sensors.days[0]
    _build_day(state, sensors, sensor_spec, gate, day)
    with connect(state.warehouse_path) as con:
        snapshot = current_snapshot(con, sensor_spec, day)
        before = relation_sha256(con, features_table(sensor_spec))
    routes = [
        f"WITH {snapshot.table_name} AS (SELECT 1) SELECT s.device_id, s.ts, s.outcome AS leak "
        f"FROM snapshots.{snapshot.table_name} s",
        "SELECT b.device_id, b.ts, (SELECT max(content_hash) FROM raw_ingestions) AS leak FROM base b",
        "WITH base AS (SELECT * FROM features_sensors) SELECT device_id, ts, CAST(failed AS VARCHAR) AS leak FROM base",
        "SELECT b.device_id, b.ts, b['outcome'] AS leak FROM base b",
        "SELECT b.device_id, b.ts, struct_extract(b, 'outcome') AS leak FROM base b",
        "SELECT b.device_id, b.ts, (SELECT max(COLUMNS('outc.*')) FROM base) AS leak FROM base b",
    ]
    for index, sql in enumerate(routes):
        hostile = _sensor_spec_with_sql(sensors, sql, "  leak: {kind: categorical}\n", check_sql=False, name=f"h{index}.yaml")
        with pytest.raises(FeatureError, match=r"feature_sql cannot run on sensors 2024-03-01: .*feature SQL sees only base"):
            build_features(hostile, state, day)
    with connect(state.warehouse_path) as con:
        assert relation_sha256(con, features_table(sensor_spec)) == before


def test_a_categorical_copy_of_the_label_is_leakage_but_an_id_is_not(state, sensors, gate):
    spec = _sensor_spec_with_sql(
        sensors,
        "SELECT b.device_id, b.ts, CASE WHEN b.device_id < 'd05' THEN 'red' ELSE 'green' END AS band, "
        "b.device_id || strftime(b.ts, '%H%M%S') AS row_id FROM base b",
        "  band: {kind: categorical}\n  row_id: {kind: categorical}\n",
    )
    day = sensors.days[0]
    # the upstream's device status is the outcome under another name
    rows = [{**r, "outcome": "fail" if r["device_id"] < "d05" else "ok"} for r in sensors.rows(day, 300)]
    _build_day(state, sensors, spec, gate, day, rows)
    with connect(state.warehouse_path) as con:
        result = check_no_leakage(con, spec, day)
    assert [f.column for f in result.failures] == ["band"]
    assert result.failures[0].observed == (
        "AUC 1.0000 from its categories ordered by label rate (values with fewer than 20 rows pooled)"
    )
    # one row per value: every value pooled into one category, which predicts nothing
    assert "single_feature_auc.row_id" not in result.stats


def test_a_reference_tables_outcome_side_column_is_not_visible_either(sensors):
    """A lookup file that carries a column named like an outcome-side one: feature SQL cannot read it."""
    from mlops_assets.core.spec import SpecError

    (sensors.folder / "devices.csv").write_text("device_id,outcome,model\nd01,fail,x1\nd02,ok,x2\n")
    text = sensors.spec_path.read_text().replace(
        "features:\n",
        "reference_tables:\n  devices: {path: devices.csv}\n"
        "feature_sql: |\n  SELECT b.device_id, b.ts, d['outcome'] AS device_note FROM base b LEFT JOIN devices d USING (device_id)\n"
        "features:\n  device_note: {kind: categorical}\n", 1,
    )
    path = sensors.spec_path.with_name("lookup.yaml")
    path.write_text(text)
    with pytest.raises(SpecError, match=r'feature_sql: Binder Error: Could not find key "outcome" in struct'):
        load_spec(path)
    path.write_text(text.replace("d['outcome'] AS device_note", "d['model'] AS device_note"))
    assert load_spec(path).sql_feature_names == ["device_note"]


def sensor_spec_without_trailing_rates(sensors, *, declare_empty: bool):
    """The sensors spec minus its trailing rate: the ``trailing_rates`` block absent, or empty."""
    text = sensors.spec_path.read_text()
    text = text.replace("  site_failure_rate_2d: {kind: numeric, min: 0, max: 1, max_null_rate: 1.0}\n", "")
    text = text.replace("trailing_rates:\n  - {name: site_failure_rate_2d, group_by: [site], days: 2}\n",
                        "trailing_rates: []\n" if declare_empty else "")
    assert "site_failure_rate_2d" not in text
    path = sensors.spec_path.with_name("no_rates.yaml")
    path.write_text(text)
    return load_spec(path)


@pytest.mark.parametrize("declare_empty", [False, True], ids=["absent", "empty"])
def test_a_spec_without_trailing_rates_ingests_featurizes_and_trains(state, sensors, declare_empty):
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets.train.model import TuningBudget, train_candidate
    from mlops_assets.train.snapshot import build_training_snapshot, read_split
    from mlops_assets.train.window import TrainingWindow

    spec = sensor_spec_without_trailing_rates(sensors, declare_empty=declare_empty)
    assert spec.trailing_rates == []
    days = [*sensors.days, *(sensors.days[-1] + dt.timedelta(days=i) for i in range(1, 4))]
    for day in days:
        sensors.land(state, spec, day, sensors.rows(day, n=100))
        results = ingest_and_featurize(spec, state, day)
        assert all(r.passed for r in results), {r.check: r.summary for r in results}
    with connect(state.warehouse_path) as con:
        columns = [row[0] for row in con.execute(f"DESCRIBE {features_table(spec)}").fetchall()]
    assert columns == ["_day", "device_id", "ts", "site", "reading", "failed"]
    snapshot = build_training_snapshot(spec, state, TrainingWindow(days[0], days[-1], holdout_days=2))
    trained = train_candidate(
        read_split(state, snapshot, "train"), read_split(state, snapshot, "validation"), spec,
        TuningBudget(trials=1, max_rounds=10, early_stopping_rounds=3), log=lambda _: None,
    )
    assert trained.encoding.columns == ["reading", "site"]


def test_an_integer_coded_categorical_is_text_in_the_features_and_passes_their_schema(state, sensors):
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    path = sensors.spec_path.with_name("coded_sites.yaml")
    path.write_text(sensors.spec_path.read_text().replace(
        "site: {type: string, allowed: [north, south, east]", "site: {type: int, allowed: [1, 2, 3]"))
    spec = load_spec(path)
    for day in sensors.days:
        rows = [{**row, "site": ["north", "south", "east"].index(row["site"]) + 1} for row in sensors.rows(day)]
        sensors.land(state, spec, day, rows)
        results = ingest_and_featurize(spec, state, day)
        assert all(r.passed for r in results), {r.check: r.summary for r in results}
    with connect(state.warehouse_path) as con:
        kinds = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {features_table(spec)})").fetchall())
        sites = {row[0] for row in con.execute(f"SELECT DISTINCT site FROM {features_table(spec)}").fetchall()}
    assert kinds["site"] == "VARCHAR" and sites == {"1", "2", "3"}
