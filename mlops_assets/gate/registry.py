"""The promotion gates, each declared once: its check name, description, the metrics it reads, its
configurable thresholds and its rule over a stored evaluation.

Everything else is derived from ``PROMOTION_GATES``, in declaration order: the blocking checks on
candidate_evaluation, the ``gate_policy`` resource's fields, ``GateThresholds``' defaults and
validation, which verdicts promotion and rollback require, the card's verdict rows and the README's
gate table. Adding a gate is one ``@promotion_gate(...)`` declaration here (its arithmetic, if new,
a pure function in ``rules``). Each gate names the tasks it judges (``gates_for(task)``): the binary
gates, here, read AUC, log loss, calibration and slices; the regression and multiclass gates
(``task_gates``) hold a model to a floor on one metric, the champion and the trivial baseline on its
primary metric and no slice worse than the champion's, each in the metric's own direction as
``evaluate.tasks`` declares it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from mlops_assets.core.verdicts import GateResult
from mlops_assets.gate import rules

if TYPE_CHECKING:
    from mlops_assets.evaluate.evaluation import Evaluation
    from mlops_assets.evaluate.metrics import Estimate


@dataclass(frozen=True)
class Threshold:
    """One configurable limit: its ``gate_policy`` field name, default, meaning and valid range.

    The default's type is the field's type (an int default makes a whole-number field).
    """

    name: str
    default: float | int
    description: str
    minimum: float = 0.0
    maximum: float | None = None

    @property
    def type(self) -> type:
        return type(self.default)

    def validate(self, value: object) -> float | int:
        """The value as the field's type; a clear error naming the field if it is out of range."""
        whole = self.type is int
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and value != int(value)):
            raise ValueError(f"{self.name} must be a {'whole number' if whole else 'number'}, got {value!r}")
        value = self.type(value)
        if not math.isfinite(value) or value < self.minimum or (self.maximum is not None and value > self.maximum):
            upper = f" and at most {self.maximum:g}" if self.maximum is not None else ""
            raise ValueError(f"{self.name} must be at least {self.minimum:g}{upper}, got {value!r}")
        return value


Rule = Callable[["Evaluation", "GateThresholds"], GateResult]


SPLITS = {
    "test": "in-period test (key-hashed rows of the training days)",
    "oot": "out-of-time test (the window's last days, held out whole; less the champion's training days)",
}


@dataclass(frozen=True)
class PromotionGate:
    """A blocking check on candidate_evaluation. ``metrics`` names what it reads from the evaluation
    (so a gate for another task names its own metric instead of the wiring assuming AUC); ``split``
    which test: "test" (in period) or "oot" (out of time, where a comparison with the champion is fair)."""

    check: str
    description: str
    metrics: tuple[str, ...]
    thresholds: tuple[Threshold, ...]
    rule: Rule
    split: str = "test"
    tasks: tuple[str, ...] = ("binary",)


PROMOTION_GATES: dict[str, PromotionGate] = {}


def gates_for(task: str) -> dict[str, PromotionGate]:
    """The gates a model of ``task`` must pass, in declaration order."""
    from mlops_assets.evaluate.tasks import task_of

    task_of(task)  # an unknown task is an error, not a model with no gates
    return {check: gate for check, gate in PROMOTION_GATES.items() if task in gate.tasks}


def register(gate: PromotionGate) -> PromotionGate:
    """Add a gate to the registry; a check or threshold name may be declared only once."""
    if gate.check in PROMOTION_GATES:
        raise ValueError(f"promotion gate {gate.check!r} is already declared")
    if gate.split not in SPLITS:
        raise ValueError(f"promotion gate {gate.check!r} reads unknown split {gate.split!r}; one of {list(SPLITS)}")
    from mlops_assets.evaluate.tasks import TASKS

    unknown_tasks = sorted(set(gate.tasks) - set(TASKS))
    if not gate.tasks or unknown_tasks:
        raise ValueError(f"promotion gate {gate.check!r} names unknown task(s) {unknown_tasks}; one of {list(TASKS)}")
    taken = threshold_fields()
    for threshold in gate.thresholds:
        if threshold.name in taken:
            raise ValueError(f"threshold {threshold.name!r} of {gate.check} is already declared by another gate")
        threshold.validate(threshold.default)
    PROMOTION_GATES[gate.check] = gate
    return gate


def promotion_gate(
    check: str, *, description: str, metrics: Iterable[str], thresholds: Iterable[Threshold] = (), split: str = "test",
    tasks: Iterable[str] = ("binary",),
) -> Callable[[Rule], Rule]:
    """Declare the decorated function as the rule of a promotion gate."""

    def declare(rule: Rule) -> Rule:
        register(PromotionGate(check, description, tuple(metrics), tuple(thresholds), rule, split, tuple(tasks)))
        return rule

    return declare


def threshold_fields() -> dict[str, Threshold]:
    """Every declared gate's thresholds, by name, in gate order."""
    return {t.name: t for gate in PROMOTION_GATES.values() for t in gate.thresholds}


class GateThresholds:
    """The limits the gates apply: every declared threshold, defaulted and validated. Immutable.

    ``GateThresholds(max_ece=0.1).max_ece``; an unknown name or an out-of-range value is a ValueError.
    """

    __slots__ = ("_values",)

    def __init__(self, **values: float | int) -> None:
        fields = threshold_fields()
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown gate threshold(s) {unknown}; the gates declare {list(fields)}")
        checked = {name: field.validate(values.get(name, field.default)) for name, field in fields.items()}
        object.__setattr__(self, "_values", checked)

    def __getattr__(self, name: str) -> float | int:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no gate declares a threshold named {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("GateThresholds is immutable; build a new one")

    def as_dict(self) -> dict[str, float | int]:
        return dict(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GateThresholds) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        return f"GateThresholds({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


def judge_evaluation(evaluation: Evaluation, thresholds: GateThresholds, checks: Iterable[str]) -> list[GateResult]:
    """The named gates' verdicts on one evaluation, in registry order."""
    wanted = set(checks)
    unknown = sorted(wanted - set(PROMOTION_GATES))
    if unknown:
        raise ValueError(f"unknown promotion gate(s) {unknown}; declared: {list(PROMOTION_GATES)}")
    verdicts = []
    for name, gate in PROMOTION_GATES.items():
        if name in wanted:
            verdict = _split_missing(evaluation, gate) or _on_the_test_said(evaluation, gate,
                                                                             gate.rule(evaluation, thresholds))
            if verdict.check != name:  # it would be logged under a name promotion never asks for
                raise ValueError(f"the rule of promotion gate {name!r} returned a verdict named {verdict.check!r}")
            verdicts.append(verdict)
    return verdicts


def _split_missing(evaluation: Evaluation, gate: PromotionGate) -> GateResult | None:
    """A failed verdict when the champion comparison a gate reads ran on another split than it
    declares: a comparison on in-period rows favours whichever model trained on those days."""
    from mlops_assets.evaluate.evaluation import ChampionStatus

    if gate.split == "test" or evaluation.champion_status is ChampionStatus.NONE:
        return None
    if evaluation.comparison_split == gate.split or evaluation.no_out_of_time:
        return None
    return GateResult(gate.check, False, f"the champion comparison ran on the {SPLITS[evaluation.comparison_split]}, "
                      f"not the {SPLITS[gate.split]} this gate judges on: the snapshot has no out-of-time test "
                      "(holdout_days 0, or frozen before it existed); retrain with holdout_days > 0",
                      metric=gate.metrics[0])


def _on_the_test_said(evaluation: Evaluation, gate: PromotionGate, verdict: GateResult) -> GateResult:
    """A forward gate judged on the in-period test because no out-of-time test can exist says so."""
    if gate.split == "test" or not evaluation.no_out_of_time or evaluation.comparison_split == gate.split:
        return verdict
    import dataclasses

    return dataclasses.replace(verdict, summary=f"{verdict.summary} (judged on the {SPLITS['test']}: "
                                                f"{evaluation.no_out_of_time})")


# -- the gates ---------------------------------------------------------------------------------------
# min quality and the baseline ask whether the model learned anything at all, an absolute question
# the larger in-period test answers with tighter intervals; the champion and slice gates compare two
# models, which is only fair on rows neither trained on: the out-of-time rows.


@promotion_gate(
    "check_min_quality",
    description="The candidate's test AUC is at least the configured minimum.",
    metrics=("auc",),
    thresholds=(Threshold("min_auc", 0.60, "minimum test AUC of any candidate", maximum=1.0),),
)
def check_min_quality(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
    return rules.gate_min_quality(_value(evaluation.metric("auc")), thresholds)


@promotion_gate(
    "check_not_worse_than_champion",
    description="The paired AUC difference against the champion, on held-out days neither trained on, is "
    "above minus the tolerance (passes by rule with no champion; fails when a champion exists but could "
    "not be compared).",
    metrics=("auc",),
    split="oot",
    # none by default: a candidate replaces the champion only if it is at least as good on what came
    # after both (issue 16). With 0.01, retraining_value's loop promoted candidates that were worse on
    # the held-out tail, and they were no better live than the candidates it refused
    thresholds=(Threshold("max_auc_drop_vs_champion", 0.0,
                          "the candidate may trail the champion's AUC (paired, same rows) by at most this"),),
)
def check_not_worse_than_champion(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
    if not evaluation.champion_status.compared:
        return _uncompared(evaluation, "check_not_worse_than_champion", "auc", thresholds.max_auc_drop_vs_champion,
                           evaluation.metric("auc"))
    return rules.gate_not_worse_than_champion(
        _value(evaluation.compared_metric("auc")), _value(evaluation.champion_metric("auc")), _paired_auc(evaluation),
        thresholds,
    )


@promotion_gate(
    "check_beats_baseline",
    description="The candidate beats the class-prior baseline by the configured AUC lift and in log loss.",
    metrics=("auc", "log_loss"),
    thresholds=(Threshold("min_auc_lift_over_baseline", 0.02, "AUC lift required over the class-prior baseline"),),
)
def check_beats_baseline(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
    return rules.gate_beats_baseline(
        _value(evaluation.metric("auc")), _value(evaluation.baseline.get("auc")), thresholds,
        candidate_log_loss=evaluation.metric("log_loss"), baseline_log_loss=evaluation.baseline.get("log_loss"),
    )


@promotion_gate(
    "check_no_slice_regression",
    description="No slice with enough rows of the held-out days loses more than the tolerance of AUC against "
    "the champion (passes by rule with no champion; fails when a champion exists but could not be compared).",
    metrics=("slice_auc",),
    split="oot",
    # wider than the global tolerance because slice AUCs are noisier; tiny slices are too noisy to judge
    thresholds=(
        Threshold("max_slice_auc_drop", 0.05, "largest AUC loss against the champion on any slice"),
        Threshold("min_slice_rows", 200, "slices with fewer compared rows are not gated", minimum=1),
    ),
)
def check_no_slice_regression(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
    if not evaluation.champion_status.compared:
        return _uncompared(evaluation, "check_no_slice_regression", "slice_auc", thresholds.max_slice_auc_drop)
    return rules.gate_no_slice_regression(evaluation.slice_frame(), thresholds)


@promotion_gate(
    "check_calibration",
    description="Expected calibration error is under the ceiling.",
    metrics=("ece",),
    # downstream users read the probabilities, not just the ranking
    thresholds=(Threshold("max_ece", 0.05, "ceiling on expected calibration error"),),
)
def check_calibration(evaluation: Evaluation, thresholds: GateThresholds) -> GateResult:
    return rules.gate_calibration(_value(evaluation.metric("ece")), thresholds)


def _uncompared(
    evaluation: Evaluation, check: str, metric: str, threshold: float, observed: float | None = None
) -> GateResult:
    """A champion comparison that was not made: passes by rule only when there is no champion."""
    from mlops_assets.evaluate.evaluation import ChampionStatus

    if evaluation.champion_status is ChampionStatus.NONE:
        return GateResult(check, True, "no champion yet: passes by rule", metric=metric, observed=observed,
                          threshold=threshold)
    return GateResult(check, False, f"not compared with the champion ({evaluation.champion_status.value}): "
                      f"{evaluation.champion_note}", metric=metric, observed=observed, threshold=threshold)


def _paired_auc(evaluation: Evaluation) -> Estimate | None:
    from mlops_assets.evaluate.metrics import Estimate

    paired = evaluation.paired.get("auc")
    if not paired or paired.get("value") is None:
        return None
    return Estimate(paired["value"], paired["low"] if paired["low"] is not None else float("nan"),
                    paired["high"] if paired["high"] is not None else float("nan"))


def _value(number: float | None) -> float:
    return float("nan") if number is None else float(number)


# the regression and multiclass gates, declared in their own module (after everything they use here)
from mlops_assets.gate import task_gates  # noqa: E402,F401
