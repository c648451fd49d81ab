"""A yearly dataset through Dagster, from the command line alone: a user's CSV with a ``year`` column
and no date is validated, replayed into yearly files, ingested in ranged runs of yearly partitions,
trained with the last two years held out, promoted, and a year is scored and drift-monitored."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from mlops_assets.cli import main as cli
from mlops_assets.core.spec import SPEC_ENV, load_spec
from mlops_assets.core.warehouse import connect
from mlops_assets_tests.survey_world import SURVEY_YEARS, write_survey

pytestmark = pytest.mark.integration


def test_a_yearly_survey_goes_from_its_csv_to_a_scored_champion(state, tmp_path, monkeypatch, capsys):
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.names import DatasetNames, ModelNames

    spec_path = write_survey(tmp_path / "survey")
    monkeypatch.setenv(SPEC_ENV, str(spec_path))  # --spec sets it; restored after the test
    spec = load_spec(spec_path)
    options = ["--spec", str(spec_path), "--state-dir", str(state.root)]

    survey, employed = DatasetNames.of(spec), ModelNames.of(spec)
    partitions = build_definitions(spec).resolve_job_def(survey.ingest_job).partitions_def
    assert partitions.get_partition_keys() == [f"{year}-01-01" for year in SURVEY_YEARS]

    assert cli.main([*options, "validate", str(spec_path)]) == 0
    assert cli.main([*options, "replay", "--start", "2012-01-01", "--days", "10"]) == 0
    assert cli.main([*options, "backfill", "--start", "2012-01-01", "--days", "10"]) == 0
    printed = capsys.readouterr().out
    # backfill_days_per_run: 4 years a run
    assert f"{survey.ingest_job} 2012-01-01..2015-01-01: ok" in printed
    assert f"{survey.ingest_job} 2020-01-01..2021-01-01: ok" in printed

    assert cli.main([*options, "train", "--trials", "1", "--holdout-days", "2"]) == 0
    printed = capsys.readouterr().out
    assert "champion: survey_employed version 1" in printed
    with connect(state.warehouse_path) as con:
        windows = con.execute("SELECT CAST(start_day AS DATE), CAST(end_day AS DATE) FROM training_snapshots").fetchall()
    assert windows == [(dt.date(2012, 1, 1), dt.date(2021, 1, 1))]

    assert cli.main([*options, "score", "--day", "2021-06-30"]) == 0  # any day of 2021 names its year
    printed = capsys.readouterr().out
    score_job = employed.job("score")
    assert f"{score_job} 2021-06-30: ok" not in printed and f"{score_job} 2021-01-01: ok" in printed

    with dg.DagsterInstance.get() as instance:
        drift = instance.fetch_materializations(employed.key("drift_report"), limit=1).records
    assert drift and drift[0].partition_key == "2021-01-01"


def test_the_landing_sensor_takes_years_and_ignores_a_file_inside_a_year(state, tmp_path):
    """Yearly files land in ranged runs of consecutive years; a file named by a day inside a year
    starts no partition, and Dagster would refuse its key, so the sensor leaves it alone."""
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.names import DatasetNames
    from mlops_assets.defs.resources import StateResource
    from mlops_assets.ingest.landing import landing_path, replay

    spec = load_spec(write_survey(tmp_path / "survey"))
    replay(spec, state, dt.date(2012, 1, 1), 6)
    landing_path(state, spec, dt.date(2013, 1, 1)).rename(landing_path(state, spec, dt.date(2013, 7, 1)))
    definitions = build_definitions(spec, StateResource(state_dir=str(state.root)))
    sensor = DatasetNames.of(spec).landing_sensor
    with dg.DagsterInstance.ephemeral() as instance, dg.build_sensor_context(
        instance=instance, definitions=definitions, resources=definitions.resources, sensor_name=sensor,
    ) as context:
        requests = definitions.resolve_sensor_def(sensor).evaluate_tick(context).run_requests
    spans = [(r.partition_key,) if r.partition_key else (r.tags["dagster/asset_partition_range_start"],
                                                         r.tags["dagster/asset_partition_range_end"])
             for r in requests]
    # 2013 is missing (its file is misnamed): 2012 alone, then 2014..2017 (4 years a run)
    assert spans == [("2012-01-01",), ("2014-01-01", "2017-01-01")]
