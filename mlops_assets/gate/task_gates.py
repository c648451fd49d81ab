"""The promotion gates of regression and multiclass models, declared in ``registry``'s registry: each
judges one metric in the direction ``evaluate.tasks`` declares for it, and names its task. Factories
make the three kinds every task gets (a floor, the champion, the trivial baseline) and a slice gate;
their arithmetic is in ``task_rules``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_assets.core.verdicts import GateResult
from mlops_assets.gate import task_rules
from mlops_assets.gate.registry import GateThresholds, PromotionGate, Threshold, _uncompared, _value, register

if TYPE_CHECKING:
    from mlops_assets.evaluate.evaluation import Evaluation
    from mlops_assets.evaluate.metrics import Estimate


def _spoken(metric: str) -> str:
    from mlops_assets.evaluate.tasks import METRIC_REGISTRY

    return METRIC_REGISTRY[metric].spoken


def _higher_is_better(metric: str) -> bool:
    from mlops_assets.evaluate.tasks import METRIC_REGISTRY

    return METRIC_REGISTRY[metric].higher_is_better


def metric_floor_gate(check: str, task: str, metric: str, threshold: Threshold) -> PromotionGate:
    """The candidate's test ``metric`` reaches the threshold (a floor, or a ceiling for a loss)."""

    def rule(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
        return task_rules.gate_metric_floor(check, metric, _spoken(metric), _value(evaluation.metric(metric)),
                                       getattr(thresholds, threshold.name), _higher_is_better(metric))

    bound = "at least" if _higher_is_better(metric) else "at most"
    return register(PromotionGate(check, f"The candidate's test {_spoken(metric)} is {bound} the configured limit.",
                                  (metric,), (threshold,), rule, "test", (task,)))


def champion_gate(check: str, task: str, metric: str, threshold: Threshold, *, relative: bool) -> PromotionGate:
    """The paired ``metric`` difference against the champion, on held-out days neither trained on,
    is within the tolerance (``relative``: a share of the champion's value)."""

    def rule(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
        tolerance = getattr(thresholds, threshold.name)
        if not evaluation.champion_status.compared:
            return _uncompared(evaluation, check, metric, tolerance, evaluation.metric(metric))
        return task_rules.gate_no_worse_than(
            check, metric, _spoken(metric), _value(evaluation.compared_metric(metric)),
            evaluation.champion_metric(metric), _paired(evaluation, metric), tolerance, _higher_is_better(metric),
            relative=relative,
        )

    share = " (a share of the champion's)" if relative else ""
    return register(PromotionGate(
        check, f"The paired {_spoken(metric)} difference against the champion, on held-out days neither trained on, "
        f"is within the tolerance{share} (passes by rule with no champion; fails when a champion exists but could "
        "not be compared).", (metric,), (threshold,), rule, "oot", (task,)))


def baseline_gate(check: str, task: str, metric: str, threshold: Threshold) -> PromotionGate:
    """The candidate beats the task's trivial baseline in ``metric`` by a share of the baseline's value."""
    from mlops_assets.evaluate.tasks import task_of

    baseline_name = task_of(task).baseline_name

    def rule(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
        return task_rules.gate_beats_trivial_baseline(
            check, metric, _spoken(metric), _value(evaluation.metric(metric)), evaluation.baseline.get(metric),
            getattr(thresholds, threshold.name), _higher_is_better(metric), baseline_name)

    return register(PromotionGate(
        check, f"The candidate's test {_spoken(metric)} beats the {baseline_name} baseline's by the configured share.",
        (metric,), (threshold,), rule, "test", (task,)))


def slice_gate(check: str, task: str, metric: str, threshold: Threshold) -> PromotionGate:
    """No slice of the held-out days with at least ``min_slice_rows`` rows is worse than the champion
    in ``metric`` by more than a share of the champion's value on it."""

    def rule(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
        tolerance = getattr(thresholds, threshold.name)
        if not evaluation.champion_status.compared:
            return _uncompared(evaluation, check, f"slice_{metric}", tolerance)
        return task_rules.gate_no_slice_worse(check, metric, _spoken(metric), evaluation.slice_frame(), tolerance,
                                         thresholds.min_slice_rows, _higher_is_better(metric))

    return register(PromotionGate(
        check, f"No slice with at least min_slice_rows rows of the held-out days is worse in {_spoken(metric)} than "
        "the champion by more than the tolerance (a share of the champion's; passes by rule with no champion; "
        "fails when a champion exists but could not be compared).", (f"slice_{metric}",), (threshold,), rule, "oot",
        (task,)))


def _paired(evaluation: Evaluation, metric: str) -> Estimate | None:
    from mlops_assets.evaluate.metrics import Estimate

    paired = evaluation.paired.get(metric)
    if not paired or paired.get("value") is None:
        return None
    return Estimate(paired["value"], _value(paired.get("low")), _value(paired.get("high")))


# regression: R² has no units, so a floor on it means the same for every target; RMSE is in the
# target's units, so the champion and baseline comparisons are shares of the reference's RMSE
metric_floor_gate("check_min_r2", "regression", "r2",
                  Threshold("min_r2", 0.05, "minimum test R² of a regressor", minimum=-1e9, maximum=1.0))
champion_gate("check_rmse_not_worse_than_champion", "regression", "rmse",
              Threshold("max_rmse_rise_vs_champion", 0.02,
                        "a regressor's RMSE may exceed the champion's (paired, same rows) by at most this share"),
              relative=True)
baseline_gate("check_beats_mean_baseline", "regression", "rmse",
              Threshold("min_rmse_reduction_over_baseline", 0.02,
                        "share by which a regressor's RMSE must undercut predicting the training mean"))
# slices are noisier than the whole: a wider share than the global tolerance, and min_slice_rows
slice_gate("check_no_slice_rmse_regression", "regression", "rmse",
           Threshold("max_slice_rmse_rise", 0.10, "largest share by which a slice's RMSE may exceed the champion's"))
# multiclass: macro-F1 counts every class alike, so a model that only ever predicts the majority
# class fails the floor; log loss (the primary metric) is compared in nats
metric_floor_gate("check_min_macro_f1", "multiclass", "macro_f1",
                  Threshold("min_macro_f1", 0.2, "minimum test macro-F1 of a multiclass model", maximum=1.0))
champion_gate("check_log_loss_not_worse_than_champion", "multiclass", "log_loss",
              Threshold("max_log_loss_rise_vs_champion", 0.01,
                        "a multiclass model's log loss may exceed the champion's (paired, same rows) by at most this"),
              relative=False)
baseline_gate("check_beats_class_frequency_baseline", "multiclass", "log_loss",
              Threshold("min_log_loss_reduction_over_baseline", 0.02,
                        "share by which a multiclass model's log loss must undercut the class frequencies'"))
slice_gate("check_no_slice_log_loss_regression", "multiclass", "log_loss",
           Threshold("max_slice_log_loss_rise", 0.10,
                     "largest share by which a slice's log loss may exceed the champion's"))
