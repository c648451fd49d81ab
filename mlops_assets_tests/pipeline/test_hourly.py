"""An hourly dataset through the lifecycle's plain functions: replay lands one file per local hour,
ingestion, the data gates, features with a trailing window in hours, training with held-out hours,
promotion, scoring, drift and live performance, every partition an hour wherever it is stored."""

from __future__ import annotations

import datetime as dt

import pytest

from mlops_assets.core.paths import StateLayout
from mlops_assets.core.spec import DAY_COLUMN, load_spec
from mlops_assets.core.warehouse import connect, table_columns
from mlops_assets.features.build import features_table
from mlops_assets.ingest.landing import landed_days, landing_path, replay
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.train.snapshot import build_training_snapshot
from mlops_assets.train.window import TrainingWindow
from mlops_assets_tests.conftest import write_csv
from mlops_assets_tests.hourly_world import (
    RIDES_FIELDS, RIDES_PER_HOUR, ride_rows, rides_hours, write_rides,
)

HOURS = rides_hours()


@pytest.fixture
def rides(tmp_path):
    spec = load_spec(write_rides(tmp_path / "rides"))
    return spec, StateLayout((tmp_path / "state").resolve()).ensure()


def test_replay_lands_one_portable_file_per_local_hour(rides):
    spec, layout = rides
    landed = replay(spec, layout, dt.datetime(2024, 3, 10, 0, 40), 3)  # any time within the first hour names it
    assert [(item.day, item.rows) for item in landed] == [(hour, RIDES_PER_HOUR) for hour in HOURS[:3]]
    names = [path.name for _, path in landed_days(layout, spec)]
    assert names == ["2024-03-10T00.csv", "2024-03-10T01.csv", "2024-03-10T02.csv"]
    assert [start for start, _ in landed_days(layout, spec)] == HOURS[:3]  # the reader agrees with the writer
    assert landing_path(layout, spec, HOURS[0]).name == names[0]


def test_an_hourly_dataset_is_gated_featurized_trained_promoted_scored_and_monitored(rides, tmp_path):
    from mlops_assets.core.registry import ModelRegistry, model_name
    from mlops_assets.evaluate.settings import EvaluationSettings
    from mlops_assets.gate.registry import GateThresholds, gates_for
    from mlops_assets.monitor.drift import drift_for_day
    from mlops_assets.monitor.drift_store import drift_history
    from mlops_assets.monitor.performance import measure_day, performance_history
    from mlops_assets.monitor.policy import LoopPolicy
    from mlops_assets.monitor.scoring import predictions_table, score_day
    from mlops_assets.pipeline.train_model import evaluate_and_store, judge, train_and_log, write_candidate_card
    from mlops_assets.promote.card import missing_sections
    from mlops_assets.promote.promotion import promote
    from mlops_assets.train.tuning import TuningBudget

    spec, layout = rides
    replay(spec, layout, HOURS[0], len(HOURS))
    for hour in HOURS:
        results = {r.check: r for r in ingest_and_featurize(spec, layout, hour)}
        assert [name for name, r in results.items() if not r.passed] == [], hour
    assert results["check_row_count"].stats["trailing_partitions"] == 6  # '6 hours', not 6 days
    with connect(layout.warehouse_path) as con:
        assert table_columns(con, features_table(spec))[DAY_COLUMN] == "TIMESTAMP"
        rates = dict(con.execute(
            f"SELECT {DAY_COLUMN}, count(station_long_rate_6h) FROM {features_table(spec)} GROUP BY 1").fetchall())
    # every hour is its own partition; the first has no earlier hour to average, the next ones have
    assert sorted(rates) == HOURS
    assert rates[HOURS[0]] == 0 and all(rates[hour] == RIDES_PER_HOUR for hour in HOURS[1:])

    snapshot = build_training_snapshot(spec, layout, TrainingWindow(holdout_days=6, min_days=3), "run-1")
    assert snapshot.oot_days == [f"2024-03-11T0{hour}:00" for hour in range(6)]
    assert len(snapshot.in_period_days) == 24 and snapshot.start == HOURS[0] and snapshot.end == HOURS[-1]
    last_six = build_training_snapshot(spec, layout, TrainingWindow(last_n_days=8, holdout_days=2))
    assert list(last_six.days)[0] == "2024-03-10T22:00"  # the last 8 partitions are 8 hours

    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", model_name(spec))
    candidate, _ = train_and_log(spec, layout, registry, snapshot.content_hash, TuningBudget(trials=1),
                                 dagster_run_id="run-1", trigger_reason="test", code_version="test", log=lambda _: None)
    evaluation = evaluate_and_store(spec, layout, registry, candidate, settings=EvaluationSettings(), run_id="run-1")
    assert evaluation.oot_metrics["auc"]["value"] > 0.65
    judged = judge(spec, layout, candidate["model_sha256"], list(gates_for(spec.model.task)),
                   GateThresholds(), "run-1")
    assert all(j.verdict.passed for j in judged.values()), {k: j.verdict.summary for k, j in judged.items() if not j.verdict.passed}
    card, markdown, html = write_candidate_card(spec, layout, candidate, dagster_run_id="run-1", code_versions={})
    card_text = markdown.read_text()
    assert "| Date range | 2024-03-10T00:00:00 to 2024-03-11T05:00:00 |" in card_text  # hours, not days
    assert "averaged per hour" in card_text and "over 6 hour(s)" in card_text
    assert "oot rows of 2024-03-11T00:00, 2024-03-11T01:00" in card_text
    promote(spec=spec, layout=layout, registry=registry, candidate=candidate,
            card={"markdown": str(markdown), "html": str(html), "missing_sections": missing_sections(card)},
            dagster_run_id="run-1", operator="test")

    scored_hours = HOURS[-3:-1]
    for hour in scored_hours:
        assert score_day(spec, layout, registry, hour, "run-2").rows == RIDES_PER_HOUR
    drift, _ = drift_for_day(spec, layout, registry, scored_hours[-1], LoopPolicy(drift_window_days=4), "run-2")
    assert drift.rows == 4 * RIDES_PER_HOUR  # a window of 4 partitions is 4 hours
    performance = measure_day(spec, layout, registry, scored_hours[0], label_delay_days=1, policy=LoopPolicy(),
                              as_of=None, run_id="run-2")  # its labels are due an hour later, which has landed
    assert performance.auc > 0.6
    with connect(layout.warehouse_path) as con:
        predicted = [hour for (hour,) in con.execute(
            f"SELECT DISTINCT {DAY_COLUMN} FROM {predictions_table(spec)} ORDER BY 1").fetchall()]
        assert predicted == scored_hours
        assert {row[0] for row in drift_history(con, spec.model.name, grain=spec.grain)} == {scored_hours[-1]}
        assert [row[0] for row in performance_history(con, spec.model.name, grain=spec.grain)] == [scored_hours[0]]


def test_a_row_of_another_hour_fails_the_partition_gate(rides):
    spec, layout = rides
    rows = ride_rows(HOURS[0])
    rows[0] = {**rows[0], "ts": "2024-03-10T00:10:00Z"}  # 01:10 in Paris: the next hour
    write_csv(landing_path(layout, spec, HOURS[0]), rows, RIDES_FIELDS)
    failed = {r.check: r for r in ingest_and_featurize(spec, layout, HOURS[0]) if not r.passed}
    assert list(failed) == ["check_rows_in_partition"]
    assert failed["check_rows_in_partition"].failures[0].observed == "1 rows on other hours"
    assert failed["check_rows_in_partition"].failures[0].expected == "all rows on 2024-03-10T00:00 (Europe/Paris)"


def test_a_time_inside_an_hour_is_no_partition_to_ingest(rides):
    from mlops_assets.ingest.snapshots import IngestionError

    spec, layout = rides
    with pytest.raises(IngestionError, match=r"2024-03-10T00:30 does not start a hourly partition of rides "
                                             r"\(that one starts 2024-03-10T00:00\)"):
        ingest_and_featurize(spec, layout, dt.datetime(2024, 3, 10, 0, 30))
