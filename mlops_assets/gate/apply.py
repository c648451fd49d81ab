"""The promotion gates, applied to a stored evaluation: one function per blocking check."""

from __future__ import annotations

from typing import Callable

from mlops_assets.core.verdicts import GateResult
from mlops_assets.gate import rules as gates
from mlops_assets.evaluate.evaluation import Evaluation
from mlops_assets.evaluate.metrics import Estimate


def _paired_auc(evaluation: Evaluation) -> Estimate | None:
    paired = evaluation.paired.get("auc")
    if not paired or paired.get("value") is None:
        return None
    return Estimate(paired["value"], paired["low"] if paired["low"] is not None else float("nan"),
                    paired["high"] if paired["high"] is not None else float("nan"))


def _value(number: float | None) -> float:
    return float("nan") if number is None else float(number)


def check_min_quality(evaluation: Evaluation, thresholds: gates.GateThresholds) -> GateResult:
    return gates.gate_min_quality(_value(evaluation.metric("auc")), thresholds)


def check_not_worse_than_champion(evaluation: Evaluation, thresholds: gates.GateThresholds) -> GateResult:
    if evaluation.champion_version is None and evaluation.champion_note.startswith("champion v"):
        # a champion exists but cannot score today's features: that is not "no champion"
        return GateResult("check_not_worse_than_champion", False, evaluation.champion_note, metric="auc",
                          observed=evaluation.metric("auc"), threshold=thresholds.max_auc_drop_vs_champion)
    return gates.gate_not_worse_than_champion(
        _value(evaluation.metric("auc")), evaluation.champion_metric("auc"), _paired_auc(evaluation), thresholds
    )


def check_beats_baseline(evaluation: Evaluation, thresholds: gates.GateThresholds) -> GateResult:
    return gates.gate_beats_baseline(
        _value(evaluation.metric("auc")), _value(evaluation.baseline.get("auc")), thresholds,
        candidate_log_loss=evaluation.metric("log_loss"), baseline_log_loss=evaluation.baseline.get("log_loss"),
    )


def check_no_slice_regression(evaluation: Evaluation, thresholds: gates.GateThresholds) -> GateResult:
    return gates.gate_no_slice_regression(evaluation.slice_frame(), thresholds)


def check_calibration(evaluation: Evaluation, thresholds: gates.GateThresholds) -> GateResult:
    return gates.gate_calibration(_value(evaluation.metric("ece")), thresholds)


MODEL_GATES: dict[str, Callable[[Evaluation, gates.GateThresholds], GateResult]] = {
    "check_min_quality": check_min_quality,
    "check_not_worse_than_champion": check_not_worse_than_champion,
    "check_beats_baseline": check_beats_baseline,
    "check_no_slice_regression": check_no_slice_regression,
    "check_calibration": check_calibration,
}
