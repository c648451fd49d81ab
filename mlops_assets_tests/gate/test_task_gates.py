"""The promotion gates of regression and multiclass models: declared per task, each judging one
metric in the direction the metric registry declares."""

from __future__ import annotations

import pytest

from mlops_assets.evaluate.evaluation import ChampionStatus, Evaluation
from mlops_assets.evaluate.tasks import TASKS
from mlops_assets.gate.registry import PROMOTION_GATES, GateThresholds, gates_for, judge_evaluation


def evaluation(task: str, metrics: dict[str, float], baseline: dict[str, float], **extra) -> Evaluation:
    return Evaluation(model="d", model_sha256="s" * 64, snapshot_hash="h", test_rows=500, threshold=None,
                      metrics={k: {"value": v, "low": v, "high": v} for k, v in metrics.items()},
                      baseline=baseline, task=task, **extra)


def verdicts(found: Evaluation, **thresholds) -> dict[str, object]:
    return {v.check: v for v in judge_evaluation(found, GateThresholds(**thresholds), gates_for(found.task))}


def test_every_task_has_a_floor_a_champion_and_a_baseline_gate() -> None:
    assert list(gates_for("regression")) == [
        "check_min_r2", "check_rmse_not_worse_than_champion", "check_beats_mean_baseline",
        "check_no_slice_rmse_regression"]
    assert list(gates_for("multiclass")) == [
        "check_min_macro_f1", "check_log_loss_not_worse_than_champion", "check_beats_class_frequency_baseline",
        "check_no_slice_log_loss_regression"]
    for task in TASKS:
        splits = [gate.split for gate in gates_for(task).values()]
        assert "oot" in splits and "test" in splits, task
    assert set(PROMOTION_GATES) == {check for task in TASKS for check in gates_for(task)}
    with pytest.raises(ValueError, match="unknown task"):
        gates_for("ranking")


def test_a_regressor_worse_than_the_mean_baseline_is_refused() -> None:
    worse = evaluation("regression", {"rmse": 41.0, "mae": 30.0, "r2": -0.02}, {"rmse": 40.0, "label_mean": 7.0})
    found = verdicts(worse)
    assert not found["check_beats_mean_baseline"].passed
    assert "candidate RMSE 41.000 vs the mean baseline's 40.000: -2.5% better (required 2.0%)" in (
        found["check_beats_mean_baseline"].summary)
    assert not found["check_min_r2"].passed
    assert found["check_rmse_not_worse_than_champion"].passed  # no champion: passes by rule
    better = evaluation("regression", {"rmse": 30.0, "mae": 20.0, "r2": 0.4}, {"rmse": 40.0, "label_mean": 7.0})
    assert all(v.passed for v in verdicts(better).values())


def test_a_regressor_may_trail_the_champion_by_a_share_of_its_rmse() -> None:
    def against_champion(paired_delta: float) -> bool:
        found = evaluation(
            "regression", {"rmse": 30.0 + paired_delta, "mae": 20.0, "r2": 0.4}, {"rmse": 40.0},
            champion_status=ChampionStatus.SCORED, comparison_split="oot",
            comparison_metrics={"rmse": {"value": 30.0 + paired_delta}},
            champion_metrics={"rmse": {"value": 30.0}},
            paired={"rmse": {"value": paired_delta, "low": paired_delta - 0.1, "high": paired_delta + 0.1}},
        )
        return verdicts(found)["check_rmse_not_worse_than_champion"].passed

    assert against_champion(0.5)  # 0.5 of 30: 1.7%, within 2%
    assert not against_champion(0.7)  # 2.3%
    assert against_champion(-3.0)  # better


def test_a_regressor_whose_champion_could_not_be_compared_is_refused() -> None:
    found = evaluation("regression", {"rmse": 30.0, "mae": 20.0, "r2": 0.4}, {"rmse": 40.0},
                       champion_status=ChampionStatus.CANNOT_SCORE, comparison_split="oot",
                       champion_note="champion v1 cannot score these features")
    verdict = verdicts(found)["check_rmse_not_worse_than_champion"]
    assert not verdict.passed and "cannot score" in verdict.summary


def test_multiclass_gates_read_macro_f1_and_log_loss() -> None:
    majority_only = evaluation("multiclass", {"log_loss": 1.05, "macro_f1": 0.18, "accuracy": 0.5},
                               {"log_loss": 1.04, "class_frequencies": {"a": 0.5, "b": 0.3, "c": 0.2}})
    found = verdicts(majority_only)
    assert not found["check_min_macro_f1"].passed
    assert "candidate macro-F1 0.180 is below the minimum 0.200" == found["check_min_macro_f1"].summary
    assert not found["check_beats_class_frequency_baseline"].passed
    assert verdicts(majority_only, min_macro_f1=0.1)["check_min_macro_f1"].passed
    learned = evaluation("multiclass", {"log_loss": 0.6, "macro_f1": 0.7, "accuracy": 0.75}, {"log_loss": 1.04})
    assert all(v.passed for v in verdicts(learned).values())


def test_a_regressor_much_worse_than_the_champion_on_a_large_slice_is_refused() -> None:
    def with_slices(rows: int, candidate_rmse: float) -> object:
        slices = [{"slice": "carrier", "value": "UA", "rows": rows, "rmse": candidate_rmse, "champion_rmse": 20.0,
                   "rmse_delta": candidate_rmse - 20.0, "enough_rows": True},
                  {"slice": "carrier", "value": "AA", "rows": 900, "rmse": 19.0, "champion_rmse": 20.0,
                   "rmse_delta": -1.0, "enough_rows": True}]
        found = evaluation("regression", {"rmse": 20.0, "mae": 15.0, "r2": 0.4}, {"rmse": 40.0},
                           champion_status=ChampionStatus.SCORED, comparison_split="oot", slices=slices,
                           comparison_metrics={"rmse": {"value": 20.0}}, champion_metrics={"rmse": {"value": 20.0}},
                           paired={"rmse": {"value": 0.0, "low": -0.1, "high": 0.1}})
        return verdicts(found)["check_no_slice_rmse_regression"]

    refused = with_slices(500, 23.0)  # 15% worse than the champion on 500 rows
    assert not refused.passed
    assert "carrier=UA RMSE 23.000 vs champion 20.000 (+15.0% worse, 500 rows)" in refused.summary
    assert with_slices(500, 21.0).passed  # 5%: within the 10% tolerance
    assert with_slices(50, 30.0).passed  # fewer rows than min_slice_rows: not judged
