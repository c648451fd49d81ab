"""Dagster's partitions and the monitoring schedule follow the spec's grain (core.grain)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from mlops_assets.core.spec import load_spec
from mlops_assets.defs.common import partitions_definition
from mlops_assets_tests.survey_world import write_ledger, write_survey


def scheduled_partition(spec, when: dt.datetime) -> dg.RunRequest:
    """The run the monitoring schedule asks for at ``when``, in the definitions built from ``spec``."""
    from mlops_assets.definitions import build_definitions

    from mlops_assets.defs.names import ModelNames

    definitions = build_definitions(spec)
    schedule = definitions.get_schedule_def(ModelNames.of(spec).daily_monitoring_schedule)
    context = dg.build_schedule_context(scheduled_execution_time=when, repository_def=definitions.get_repository_def())
    return schedule.evaluate_tick(context).run_requests[0]


@pytest.fixture
def survey_spec(tmp_path):
    return load_spec(write_survey(tmp_path / "survey"))


def test_the_partitions_are_the_grain_s_periods_named_by_their_first_day(spec, survey_spec, tmp_path):
    assert partitions_definition(survey_spec).get_partition_keys()[:3] == ["2012-01-01", "2013-01-01", "2014-01-01"]
    assert len(partitions_definition(survey_spec).get_partition_keys()) == 10
    ledger = load_spec(write_ledger(tmp_path / "ledger", [dt.date(2023, 1, 1)]))
    assert partitions_definition(ledger).get_partition_keys()[-2:] == ["2023-11-01", "2023-12-01"]
    daily = partitions_definition(spec).get_partition_keys()
    assert daily[:2] == ["2013-01-01", "2013-01-02"] and len(daily) == 365


@pytest.mark.parametrize("when, key", [
    (dt.datetime(2020, 3, 15, 6), "2019-01-01"),  # a yearly dataset scores last year
    (dt.datetime(2021, 1, 1, 6), "2020-01-01"),
])
def test_the_monitoring_schedule_scores_the_last_complete_partition(survey_spec, when, key):
    request = scheduled_partition(survey_spec, when)
    assert request.partition_key == key and request.run_key == f"score-{key}"


def test_an_hourly_dataset_s_partitions_and_schedule_are_hours_of_its_timezone(tmp_path):
    from mlops_assets_tests.hourly_world import write_rides

    rides = load_spec(write_rides(tmp_path / "rides", hours=1))
    partitions = partitions_definition(rides)
    assert partitions.timezone == "Europe/Paris" and partitions.get_partition_keys()[:2] == [
        "2024-03-10-00:00", "2024-03-10-01:00"]
    # 06:20 UTC is 07:20 in Paris: the last complete hour there is 06:00
    request = scheduled_partition(rides, dt.datetime(2024, 3, 11, 6, 20, tzinfo=dt.timezone.utc))
    assert request.partition_key == "2024-03-11-06:00" and request.run_key == "score-2024-03-11-06:00"


def test_a_daily_dataset_s_monitoring_schedule_still_scores_yesterday(spec):
    assert scheduled_partition(spec, dt.datetime(2013, 5, 2, 6)).partition_key == "2013-05-01"


def test_an_hourly_dataset_retrains_on_a_cadence_up_to_the_last_complete_hour(tmp_path):
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.names import ModelNames
    from mlops_assets_tests.hourly_world import write_rides

    rides = load_spec(write_rides(tmp_path / "rides", hours=1))
    definitions = build_definitions(rides)
    names = ModelNames.of(rides)
    schedule = definitions.get_schedule_def(names.weekly_retraining_schedule)
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2024, 3, 11, 6, 20, tzinfo=dt.timezone.utc),
                                        repository_def=definitions.get_repository_def(),
                                        resources=definitions.resources)
    request = schedule.evaluate_tick(context).run_requests[0]
    window = request.run_config["ops"][names.op("training_snapshot")]["config"]
    assert window["end_date"] == "2024-03-11T06:00:00"


def test_an_unpartitioned_dataset_is_scored_as_it_is_without_a_partition(tmp_path):
    from mlops_assets_tests.unpartitioned_world import write_stations

    stations = load_spec(write_stations(tmp_path / "stations"))
    assert partitions_definition(stations) is None
    request = scheduled_partition(stations, dt.datetime(2024, 5, 2, 6))
    assert request.partition_key is None and request.run_key == "score-2024-05-02T06:00:00"


@pytest.mark.parametrize("world, landed, expected", [
    ("hourly", 3, [("2024-03-10-00:00", "2024-03-10-02:00")]),
    ("none", 1, [None]),
])
def test_the_landing_sensor_asks_for_hours_or_for_the_table(state, tmp_path, world, landed, expected):
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.names import DatasetNames
    from mlops_assets.defs.resources import StateResource
    from mlops_assets.ingest.landing import replay
    from mlops_assets_tests.hourly_world import RIDES_FIRST_HOUR, write_rides
    from mlops_assets_tests.unpartitioned_world import write_stations

    spec = load_spec(write_rides(tmp_path / "rides", hours=3) if world == "hourly" else write_stations(tmp_path / "s"))
    assert len(replay(spec, state, RIDES_FIRST_HOUR, landed)) == landed
    definitions = build_definitions(spec, StateResource(state_dir=str(state.root)))
    sensor = DatasetNames.of(spec).landing_sensor
    with dg.DagsterInstance.ephemeral() as instance, dg.build_sensor_context(
        instance=instance, definitions=definitions, resources=definitions.resources, sensor_name=sensor,
    ) as context:
        requests = definitions.resolve_sensor_def(sensor).evaluate_tick(context).run_requests
    spans = [r.partition_key if not r.tags.get("dagster/asset_partition_range_start") else
             (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
             for r in requests]
    assert spans == expected
