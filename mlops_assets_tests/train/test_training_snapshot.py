"""The training snapshot refuses stored features that no longer match the spec, naming what to run."""

from __future__ import annotations

import pytest

from mlops_assets.core.spec import load_spec
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.train.snapshot import TrainingDataError, TrainingWindow, build_training_snapshot


def test_a_feature_added_without_rebuilding_the_features_names_the_command(state, sensors, sensor_spec):
    for day in sensors.days:
        sensors.land(state, sensor_spec, day, sensors.rows(day))
        assert all(r.passed for r in ingest_and_featurize(sensor_spec, state, day))
    grown = sensors.spec_path.with_name("grown.yaml")
    grown.write_text(sensors.spec_path.read_text().replace(
        "features:\n",
        "feature_sql: |\n  SELECT b.device_id, b.ts, b.reading * 2 AS double_reading FROM base b\n"
        "features:\n  double_reading: {kind: numeric}\n", 1,
    ))
    spec = load_spec(grown)
    with pytest.raises(TrainingDataError) as raised:
        build_training_snapshot(spec, state, TrainingWindow(sensors.days[0], sensors.days[-1]))
    assert str(raised.value).startswith(
        "the spec's column(s) ['double_reading'] are not in the stored features of sensors: the spec changed "
        "after the features were built. Rebuild the features of the training days, e.g. "
        "`dagster asset materialize -m mlops_assets.definitions --select sensors_features --partition 2024-03-01`"
    )


def test_days_built_before_a_feature_was_declared_are_named(state, sensors, sensor_spec):
    """Once a later day is rebuilt with the grown spec the column exists, but the earlier days hold
    nulls in it: training names those days rather than learning from a column of nulls."""
    for day in sensors.days:
        sensors.land(state, sensor_spec, day, sensors.rows(day))
        assert all(r.passed for r in ingest_and_featurize(sensor_spec, state, day))
    grown = sensors.spec_path.with_name("grown.yaml")
    grown.write_text(sensors.spec_path.read_text().replace(
        "features:\n",
        "feature_sql: |\n  SELECT b.device_id, b.ts, b.reading * 2 AS double_reading FROM base b\n"
        "features:\n  double_reading: {kind: numeric}\n", 1,
    ))
    spec = load_spec(grown)
    assert all(r.passed for r in ingest_and_featurize(spec, state, sensors.days[-1]))
    window = TrainingWindow(sensors.days[0], sensors.days[-1])
    with pytest.raises(TrainingDataError) as raised:
        build_training_snapshot(spec, state, window)
    assert str(raised.value).startswith(
        "feature(s) with no value on days built before the spec declared them: double_reading on 2024-03-01, "
        "2024-03-02. Rebuild the features of the training days, e.g. `dagster asset materialize "
        "-m mlops_assets.definitions --select sensors_features --partition 2024-03-01`"
    )
    for day in sensors.days[:2]:
        assert all(r.passed for r in ingest_and_featurize(spec, state, day))
    assert build_training_snapshot(spec, state, window).days.keys() == {d.isoformat() for d in sensors.days}
