"""A regression model and a multiclass model through the whole lifecycle with the plain functions:
snapshot -> train -> evaluate -> gates -> card -> promotion -> scoring -> live performance."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from mlops_assets.core.registry import ModelRegistry, model_name
from mlops_assets.core.spec import load_spec
from mlops_assets.core.spec_sections import ModelSection
from mlops_assets.core.warehouse import connect
from mlops_assets.evaluate.settings import EvaluationSettings
from mlops_assets.gate.registry import GateThresholds, gates_for
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.pipeline import ingest_day as day_pipeline
from mlops_assets.train.snapshot import build_training_snapshot
from mlops_assets.train.window import TrainingDataError, TrainingWindow
from mlops_assets.train.tuning import TuningBudget
from mlops_assets_tests.conftest import write_csv

REGRESSOR = ModelSection(name="nycflights_arrival_delay", target="arrival_delay_minutes", task="regression")


def run_lifecycle(spec, layout, window: TrainingWindow, thresholds: GateThresholds = GateThresholds()):
    """The train job's steps, then the champion scoring and measuring the last held-out day."""
    from mlops_assets.monitor.performance import measure_day
    from mlops_assets.monitor.scoring import score_day
    from mlops_assets.pipeline.train_model import evaluate_and_store, judge, train_and_log, write_candidate_card
    from mlops_assets.promote.card import missing_sections
    from mlops_assets.promote.promotion import promote

    registry = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, model_name(spec))
    snapshot = build_training_snapshot(spec, layout, window, "run-1")
    candidate, trained = train_and_log(spec, layout, registry, snapshot.content_hash,
                                       TuningBudget(trials=2, max_rounds=60), dagster_run_id="run-1",
                                       trigger_reason="test", code_version="test", log=lambda _: None)
    evaluation = evaluate_and_store(spec, layout, registry, candidate, settings=EvaluationSettings(), run_id="run-1")
    judged = judge(spec, layout, candidate["model_sha256"], list(gates_for(spec.model.task)), thresholds, "run-1")
    card, markdown, html = write_candidate_card(spec, layout, candidate, dagster_run_id="run-1", code_versions={})
    outcome = {"snapshot": snapshot, "candidate": candidate, "trained": trained, "evaluation": evaluation,
               "judged": judged, "card": markdown.read_text(), "registry": registry}
    if not all(j.verdict.passed for j in judged.values()):
        return outcome
    promote(spec=spec, layout=layout, registry=registry, candidate=candidate,
            card={"markdown": str(markdown), "html": str(html), "missing_sections": missing_sections(card)},
            dagster_run_id="run-1", operator="test")
    day = dt.date.fromisoformat(snapshot.oot_days[-1])
    outcome["scored"] = score_day(spec, layout, registry, day, "run-2")
    outcome["performance"] = measure_day(spec, layout, registry, day, label_delay_days=1, policy=LoopPolicy(),
                                         as_of=day + dt.timedelta(days=1), run_id="run-2")
    return outcome


# -- regression: the flights arrival delay --------------------------------------------------------------


@pytest.fixture
def regressor(spec):
    return spec.for_model(REGRESSOR)


@pytest.fixture
def flights(state, spec, land_flights, flight_days):
    """The first flight days ingested, gated, featurized and checked in this test's state."""
    for day in flight_days:
        land_flights(day)
        results = day_pipeline.ingest_and_featurize(spec, state, day)
        assert all(r.passed for r in results), [r.summary for r in results if not r.passed]
    return state


def test_a_regressor_on_the_flights_arrival_delay_goes_through(flights, regressor):
    found = run_lifecycle(regressor, flights, TrainingWindow(min_days=2, holdout_days=1))
    snapshot, evaluation = found["snapshot"], found["evaluation"]
    assert all(isinstance(mean, float) for mean in snapshot.label_rates.values())  # minutes, not a rate
    assert found["trained"].params["objective"] == "reg:squarederror"
    assert found["candidate"]["threshold"] is None and "validation_rmse" in found["candidate"]
    assert set(evaluation.metrics) == {"rmse", "mae", "r2"}
    assert set(evaluation.baseline) == {"rmse", "mae", "r2", "label_mean"}
    assert evaluation.baseline["label_mean"] == pytest.approx(snapshot.label_rates["train"])
    assert evaluation.metric("rmse") < evaluation.baseline["rmse"]
    assert set(evaluation.plots) == {"feature_importance"}  # no ROC or reliability curve of a number
    assert evaluation.slices and {"slice", "value", "rows", "rmse", "enough_rows"} <= set(evaluation.slices[0])
    assert list(found["judged"]) == list(gates_for("regression"))
    assert all(j.verdict.passed for j in found["judged"].values()), {
        k: j.verdict.summary for k, j in found["judged"].items()}
    card = found["card"]
    assert "regressor" in card and "binary classifier" not in card and "Label mean" in card
    scored, performance = found["scored"], found["performance"]
    assert scored.rows > 100 and abs(scored.mean_score) < 200  # minutes of delay
    assert performance.metric == "rmse" and performance.auc > 0
    reference, kind = evaluation.live_reference()
    assert performance.reference_auc == reference and kind == "out-of-time RMSE averaged per day"
    assert performance.degraded == (performance.auc - reference > 0.10 * reference)
    with connect(flights.warehouse_path) as con:
        stored = con.execute("SELECT metric, auc FROM performance_history").fetchall()
    assert stored == [("rmse", performance.auc)]
    from mlops_assets.cli.report import model_summary

    summary = model_summary(regressor, flights)
    assert "test RMSE" in summary and "live RMSE is held against this" in summary and "AUC" not in summary


def test_a_regressor_worse_than_the_mean_is_refused(flights, regressor):
    found = run_lifecycle(regressor, flights, TrainingWindow(min_days=2, holdout_days=1),
                          GateThresholds(min_rmse_reduction_over_baseline=0.9))
    verdict = found["judged"]["check_beats_mean_baseline"].verdict
    assert not verdict.passed and "mean baseline" in verdict.summary
    assert found["registry"].champion() is None


# -- multiclass: a dataset the test writes ---------------------------------------------------------------

MACHINES_START = dt.date(2024, 5, 1)
MACHINES_YAML = """\
name: machines
description: Synthetic machine readings; which state will the machine be in?
source: {files: data/*.csv, format: csv}
timestamp: {column: ts, timezone: UTC}
partitions: {start_date: 2024-05-01, end_date: 2024-06-01}
entity_key: [machine_id, ts]
targets:
  - {name: state, type: class, expression: "status"}
columns:
  ts: {type: timestamp, max_null_rate: 0}
  machine_id: {type: string, max_null_rate: 0}
  temperature: {type: float, min: -50, max: 150, max_null_rate: 0}
  vibration: {type: float, min: 0, max: 10, max_null_rate: 0}
  line: {type: string, allowed: [a, b], max_null_rate: 0}
  status: {type: string, allowed: [ok, warn, fail], max_null_rate: 0}
forbidden_columns: [status]
features:
  temperature: {kind: numeric, min: -50, max: 150, max_null_rate: 0}
  vibration: {kind: numeric, min: 0, max: 10, max_null_rate: 0}
  line: {kind: categorical, max_null_rate: 0}
slices: [line]
quality:
  row_count: {trailing_days: 7, min_history: 3, min_ratio: 0.5, max_ratio: 2.0}
intended_use: Tests of the platform's multiclass models.
limitations: [Synthetic data.]
"""


def machine_rows(day: dt.date, n: int = 300) -> list[dict]:
    rng = random.Random(day.isoformat())
    start = dt.datetime.combine(day, dt.time())
    rows = []
    for i in range(n):
        temperature, vibration = round(rng.uniform(0, 100), 2), round(rng.uniform(0, 10), 2)
        risk = temperature / 100 + vibration / 10 + rng.gauss(0, 0.15)
        rows.append({"ts": (start + dt.timedelta(seconds=i * 86400 // n)).strftime("%Y-%m-%d %H:%M:%S"),
                     "machine_id": f"m{i:03d}", "temperature": temperature, "vibration": vibration,
                     "line": "ab"[i % 2], "status": "fail" if risk > 1.3 else "warn" if risk > 0.8 else "ok"})
    return rows


@pytest.fixture
def machines(tmp_path, state):
    from mlops_assets.ingest import landing

    folder = tmp_path / "machines"
    folder.mkdir()
    (folder / "machines.yaml").write_text(MACHINES_YAML)
    spec = load_spec(folder / "machines.yaml")
    for offset in range(6):
        day = MACHINES_START + dt.timedelta(days=offset)
        write_csv(landing.landing_path(state, spec, day), machine_rows(day))
        results = day_pipeline.ingest_and_featurize(spec, state, day)
        assert all(r.passed for r in results), [r.summary for r in results if not r.passed]
    return spec


def test_a_multiclass_model_goes_through(state, machines):
    assert machines.model.task == "multiclass"
    found = run_lifecycle(machines, state, TrainingWindow(min_days=3, holdout_days=2))
    snapshot, evaluation, trained = found["snapshot"], found["evaluation"], found["trained"]
    assert set(snapshot.label_rates["train"]) == {"fail", "ok", "warn"}
    assert sum(snapshot.label_rates["train"].values()) == pytest.approx(1.0)
    assert trained.encoding.classes == ["fail", "ok", "warn"]
    assert trained.params["objective"] == "multi:softprob" and trained.params["num_class"] == 3
    assert evaluation.classes == ["fail", "ok", "warn"]
    assert {"log_loss", "macro_f1", "accuracy", "class_recall:fail", "class_recall:ok",
            "class_recall:warn"} == set(evaluation.metrics)
    assert evaluation.metric("log_loss") < evaluation.baseline["log_loss"]
    assert all(j.verdict.passed for j in found["judged"].values()), {
        k: j.verdict.summary for k, j in found["judged"].items()}
    assert "multiclass classifier" in found["card"] and "Class frequencies" in found["card"]
    # the registered model answers with a probability per class and the class
    champion = found["registry"].load_version(found["registry"].champion())
    sample = machines_frame(MACHINES_START)
    answer = champion.pyfunc.predict(None, sample)
    assert list(answer.columns) == ["probability_fail", "probability_ok", "probability_warn", "predicted_class"]
    assert np.allclose(answer.iloc[:, :3].sum(axis=1), 1.0)
    assert set(answer["predicted_class"]) <= {"fail", "ok", "warn"}
    with connect(state.warehouse_path) as con:
        stored = con.execute("SELECT score, predicted_class, class_probabilities FROM predictions_machines_state "
                             "ORDER BY ALL LIMIT 1").fetchall()[0]
    assert stored[0] == pytest.approx(max(stored[2])) and stored[1] in {"fail", "ok", "warn"}
    performance = found["performance"]
    assert performance.metric == "log_loss" and performance.ece is None
    assert 0 < performance.auc < evaluation.baseline["log_loss"]


def machines_frame(day: dt.date):
    import pandas as pd

    return pd.DataFrame(machine_rows(day, 20))[["temperature", "vibration", "line"]]


def test_a_class_the_training_split_never_shows_is_refused(state, machines):
    last = MACHINES_START + dt.timedelta(days=5)
    with connect(state.warehouse_path) as con:  # one held-out row of a class no training row has
        con.execute("UPDATE features_machines SET state = 'smoke' WHERE _day = ? AND machine_id = 'm001'", [last])
    with pytest.raises(TrainingDataError, match=r"the oot split of .* holds state class\(es\) \['smoke'\] that the "
                                                r"train split never shows"):
        build_training_snapshot(machines, state, TrainingWindow(min_days=3, holdout_days=1), "run-1")
