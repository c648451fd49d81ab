"""Three models in one code location, as ModelLifecycle components: a binary and a regression model
sharing the daily flights features, and a multiclass model on a yearly dataset the test writes (its
partition timestamp derived from a ``year`` column). Each ingests, trains, is gated, promoted,
scored and drift-monitored; one model's failing gate leaves every champion and every other model's
rows as they were."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from mlops_assets.core.registry import ModelRegistry
from mlops_assets.core.warehouse import connect
from mlops_assets.definitions import build_dataset_definitions, shared_definitions
from mlops_assets.defs.common import range_tags
from mlops_assets.defs.lifecycle import ModelLifecycle
from mlops_assets.defs.names import DatasetNames, ModelNames
from mlops_assets.defs.resources import StateResource
from mlops_assets.defs.runs import quiet
from mlops_assets.ingest.landing import replay
from mlops_assets.promote import ledger
from mlops_assets_tests.survey_world import HOUSING_YEARS, write_housing

pytestmark = pytest.mark.integration

FLIGHT_START, FLIGHT_DAYS = dt.date(2013, 1, 1), 12
MODELS = ("late_m", "delay_m", "tenure_m")


@pytest.fixture(scope="module")
def world(tmp_path_factory, flights_csv):
    root = (tmp_path_factory.mktemp("three_models") / "state").resolve()
    with pytest.MonkeyPatch.context() as mp:
        from mlops_assets.core.paths import STATE_DIR_ENV, StateLayout
        from mlops_assets.core.spec import SPEC_ENV

        layout = StateLayout(root).ensure()
        mp.setenv(STATE_DIR_ENV, str(root))
        mp.setenv("DAGSTER_HOME", str(layout.dagster_home))
        mp.setenv("MLFLOW_TRACKING_URI", layout.mlflow_tracking_uri)
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mp.delenv(SPEC_ENV, raising=False)
        (layout.cache_dir / flights_csv.name).symlink_to(flights_csv)
        housing = write_housing(root.parent / "housing")
        components = [
            ModelLifecycle.from_attributes_dict(attributes={"name": "late_m", "dataset": "nycflights"}),
            ModelLifecycle.from_attributes_dict(attributes={
                "name": "delay_m", "dataset": "nycflights", "target": "arrival_delay_minutes"}),
            ModelLifecycle.from_attributes_dict(attributes={"name": "tenure_m", "dataset": str(housing)}),
        ]
        specs = {c.name: c.model_spec() for c in components}
        datasets = {spec.name: spec for spec in specs.values()}
        defs = dg.Definitions.merge(
            *(dg.build_defs_for_component(c) for c in components),
            *(build_dataset_definitions(spec) for spec in datasets.values()),
            shared_definitions(StateResource(state_dir=str(root))),
        )
        instance = dg.DagsterInstance.ephemeral()
        yield layout, defs, instance, specs, datasets


def run(defs, instance, job: str, **kwargs) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kwargs)


def ledger_rows(layout, model: str) -> list:
    with connect(layout.warehouse_path) as con:
        return ledger.entries(con, model)


def champion(layout, model: str):
    return ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, model).champion()


@pytest.fixture(scope="module")
def trained(world):
    """Both datasets ingested in ranged runs, every model trained and scored on a held-out partition."""
    layout, defs, instance, specs, datasets = world
    flights, housing = datasets["nycflights"], datasets["housing"]
    flight_files = replay(flights, layout, FLIGHT_START, FLIGHT_DAYS)
    days = [f.day for f in flight_files if not f.labels]
    outcome_days = [f.day for f in flight_files if f.labels]  # the flights' outcomes land a day after them
    assert outcome_days == days[:-1]
    years = [f.day for f in replay(housing, layout, dt.date(HOUSING_YEARS[0], 1, 1), len(HOUSING_YEARS))]
    for dataset, landed in ((flights, days), (housing, years)):
        result = run(defs, instance, DatasetNames.of(dataset).ingest_job, tags=range_tags(landed[0], landed[-1]),
                     run_config=quiet())
        assert result.success, dataset.name
    labels = run(defs, instance, DatasetNames.of(flights).labels_job,
                 tags=range_tags(outcome_days[0], outcome_days[-1]), run_config=quiet())
    assert labels.success
    trainings = {}
    for model, spec in specs.items():
        names = ModelNames.of(spec)
        landed = days if spec.name == "nycflights" else years
        trainings[model] = run(defs, instance, names.train_job, run_config=quiet(names.run_config({
            "training_snapshot": {"start_date": landed[0].isoformat(), "end_date": landed[-2].isoformat(),
                                  "min_days": 3, "holdout_days": 2},
            "candidate_model": {"trials": 1, "max_rounds": 60},
        })))
        scored = run(defs, instance, names.job("score"), partition_key=landed[-1].isoformat(),
                     run_config=quiet(names.run_config({"drift_report": {"evidently_report": False}})))
        assert scored.success, model
    return trainings, days, years


def test_each_model_is_gated_promoted_scored_and_drift_monitored(world, trained):
    layout, defs, instance, specs, _ = world
    trainings, days, years = trained
    tasks = {model: spec.model.task for model, spec in specs.items()}
    assert tasks == {"late_m": "binary", "delay_m": "regression", "tenure_m": "multiclass"}
    with connect(layout.warehouse_path) as con:
        for model in MODELS:
            assert trainings[model].success, model
            checks = {e.check_name for e in trainings[model].get_asset_check_evaluations()}
            assert checks, model
            assert champion(layout, model).version == "1", model
            assert [(e.action, e.to_version) for e in ledger.entries(con, model)] == [("promote", "1")]
            scored_day = (days if specs[model].name == "nycflights" else years)[-1]
            rows = con.execute(f'SELECT count(*) FROM "predictions_{model}" WHERE _day = ?', [scored_day]).fetchall()
            assert rows[0][0] > 0, model
            drift = con.execute("SELECT count(DISTINCT feature) FROM drift_history WHERE model = ? AND day = ?",
                                [model, scored_day]).fetchall()[0][0]
            assert drift >= len(specs[model].features), model
    # each task's own gates judged it
    gates = {model: {e.check_name for e in trainings[model].get_asset_check_evaluations()} for model in MODELS}
    assert "check_min_quality" in gates["late_m"] and "check_min_r2" in gates["delay_m"]
    assert "check_min_macro_f1" in gates["tenure_m"]
    # the flights features were built once, for both flights models
    with connect(layout.warehouse_path) as con:
        builds = con.execute("SELECT day, count(*) FROM feature_versions WHERE dataset = 'nycflights' GROUP BY day").fetchall()
    assert builds and all(count == 1 for _, count in builds)


def test_one_models_failing_gate_touches_no_other_model(world, trained):
    layout, defs, instance, specs, _ = world
    _, days, _ = trained
    before = {model: (champion(layout, model).version, [e.recorded_at for e in ledger_rows(layout, model)])
              for model in MODELS}
    with connect(layout.warehouse_path) as con:
        predictions_before = con.execute('SELECT count(*), sum(score) FROM "predictions_late_m"').fetchall()
        drift_before = con.execute("SELECT model, count(*) FROM drift_history GROUP BY model ORDER BY model").fetchall()
    names = ModelNames("delay_m")
    refused = run(defs, instance, names.train_job, run_config={
        **quiet(names.run_config({
            "training_snapshot": {"start_date": days[0].isoformat(), "end_date": days[-1].isoformat(),
                                  "min_days": 3, "holdout_days": 2},
            "candidate_model": {"trials": 1, "max_rounds": 60},
        })),
        "resources": {names.gate_policy: {"config": {"min_r2": 0.99}}},  # no flights regressor reaches this
    })
    assert not refused.success
    failed = {e.check_name for e in refused.get_asset_check_evaluations() if not e.passed}
    assert "check_min_r2" in failed
    after = {model: (champion(layout, model).version, [e.recorded_at for e in ledger_rows(layout, model)])
             for model in MODELS}
    assert after == before  # every champion, and every ledger, as it was
    with connect(layout.warehouse_path) as con:
        assert con.execute('SELECT count(*), sum(score) FROM "predictions_late_m"').fetchall() == predictions_before
        assert con.execute("SELECT model, count(*) FROM drift_history GROUP BY model ORDER BY model").fetchall() == drift_before
