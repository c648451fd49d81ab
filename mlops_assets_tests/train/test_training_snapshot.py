"""A spec that gained a feature after the features were built: training rebuilds the stale days'
features under the current spec (in day order) and names them, instead of failing in the binder or
learning from a column of nulls."""

from __future__ import annotations

from mlops_assets.core.spec import load_spec
from mlops_assets.core.warehouse import connect
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.train.snapshot import TrainingWindow, build_training_snapshot


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
    snapshot = build_training_snapshot(spec, state, TrainingWindow(sensors.days[0], sensors.days[-1]))
    assert sorted(snapshot.rebuilt_days) == [d.isoformat() for d in sensors.days]
    assert snapshot.refused_days == {} and null_doubles(state, snapshot) == 0


def test_days_built_before_a_feature_was_declared_are_rebuilt_and_named(state, sensors, sensor_spec):
    """Once a later day is rebuilt with the grown spec the column exists, but the earlier days hold
    nulls in it: training rebuilds exactly those days and names them."""
    ingest_all(state, sensors, sensor_spec)
    spec = grown_spec(sensors)
    assert all(r.passed for r in ingest_and_featurize(spec, state, sensors.days[-1]))
    window = TrainingWindow(sensors.days[0], sensors.days[-1])
    snapshot = build_training_snapshot(spec, state, window)
    assert sorted(snapshot.rebuilt_days) == [d.isoformat() for d in sensors.days[:-1]]
    assert null_doubles(state, snapshot) == 0
    again = build_training_snapshot(spec, state, window)
    assert again.rebuilt_days == {} and again.content_hash == snapshot.content_hash
