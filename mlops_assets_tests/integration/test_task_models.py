"""A regression model and a multiclass model through Dagster's single-model definitions
(``build_definitions(spec.for_model(...))``): ingest, train, gate, promote, score with drift, and
measure live performance, each judged by its own task's gates and primary metric."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from mlops_assets_tests.conftest import outcomes_in_rows

from mlops_assets.core.paths import STATE_DIR_ENV, StateLayout
from mlops_assets.core.registry import model_name
from mlops_assets.core.spec import DEFAULT_SPEC_NAME, SPEC_ENV, load_spec
from mlops_assets.core.spec_sections import ModelSection
from mlops_assets.core.warehouse import connect
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.names import DatasetNames, ModelNames
from mlops_assets.defs.resources import ModelRegistryResource, StateResource
from mlops_assets.defs.runs import QUIET_RUN_CONFIG
from mlops_assets.gate.registry import gates_for
from mlops_assets.ingest.landing import landing_path, replay
from mlops_assets_tests.conftest import write_csv
from mlops_assets_tests.pipeline.test_task_lifecycles import MACHINES_START, MACHINES_YAML, machine_rows

pytestmark = pytest.mark.integration


@pytest.fixture
def layout(tmp_path, monkeypatch) -> StateLayout:
    root = (tmp_path / "state").resolve()
    layout = StateLayout(root).ensure()
    monkeypatch.setenv(STATE_DIR_ENV, str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(layout.dagster_home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", layout.mlflow_tracking_uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.delenv(SPEC_ENV, raising=False)
    return layout


def run_through_dagster(spec, layout: StateLayout, days: list[dt.date], holdout_days: int) -> dict:
    """Ingest every day, train on them all, then score and measure the first held-out day."""
    defs = build_definitions(spec, StateResource(state_dir=str(layout.root)))
    instance = dg.DagsterInstance.ephemeral()
    names = ModelNames.of(spec)

    def run(job: str, partition: dt.date | None = None, run_config: dict | None = None):
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, raise_on_error=False, partition_key=partition.isoformat() if partition else None,
            run_config={**QUIET_RUN_CONFIG, **(run_config or {})})
        assert result.success, f"{job} {partition or ''} failed"
        return result

    for day in days:
        run(DatasetNames.of(spec).ingest_job, day)
    train = run(names.train_job, run_config=names.run_config({
        "training_snapshot": {"start_date": days[0].isoformat(), "end_date": days[-1].isoformat(),
                              "min_days": 3, "holdout_days": holdout_days},
        "candidate_model": {"trials": 2, "max_rounds": 60},
    }))
    scored_day = days[-holdout_days]
    run(names.job("score"), scored_day)
    performance = run(names.job("performance"), scored_day)
    [measured] = performance.asset_materializations_for_node(names.op("live_performance"))
    return {
        "checks": {e.check_name: e for e in train.get_asset_check_evaluations()},
        "champion": ModelRegistryResource().registry(layout, model_name(spec)).champion(),
        "performance": measured.metadata,
        "day": scored_day,
    }


def test_a_flights_regressor_through_dagster(layout, flights_csv):
    (layout.cache_dir / flights_csv.name).symlink_to(flights_csv)
    flights = outcomes_in_rows(load_spec(DEFAULT_SPEC_NAME))
    spec = flights.for_model(ModelSection(name="nycflights_arrival_delay", target="arrival_delay_minutes",
                                          task="regression"))
    days = [item.day for item in replay(spec, layout, dt.date(2013, 1, 1), 8)]
    found = run_through_dagster(spec, layout, days, holdout_days=2)
    assert set(found["checks"]) >= set(gates_for("regression"))
    assert not set(found["checks"]) & set(gates_for("binary")), "a regressor is not judged by AUC gates"
    assert all(e.passed for name, e in found["checks"].items() if name in gates_for("regression")), {
        name: e.description for name, e in found["checks"].items()}
    assert found["champion"] is not None and found["champion"].version == "1"
    with connect(layout.warehouse_path) as con:
        metric, value, reference = con.execute(
            "SELECT metric, auc, reference_auc FROM performance_history WHERE day = ?", [found["day"]]).fetchall()[0]
        drift = con.execute("SELECT count(*) FROM drift_history WHERE feature = '__prediction__'").fetchall()[0][0]
    assert metric == "rmse" and value > 0 and reference > 0
    assert drift > 0  # the predicted delays drift-monitored like a binary model's probabilities


def test_a_multiclass_model_through_dagster(layout, tmp_path):
    folder = tmp_path / "machines"
    folder.mkdir()
    (folder / "machines.yaml").write_text(MACHINES_YAML)
    spec = load_spec(folder / "machines.yaml")
    days = [MACHINES_START + dt.timedelta(days=offset) for offset in range(6)]
    for day in days:
        write_csv(landing_path(layout, spec, day), machine_rows(day))
    found = run_through_dagster(spec, layout, days, holdout_days=2)
    assert all(e.passed for name, e in found["checks"].items() if name in gates_for("multiclass")), {
        name: e.description for name, e in found["checks"].items()}
    assert set(gates_for("multiclass")) <= set(found["checks"])
    assert found["champion"] is not None
    with connect(layout.warehouse_path) as con:
        metric, value = con.execute("SELECT metric, auc FROM performance_history").fetchall()[0]
        classes = {c for (c,) in con.execute("SELECT DISTINCT predicted_class FROM predictions_machines_state").fetchall()}
    assert metric == "log_loss" and value > 0
    assert classes <= {"ok", "warn", "fail"} and len(classes) >= 2
