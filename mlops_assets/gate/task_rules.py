"""The arithmetic of the regression and multiclass promotion gates (declared in ``task_gates``): pure
functions from computed numbers to a GateResult naming them, in the metric's own direction. As in
``rules``, an undefined input fails the gate.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mlops_assets.core.verdicts import GateResult, finite_or_none
from mlops_assets.gate.rules import _MAX_SLICES_IN_REASON, _fmt, _is_missing

if TYPE_CHECKING:
    import pandas as pd

    from mlops_assets.evaluate.metrics import Estimate


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
