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
