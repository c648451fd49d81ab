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
