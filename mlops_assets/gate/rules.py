"""The arithmetic of the promotion gates (declared, with their thresholds, in ``registry``).

Each gate is a pure function from already-computed numbers to a GateResult,
so gates are trivial to test and the orchestration layer only has to wire
metrics in and verdicts out. Every verdict carries a sentence naming the
numbers behind the decision, because the person reading a blocked promotion
needs to know by how much it failed, not just that it did.

Undefined inputs (NaN metrics) fail the gate: a check that could not be
evaluated must never let a model through.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mlops_assets.core.verdicts import GateResult, finite_or_none

if TYPE_CHECKING:
    import pandas as pd

    from mlops_assets.evaluate.metrics import Estimate
    from mlops_assets.gate.registry import GateThresholds

_MAX_SLICES_IN_REASON = 5


def _is_missing(value: float | None) -> bool:
    return value is None or not math.isfinite(float(value))


def _fmt(value: float | None) -> str:
    return "undefined" if _is_missing(value) else f"{float(value):.3f}"


def gate_min_quality(candidate_auc: float, thresholds: GateThresholds) -> GateResult:
    """Candidate AUC must reach an absolute floor."""
    limit = thresholds.min_auc
    if _is_missing(candidate_auc):
        passed = False
        reason = f"candidate AUC is undefined, so it cannot reach the minimum {limit:.3f}"
    elif candidate_auc >= limit:
        passed = True
        reason = f"candidate AUC {candidate_auc:.3f} is at or above the minimum {limit:.3f}"
    else:
        passed = False
        reason = f"candidate AUC {candidate_auc:.3f} is below the minimum {limit:.3f}"
    return GateResult(
        check="check_min_quality",
        passed=passed,
        metric="auc",
        observed=finite_or_none(candidate_auc),
        threshold=limit,
        champion_value=None,
        delta=None,
        summary=reason,
    )


def gate_not_worse_than_champion(
    candidate_auc: float,
    champion_auc: float | None,
    paired_delta: Estimate | None,
    thresholds: GateThresholds,
) -> GateResult:
    """Candidate AUC may not fall more than the tolerance below the champion's.

    Decided on the point estimate of the paired difference (candidate minus
    champion on the same rows); its bootstrap interval is quoted in the reason
    for context but does not decide. Without a paired estimate the plain
    difference of the two AUCs is used, which on the same rows is the same
    number. With no champion the gate passes by rule: there is nothing to regress from.
    """
    tolerance = thresholds.max_auc_drop_vs_champion

    def verdict(passed: bool, delta: float | None, reason: str) -> GateResult:
        return GateResult(
            check="check_not_worse_than_champion",
            passed=passed,
            metric="auc",
            observed=finite_or_none(candidate_auc),
            threshold=tolerance,
            champion_value=finite_or_none(champion_auc),
            delta=finite_or_none(delta),
            summary=reason,
        )

    if champion_auc is None:
        return verdict(True, None, "no champion yet: passes by rule")
    delta = paired_delta.value if paired_delta is not None else candidate_auc - champion_auc
    if _is_missing(candidate_auc) or _is_missing(champion_auc) or _is_missing(delta):
        return verdict(
            False,
            delta,
            f"cannot compare candidate AUC {_fmt(candidate_auc)} with champion AUC "
            f"{_fmt(champion_auc)}: a value is undefined",
        )
    interval = (
        ""
        if paired_delta is None
        else "; paired bootstrap interval of the difference "
        f"{_fmt(paired_delta.low)} to {_fmt(paired_delta.high)}"
    )
    direction = "above" if delta >= 0 else "below"
    comparison = (
        f"candidate AUC {candidate_auc:.3f} is {abs(delta):.3f} {direction} "
        f"champion AUC {champion_auc:.3f} (tolerance {tolerance:.3f}{interval})"
    )
    if delta < -tolerance:
        return verdict(False, delta, comparison)
    return verdict(True, delta, comparison)


def gate_beats_baseline(
    candidate_auc: float,
    baseline_auc: float,
    thresholds: GateThresholds,
    *,
    candidate_log_loss: float | None = None,
    baseline_log_loss: float | None = None,
) -> GateResult:
    """Candidate must beat the class-prior baseline.

    The prior baseline predicts one constant, so its AUC is 0.5 by
    construction and the AUC check amounts to "ranks better than chance by
    min_auc_lift_over_baseline". Ranking alone does not show the
    probabilities are useful, so when both log losses are given the candidate
    must also have strictly lower log loss than the baseline; a model that
    ranks well but whose probabilities are worse than just quoting the late
    rate fails. The verdict's numeric fields describe the AUC comparison.
    """
    min_lift = thresholds.min_auc_lift_over_baseline
    delta = candidate_auc - baseline_auc
    problems: list[str] = []
    facts: list[str] = []

    if _is_missing(candidate_auc) or _is_missing(baseline_auc):
        problems.append(
            f"AUC lift is undefined (candidate {_fmt(candidate_auc)}, "
            f"baseline {_fmt(baseline_auc)})"
        )
    else:
        lift_text = (
            f"candidate AUC {candidate_auc:.3f} is {delta:+.3f} vs baseline AUC "
            f"{baseline_auc:.3f} (minimum lift {min_lift:.3f})"
        )
        (facts if delta >= min_lift else problems).append(lift_text)

    if candidate_log_loss is not None and baseline_log_loss is not None:
        if _is_missing(candidate_log_loss) or _is_missing(baseline_log_loss):
            problems.append(
                f"log loss comparison is undefined (candidate {_fmt(candidate_log_loss)}, "
                f"baseline {_fmt(baseline_log_loss)})"
            )
        else:
            relation = "below" if candidate_log_loss < baseline_log_loss else "not below"
            log_loss_text = (
                f"candidate log loss {candidate_log_loss:.3f} is {relation} "
                f"baseline log loss {baseline_log_loss:.3f}"
            )
            (facts if candidate_log_loss < baseline_log_loss else problems).append(log_loss_text)

    return GateResult(
        check="check_beats_baseline",
        passed=not problems,
        metric="auc",
        observed=finite_or_none(candidate_auc),
        threshold=min_lift,
        champion_value=finite_or_none(baseline_auc),
        delta=finite_or_none(delta),
        summary="; ".join(problems or facts),
    )


_SLICE_TABLE_COLUMNS = ("slice", "value", "rows", "auc", "enough_rows")


def gate_no_slice_regression(slice_table: pd.DataFrame, thresholds: GateThresholds) -> GateResult:
    """No trustworthy slice may lose more than max_slice_auc_drop AUC vs the champion.

    A slice counts only if slice_metrics marked it enough_rows (both classes
    present) and it also has at least thresholds.min_slice_rows rows, so a
    table built with a laxer min_rows cannot let tiny, noisy slices block a
    promotion. If no slice qualifies the gate passes: there is no evidence of
    a regression. With no champion columns in the table it passes by rule.
    The numeric fields describe the worst qualifying slice.
    """
    tolerance = thresholds.max_slice_auc_drop
    missing = [column for column in _SLICE_TABLE_COLUMNS if column not in slice_table.columns]
    if missing:
        raise ValueError(f"slice table is missing column(s) {missing}; build it with slice_metrics")

    def verdict(passed: bool, reason: str, worst: pd.Series | None = None) -> GateResult:
        return GateResult(
            check="check_no_slice_regression",
            passed=passed,
            metric="slice_auc",
            observed=None if worst is None else finite_or_none(worst["auc"]),
            threshold=tolerance,
            champion_value=None if worst is None else finite_or_none(worst["champion_auc"]),
            delta=None if worst is None else finite_or_none(worst["auc_delta"]),
            summary=reason,
        )

    if "auc_delta" not in slice_table.columns or "champion_auc" not in slice_table.columns:
        return verdict(True, "no champion yet: passes by rule")

    qualifying = slice_table[
        slice_table["enough_rows"].astype(bool)
        & (slice_table["rows"] >= thresholds.min_slice_rows)
        & slice_table["auc_delta"].notna()
    ].sort_values(["auc_delta", "slice", "value"], kind="stable")
    if qualifying.empty:
        return verdict(
            True,
            f"none of {len(slice_table)} slices has at least {thresholds.min_slice_rows} rows "
            "and both classes, so no slice can be compared",
        )

    worst = qualifying.iloc[0]
    offenders = qualifying[qualifying["auc_delta"] < -tolerance]
    if offenders.empty:
        return verdict(
            True,
            f"no slice out of {len(qualifying)} compared lost more than {tolerance:.3f} AUC "
            f"vs champion; worst was {_describe_slice(worst)}",
            worst,
        )
    listed = "; ".join(
        _describe_slice(row) for _, row in offenders.head(_MAX_SLICES_IN_REASON).iterrows()
    )
    more = len(offenders) - _MAX_SLICES_IN_REASON
    suffix = f"; and {more} more" if more > 0 else ""
    return verdict(
        False,
        f"{len(offenders)} of {len(qualifying)} slices compared lost more than {tolerance:.3f} AUC "
        f"vs champion: {listed}{suffix}",
        worst,
    )


def _describe_slice(row: pd.Series) -> str:
    return (
        f"{row['slice']}={row['value']} AUC {row['auc']:.3f} vs champion {row['champion_auc']:.3f} "
        f"(delta {row['auc_delta']:+.3f}, {int(row['rows']):,} rows)"
    )


def gate_calibration(ece: float, thresholds: GateThresholds) -> GateResult:
    """Expected calibration error must not exceed max_ece."""
    limit = thresholds.max_ece
    if _is_missing(ece):
        passed = False
        reason = f"calibration error is undefined, so it cannot be checked against {limit:.3f}"
    elif ece <= limit:
        passed = True
        reason = f"expected calibration error {ece:.3f} is within the maximum {limit:.3f}"
    else:
        passed = False
        reason = f"expected calibration error {ece:.3f} exceeds the maximum {limit:.3f}"
    return GateResult(
        check="check_calibration",
        passed=passed,
        metric="ece",
        observed=finite_or_none(ece),
        threshold=limit,
        champion_value=None,
        delta=None,
        summary=reason,
    )


# -- the gates of tasks other than binary: one metric, its declared direction --------------------------


def _worse_by(candidate: float, reference: float, higher_is_better: bool) -> float:
    """How much worse the candidate is than the reference, in the metric's units (negative: better)."""
    return reference - candidate if higher_is_better else candidate - reference


def gate_metric_floor(check: str, metric: str, spoken: str, value: float, limit: float,
                      higher_is_better: bool) -> GateResult:
    """The candidate's ``metric`` must reach ``limit`` (at least it, or at most it for a loss)."""
    bound = "minimum" if higher_is_better else "maximum"
    if _is_missing(value):
        passed, reason = False, f"candidate {spoken} is undefined, so it cannot reach the {bound} {limit:.3f}"
    else:
        passed = _worse_by(value, limit, higher_is_better) <= 0
        relation = ("at or above" if higher_is_better else "at or below") if passed else (
            "below" if higher_is_better else "above")
        reason = f"candidate {spoken} {value:.3f} is {relation} the {bound} {limit:.3f}"
    return GateResult(check=check, passed=passed, metric=metric, observed=finite_or_none(value), threshold=limit,
                      champion_value=None, delta=None, summary=reason)


def gate_no_worse_than(
    check: str, metric: str, spoken: str, candidate: float, reference: float | None, paired: Estimate | None,
    tolerance: float, higher_is_better: bool, *, relative: bool, reference_name: str = "champion",
) -> GateResult:
    """The candidate may be worse than ``reference`` (the champion on the same rows) by at most
    ``tolerance``: in the metric's units, or ``relative`` to the reference's value (for metrics in
    the target's units, such as RMSE). Decided on the paired difference when there is one."""
    if reference is None:
        return GateResult(check=check, passed=True, metric=metric, observed=finite_or_none(candidate),
                          threshold=tolerance, summary=f"no {reference_name} yet: passes by rule")
    delta = paired.value if paired is not None else candidate - reference
    if _is_missing(candidate) or _is_missing(reference) or _is_missing(delta):
        return GateResult(check=check, passed=False, metric=metric, observed=finite_or_none(candidate),
                          threshold=tolerance, champion_value=finite_or_none(reference), delta=finite_or_none(delta),
                          summary=f"cannot compare candidate {spoken} {_fmt(candidate)} with {reference_name} "
                                  f"{spoken} {_fmt(reference)}: a value is undefined")
    worse = delta if not higher_is_better else -delta
    allowed = tolerance * abs(reference) if relative else tolerance
    interval = "" if paired is None else f"; paired bootstrap interval {_fmt(paired.low)} to {_fmt(paired.high)}"
    allowance = f"{tolerance:.1%} of it, {allowed:.3f}" if relative else f"{allowed:.3f}"
    direction = "worse than" if worse > 0 else "no worse than"
    reason = (f"candidate {spoken} {candidate:.3f} is {abs(delta):.3f} {direction} {reference_name} {spoken} "
              f"{reference:.3f} (tolerance {allowance}{interval})")
    return GateResult(check=check, passed=worse <= allowed, metric=metric, observed=finite_or_none(candidate),
                      threshold=tolerance, champion_value=finite_or_none(reference), delta=finite_or_none(delta),
                      summary=reason)


def gate_beats_trivial_baseline(
    check: str, metric: str, spoken: str, candidate: float, baseline: float | None, min_improvement: float,
    higher_is_better: bool, baseline_name: str,
) -> GateResult:
    """The candidate must beat the trivial baseline's ``metric`` by at least ``min_improvement`` of
    the baseline's value (a loss at most (1 - min_improvement) times the baseline's)."""
    if _is_missing(candidate) or _is_missing(baseline):
        return GateResult(check=check, passed=False, metric=metric, observed=finite_or_none(candidate),
                          threshold=min_improvement, champion_value=finite_or_none(baseline),
                          summary=f"cannot compare candidate {spoken} {_fmt(candidate)} with the {baseline_name} "
                                  f"baseline's {_fmt(baseline)}: a value is undefined")
    improvement = -_worse_by(candidate, baseline, higher_is_better)
    share = improvement / abs(baseline) if baseline else math.inf if improvement > 0 else 0.0
    passed = share >= min_improvement
    reason = (f"candidate {spoken} {candidate:.3f} vs the {baseline_name} baseline's {baseline:.3f}: "
              f"{share:+.1%} better (required {min_improvement:.1%})")
    return GateResult(check=check, passed=passed, metric=metric, observed=finite_or_none(candidate),
                      threshold=min_improvement, champion_value=finite_or_none(baseline),
                      delta=finite_or_none(candidate - baseline), summary=reason)


def gate_no_slice_worse(
    check: str, metric: str, spoken: str, slice_table: pd.DataFrame, tolerance: float, min_rows: int,
    higher_is_better: bool,
) -> GateResult:
    """No slice with enough rows may be worse than the champion on it by more than ``tolerance`` of
    the champion's value there (``primary_metric_slices``' table). Without champion columns it
    passes by rule; with no slice to compare it passes: there is no evidence of a regression."""
    delta, champion = f"{metric}_delta", f"champion_{metric}"

    def verdict(passed: bool, reason: str, worst: pd.Series | None = None) -> GateResult:
        return GateResult(check=check, passed=passed, metric=f"slice_{metric}", threshold=tolerance, summary=reason,
                          observed=None if worst is None else finite_or_none(worst[metric]),
                          champion_value=None if worst is None else finite_or_none(worst[champion]),
                          delta=None if worst is None else finite_or_none(worst[delta]))

    if delta not in slice_table.columns:
        return verdict(True, "no champion yet: passes by rule")
    table = slice_table[slice_table["enough_rows"].astype(bool) & (slice_table["rows"] >= min_rows)
                        & slice_table[delta].notna() & slice_table[champion].notna()].copy()
    if table.empty:
        return verdict(True, f"none of {len(slice_table)} slices has at least {min_rows} rows with {spoken} "
                             "defined, so no slice can be compared")
    table["share_worse"] = (-table[delta] if higher_is_better else table[delta]) / table[champion].abs()
    table = table.sort_values(["share_worse", "slice", "value"], ascending=[False, True, True], kind="stable")
    worst = table.iloc[0]

    def describe(row: pd.Series) -> str:
        return (f"{row['slice']}={row['value']} {spoken} {row[metric]:.3f} vs champion {row[champion]:.3f} "
                f"({row['share_worse']:+.1%} worse, {int(row['rows']):,} rows)")

    offenders = table[table["share_worse"] > tolerance]
    if offenders.empty:
        return verdict(True, f"no slice out of {len(table)} compared is more than {tolerance:.1%} worse in {spoken} "
                             f"than the champion; worst was {describe(worst)}", worst)
    listed = "; ".join(describe(row) for _, row in offenders.head(_MAX_SLICES_IN_REASON).iterrows())
    return verdict(False, f"{len(offenders)} of {len(table)} slices compared are more than {tolerance:.1%} worse in "
                          f"{spoken} than the champion: {listed}", worst)
