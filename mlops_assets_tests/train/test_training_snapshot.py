"""The training snapshot brings stale days up to the current spec (a feature added after the
features were built is rebuilt, in day order, and named) and holds the window's last days out whole
as the out-of-time test."""

from __future__ import annotations

import pytest

from mlops_assets.core.spec import DAY_COLUMN, load_spec
from mlops_assets.core.warehouse import connect
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.train.snapshot import build_training_snapshot, load_training_snapshot, read_split
from mlops_assets.train.window import TrainingDataError, TrainingWindow


def grown_spec(sensors):
    grown = sensors.spec_path.with_name("grown.yaml")
    grown.write_text(sensors.spec_path.read_text().replace(
        "features:\n",
        "feature_sql: |\n  SELECT b.device_id, b.ts, b.reading * 2 AS double_reading FROM base b\n"
        "features:\n  double_reading: {kind: numeric}\n", 1,
    ))
    return load_spec(grown)


def ingest_all(state, sensors, spec):
    for day in sensors.days:
        sensors.land(state, spec, day, sensors.rows(day))
        assert all(r.passed for r in ingest_and_featurize(spec, state, day))


def null_doubles(state, snapshot) -> int:
    with connect(state.warehouse_path) as con:
        return con.execute(f"SELECT count(*) FILTER (double_reading IS NULL) FROM {snapshot.qualified_table}").fetchall()[0][0]


def test_a_feature_added_without_rebuilding_the_features_is_built_before_training(state, sensors, sensor_spec):
    ingest_all(state, sensors, sensor_spec)
    spec = grown_spec(sensors)
    snapshot = build_training_snapshot(spec, state, TrainingWindow(sensors.days[0], sensors.days[-1], holdout_days=0))
    assert sorted(snapshot.rebuilt_days) == [d.isoformat() for d in sensors.days]
    assert snapshot.refused_days == {} and null_doubles(state, snapshot) == 0


def test_days_built_before_a_feature_was_declared_are_rebuilt_and_named(state, sensors, sensor_spec):
    """Once a later day is rebuilt with the grown spec the column exists, but the earlier days hold
    nulls in it: training rebuilds exactly those days and names them."""
    ingest_all(state, sensors, sensor_spec)
    spec = grown_spec(sensors)
    assert all(r.passed for r in ingest_and_featurize(spec, state, sensors.days[-1]))
    window = TrainingWindow(sensors.days[0], sensors.days[-1], holdout_days=0)
    snapshot = build_training_snapshot(spec, state, window)
    assert sorted(snapshot.rebuilt_days) == [d.isoformat() for d in sensors.days[:-1]]
    assert null_doubles(state, snapshot) == 0
    again = build_training_snapshot(spec, state, window)
    assert again.rebuilt_days == {} and again.content_hash == snapshot.content_hash


def _built(state, sensors, sensor_spec):
    for day in sensors.days:
        sensors.land(state, sensor_spec, day, sensors.rows(day))
        assert all(r.passed for r in ingest_and_featurize(sensor_spec, state, day))


def test_the_last_days_are_held_out_whole_and_the_hashed_split_covers_only_the_earlier_days(state, sensors, sensor_spec):
    _built(state, sensors, sensor_spec)
    window = TrainingWindow(sensors.days[0], sensors.days[-1], min_days=1, holdout_days=1)
    snapshot = build_training_snapshot(sensor_spec, state, window)
    last = sensors.days[-1].isoformat()
    assert snapshot.oot_days == [last]
    assert snapshot.in_period_days == [d.isoformat() for d in sensors.days[:-1]]
    assert set(snapshot.rows) == {"train", "validation", "test", "oot"} and snapshot.rows["oot"] > 0
    assert {str(d)[:10] for d in read_split(state, snapshot, "oot")[DAY_COLUMN]} == {last}
    for split in ("train", "validation", "test"):
        assert last not in {str(d)[:10] for d in read_split(state, snapshot, split)[DAY_COLUMN]}, split
    assert load_training_snapshot(state, sensor_spec.name, snapshot.content_hash).oot_days == [last]
    # 0 disables it: every day is split by the key hash, as before
    whole = build_training_snapshot(sensor_spec, state, TrainingWindow(sensors.days[0], sensors.days[-1], holdout_days=0))
    assert whole.oot_days == [] and "oot" not in whole.rows
    assert last in {str(d)[:10] for d in read_split(state, whole, "test")[DAY_COLUMN]}


def test_a_window_too_short_to_hold_out_is_refused_by_name(state, sensors, sensor_spec):
    _built(state, sensors, sensor_spec)
    window = TrainingWindow(sensors.days[0], sensors.days[-1], min_days=2, holdout_days=2)
    with pytest.raises(TrainingDataError) as raised:
        build_training_snapshot(sensor_spec, state, window)
    assert str(raised.value) == (
        "the window 2024-03-01..2024-03-03 has 3 gate-passed day(s): holding out the last 2 as the out-of-time "
        "test leaves 1 to train on (need at least 2); widen the window or lower holdout_days (0 disables the "
        "out-of-time test)"
    )
    with connect(state.warehouse_path) as con:
        assert con.execute("SELECT count(*) FROM training_snapshots").fetchall()[0][0] == 0
    with pytest.raises(ValueError, match="holdout_days must be 0 or more"):
        TrainingWindow(holdout_days=-1)
