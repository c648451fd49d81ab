"""Datasets of other grains go through the lifecycle's plain functions with no pre-processing: a
yearly survey (a ``year`` column, no date) and a monthly ledger (timestamps in UTC, months in Paris)."""

from __future__ import annotations

import datetime as dt

import pytest

from mlops_assets.core.paths import StateLayout
from mlops_assets.core.spec import DAY_COLUMN, load_spec
from mlops_assets.core.spec_checks import source_type_problems
from mlops_assets.core.warehouse import connect
from mlops_assets.features.build import features_table
from mlops_assets.ingest.landing import landed_days, replay
from mlops_assets.ingest.snapshots import IngestionError
from mlops_assets.ingest.sources import source_column_types
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.train.snapshot import build_training_snapshot
from mlops_assets.train.window import TrainingWindow
from mlops_assets_tests.conftest import write_csv
from mlops_assets_tests.survey_world import (
    SURVEY_FIELDS, SURVEY_PEOPLE_PER_YEAR, SURVEY_YEARS, survey_rows, write_ledger, write_survey,
)

YEARS = [dt.date(year, 1, 1) for year in SURVEY_YEARS]


@pytest.fixture
def survey(tmp_path):
    spec = load_spec(write_survey(tmp_path / "survey"))
    return spec, StateLayout((tmp_path / "state").resolve()).ensure()


def test_a_yearly_survey_validates_and_replays_one_file_per_year(survey):
    spec, layout = survey
    assert source_type_problems(spec, source_column_types(spec, layout.cache_dir)) == []
    landed = replay(spec, layout, dt.date(2012, 6, 30), 3)  # any day of the first year names it
    assert [(item.day, item.rows) for item in landed] == [(day, SURVEY_PEOPLE_PER_YEAR) for day in YEARS[:3]]
    assert [path.name for _, path in landed_days(layout, spec)] == ["2012-01-01.csv", "2013-01-01.csv", "2014-01-01.csv"]


def test_a_yearly_survey_is_gated_featurized_trained_and_evaluated(survey, tmp_path):
    from mlops_assets.core.registry import ModelRegistry, model_name
    from mlops_assets.evaluate.settings import EvaluationSettings
    from mlops_assets.pipeline.train_model import evaluate_and_store, train_and_log
    from mlops_assets.train.tuning import TuningBudget

    spec, layout = survey
    replay(spec, layout, YEARS[0], len(YEARS))
    for year in YEARS:
        results = {r.check: r for r in ingest_and_featurize(spec, layout, year)}
        assert [name for name, r in results.items() if not r.passed] == [], year
    assert results["check_row_count"].stats["trailing_partitions"] == 5  # 5 years, not 5 days
    with connect(layout.warehouse_path) as con:
        rates = dict(con.execute(
            f"SELECT {DAY_COLUMN}, count(region_employment_3y) FROM {features_table(spec)} GROUP BY 1").fetchall())
    # the first year has no earlier years to average; every later one has (a 3-year window)
    assert rates[YEARS[0]] == 0 and all(rates[year] == SURVEY_PEOPLE_PER_YEAR for year in YEARS[1:])

    snapshot = build_training_snapshot(spec, layout, TrainingWindow(holdout_days=2, min_days=3))
    assert snapshot.oot_days == ["2020-01-01", "2021-01-01"]
    assert len(snapshot.in_period_days) == 8

    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", model_name(spec))
    handle, _ = train_and_log(
        spec, layout, registry, snapshot.content_hash, TuningBudget(trials=1, max_rounds=20, early_stopping_rounds=5),
        dagster_run_id="survey-run", trigger_reason="test", code_version="test", log=lambda _: None,
    )
    evaluation = evaluate_and_store(spec, layout, registry, handle, settings=EvaluationSettings(), run_id="survey-run")
    assert evaluation.metrics["auc"]["value"] > 0.6
    assert evaluation.oot_metrics["auc"]["value"] > 0.6


def test_last_n_partitions_of_a_yearly_survey_are_years(survey):
    spec, layout = survey
    replay(spec, layout, YEARS[0], len(YEARS))
    for year in YEARS:
        ingest_and_featurize(spec, layout, year)
    snapshot = build_training_snapshot(spec, layout, TrainingWindow(last_n_days=5, holdout_days=1))
    assert list(snapshot.days) == [f"{year}-01-01" for year in range(2017, 2022)]


def test_a_survey_row_of_another_year_fails_the_partition_gate(survey):
    spec, layout = survey
    rows = survey_rows(2012)
    rows[0] = {**rows[0], "year": 2013}
    write_csv(layout.landing_dir_for(spec.name) / "2012-01-01.csv", rows, SURVEY_FIELDS)
    failed = {r.check: r for r in ingest_and_featurize(spec, layout, YEARS[0]) if not r.passed}
    assert list(failed) == ["check_rows_in_partition"]
    failure = failed["check_rows_in_partition"].failures[0]
    assert failure.column == "timestamp.derive (make_date(year, 1, 1))"
    assert failure.observed == "1 rows on other years"


def test_a_survey_key_back_in_another_year_file_is_refused(survey):
    """The composite key (household, person, year) is unique across the dataset: the same person in
    a later year's file is a new row, the same key twice is not."""
    spec, layout = survey
    write_csv(layout.landing_dir_for(spec.name) / "2012-01-01.csv", survey_rows(2012), SURVEY_FIELDS)
    assert all(r.passed for r in ingest_and_featurize(spec, layout, YEARS[0]))
    write_csv(layout.landing_dir_for(spec.name) / "2013-01-01.csv", survey_rows(2013), SURVEY_FIELDS)
    assert all(r.passed for r in ingest_and_featurize(spec, layout, YEARS[1]))
    again = survey_rows(2014)
    again[0] = {**survey_rows(2012)[0]}  # the 2012 row itself, in a file of 2014
    write_csv(layout.landing_dir_for(spec.name) / "2014-01-01.csv", again, SURVEY_FIELDS)
    failed = [r.check for r in ingest_and_featurize(spec, layout, YEARS[2]) if not r.passed]
    assert "check_unique_entity_key" in failed


def test_a_day_inside_a_year_is_no_partition_to_ingest(survey):
    spec, layout = survey
    with pytest.raises(IngestionError, match="2013-07-01 does not start a yearly partition of survey "
                                             r"\(that one starts 2013-01-01\)"):
        ingest_and_featurize(spec, layout, dt.date(2013, 7, 1))


def test_a_monthly_ledger_partitions_by_the_month_of_its_timezone(tmp_path):
    months = [dt.date(2023, month, 1) for month in range(1, 9)]
    spec = load_spec(write_ledger(tmp_path / "ledger", months))
    layout = StateLayout((tmp_path / "state").resolve()).ensure()
    landed = replay(spec, layout, months[0], len(months))
    # the first payment of each month is the UTC evening before: Paris's month holds it
    assert [(item.day, item.rows) for item in landed] == [(month, 120) for month in months]
    for month in months:
        assert [r.check for r in ingest_and_featurize(spec, layout, month) if not r.passed] == [], month
    with connect(layout.warehouse_path) as con:
        history = con.execute(
            f"SELECT count(channel_dispute_rate_2m) FROM {features_table(spec)} WHERE {DAY_COLUMN} = DATE '2023-03-01'"
        ).fetchall()[0][0]
    assert history == 120
    snapshot = build_training_snapshot(spec, layout, TrainingWindow(last_n_days=6, holdout_days=1))
    assert list(snapshot.days) == [f"2023-{month:02d}-01" for month in range(3, 9)]
    assert snapshot.oot_days == ["2023-08-01"]


@pytest.mark.parametrize("scope, refused", [("dataset", True), ("partition", False)])
def test_a_person_back_every_year_is_one_key_per_year_only_when_the_scope_says_so(tmp_path, scope, refused):
    """Keyed by (household, person) alone, the survey's people come back every year: refused across
    the dataset, accepted with entity_key_scope: partition (unique within each year)."""
    folder = tmp_path / "survey"
    spec_path = write_survey(folder, SURVEY_YEARS[:2])
    spec_path.write_text(spec_path.read_text().replace(
        "entity_key: [household, person, year]", f"entity_key: [household, person]\nentity_key_scope: {scope}"))
    spec = load_spec(spec_path)
    layout = StateLayout((tmp_path / "state").resolve()).ensure()
    replay(spec, layout, YEARS[0], 2)
    assert all(r.passed for r in ingest_and_featurize(spec, layout, YEARS[0]))
    second = {r.check: r for r in ingest_and_featurize(spec, layout, YEARS[1])}
    assert (not second["check_unique_entity_key"].passed) is refused
    if refused:
        assert second["check_unique_entity_key"].stats["keys_held_by_other_days"] == SURVEY_PEOPLE_PER_YEAR


def test_a_window_too_short_to_hold_out_names_years(survey):
    from mlops_assets.train.window import TrainingDataError

    spec, layout = survey
    replay(spec, layout, YEARS[0], 3)
    for year in YEARS[:3]:
        ingest_and_featurize(spec, layout, year)
    with pytest.raises(TrainingDataError, match=r"has 3 gate-passed year\(s\): holding out the last 2 as the out-of-time "
                                                r"test leaves 1 to train on \(need at least 3\)"):
        build_training_snapshot(spec, layout, TrainingWindow(holdout_days=2, min_days=3))
    with pytest.raises(TrainingDataError, match=r"only 3 year\(s\) of survey features"):
        build_training_snapshot(spec, layout, TrainingWindow(holdout_days=0, min_days=4))
