"""Unit tests for the promotion gates' arithmetic (gate.rules) on constructed numbers and slice tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlops_assets.gate.registry import PROMOTION_GATES, GateThresholds, gates_for
from mlops_assets.gate.rules import (
    gate_beats_baseline,
    gate_calibration,
    gate_min_quality,
    gate_no_slice_regression,
    gate_not_worse_than_champion,
)
from mlops_assets.evaluate.bootstrap import bootstrap_estimates, paired_bootstrap_difference
from mlops_assets.evaluate.metrics import (
    Estimate,
    class_prior_baseline,
    log_loss,
    roc_auc,
)
from mlops_assets.evaluate.slices import slice_metrics

DEFAULTS = GateThresholds()


def test_threshold_defaults() -> None:
    assert DEFAULTS == GateThresholds(
        min_auc=0.60,
        max_auc_drop_vs_champion=0.0,
        min_auc_lift_over_baseline=0.02,
        max_slice_auc_drop=0.05,
        min_slice_rows=200,
        max_ece=0.05,
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"min_auc": 1.5},
        {"max_ece": -0.1},
        {"max_auc_drop_vs_champion": math.nan},
        {"min_slice_rows": 0},
    ],
)
def test_thresholds_reject_nonsense(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        GateThresholds(**overrides)


def test_thresholds_name_the_unknown_or_bad_field() -> None:
    with pytest.raises(ValueError, match=r"unknown gate threshold\(s\) \['min_acu'\]"):
        GateThresholds(min_acu=0.7)
    with pytest.raises(ValueError, match="min_slice_rows must be a whole number, got 2.5"):
        GateThresholds(min_slice_rows=2.5)
    with pytest.raises(ValueError, match="min_auc must be at least 0 and at most 1, got 1.5"):
        GateThresholds(min_auc=1.5)
    assert GateThresholds(min_slice_rows=300.0).min_slice_rows == 300


# --------------------------------------------------------------------------- #
# min quality
# --------------------------------------------------------------------------- #


def test_min_quality_passes_at_or_above_floor() -> None:
    verdict = gate_min_quality(0.712, DEFAULTS)
    assert verdict.passed
    assert verdict.check == "check_min_quality"
    assert "0.712" in verdict.summary and "0.600" in verdict.summary
    assert gate_min_quality(0.60, DEFAULTS).passed


def test_min_quality_fails_below_floor() -> None:
    verdict = gate_min_quality(0.55, DEFAULTS)
    assert not verdict.passed
    assert verdict.summary == "candidate AUC 0.550 is below the minimum 0.600"
    assert verdict.observed == 0.55 and verdict.threshold == 0.60


def test_min_quality_fails_on_undefined_auc() -> None:
    verdict = gate_min_quality(math.nan, DEFAULTS)
    assert not verdict.passed
    assert "undefined" in verdict.summary
    assert verdict.to_dict()["observed"] is None


# --------------------------------------------------------------------------- #
# not worse than champion
# --------------------------------------------------------------------------- #


def test_champion_gate_fails_beyond_tolerance_and_names_the_numbers() -> None:
    verdict = gate_not_worse_than_champion(0.712, 0.746, None, DEFAULTS)
    assert not verdict.passed
    assert verdict.summary == (
        "candidate AUC 0.712 is 0.034 below champion AUC 0.746 (tolerance 0.000)"
    )
    assert verdict.delta == pytest.approx(-0.034)
    assert verdict.champion_value == 0.746


def test_champion_gate_passes_within_tolerance_and_when_better() -> None:
    within = gate_not_worse_than_champion(0.741, 0.746, None, GateThresholds(max_auc_drop_vs_champion=0.01))
    assert within.passed
    assert "0.005 below champion AUC 0.746" in within.summary

    better = gate_not_worse_than_champion(0.760, 0.746, None, DEFAULTS)
    assert better.passed
    assert "0.014 above champion AUC 0.746" in better.summary


def test_by_default_a_candidate_worse_on_the_held_out_tail_never_replaces_the_champion() -> None:
    # retraining_value's first retraining: 0.004 worse out of time, promoted under the old 0.01 tolerance
    slightly_worse = gate_not_worse_than_champion(0.644, 0.648, Estimate(value=-0.0041, low=-0.0122, high=0.0034),
                                                  DEFAULTS)
    assert not slightly_worse.passed
    as_good = gate_not_worse_than_champion(0.648, 0.648, Estimate(value=0.0, low=-0.01, high=0.01), DEFAULTS)
    assert as_good.passed  # a retraining that rebuilds the champion itself still passes ("unchanged")


def test_champion_gate_decides_on_the_paired_point_estimate_and_quotes_its_interval() -> None:
    paired = Estimate(value=-0.020, low=-0.031, high=-0.009)
    verdict = gate_not_worse_than_champion(0.740, 0.746, paired, DEFAULTS)
    assert not verdict.passed
    assert verdict.delta == -0.020
    assert "-0.031 to -0.009" in verdict.summary

    tolerant = GateThresholds(max_auc_drop_vs_champion=0.025)
    assert gate_not_worse_than_champion(0.740, 0.746, paired, tolerant).passed


def test_champion_gate_passes_by_rule_without_champion() -> None:
    verdict = gate_not_worse_than_champion(0.55, None, None, DEFAULTS)
    assert verdict.passed
    assert verdict.summary == "no champion yet: passes by rule"
    assert verdict.champion_value is None and verdict.delta is None


def test_champion_gate_fails_when_comparison_is_undefined() -> None:
    verdict = gate_not_worse_than_champion(math.nan, 0.746, None, DEFAULTS)
    assert not verdict.passed
    assert "undefined" in verdict.summary


def test_champion_gate_with_real_paired_bootstrap() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(4_000) < 0.3).astype(int)
    champion_logit = -1.0 + 1.5 * labels + rng.normal(0, 1, labels.size)
    champion = 1 / (1 + np.exp(-champion_logit))
    candidate = 1 / (1 + np.exp(-(champion_logit + rng.normal(0, 1.5, labels.size))))
    paired = paired_bootstrap_difference(labels, candidate, champion, "auc", 0.4)

    verdict = gate_not_worse_than_champion(
        roc_auc(labels, candidate), roc_auc(labels, champion), paired, DEFAULTS
    )
    assert not verdict.passed
    assert verdict.delta == pytest.approx(paired.value)


# --------------------------------------------------------------------------- #
# beats baseline
# --------------------------------------------------------------------------- #


def test_baseline_gate_passes_with_enough_lift() -> None:
    verdict = gate_beats_baseline(0.712, 0.5, DEFAULTS)
    assert verdict.passed
    assert verdict.summary == (
        "candidate AUC 0.712 is +0.212 vs baseline AUC 0.500 (minimum lift 0.020)"
    )
    assert verdict.delta == pytest.approx(0.212)


def test_baseline_gate_fails_with_too_little_lift() -> None:
    verdict = gate_beats_baseline(0.51, 0.5, DEFAULTS)
    assert not verdict.passed
    assert "0.510" in verdict.summary and "+0.010" in verdict.summary and "0.020" in verdict.summary


def test_baseline_gate_fails_when_probabilities_are_worse_than_the_prior() -> None:
    verdict = gate_beats_baseline(
        0.75, 0.5, DEFAULTS, candidate_log_loss=0.70, baseline_log_loss=0.61
    )
    assert not verdict.passed
    assert verdict.summary == "candidate log loss 0.700 is not below baseline log loss 0.610"

    better = gate_beats_baseline(
        0.75, 0.5, DEFAULTS, candidate_log_loss=0.52, baseline_log_loss=0.61
    )
    assert better.passed
    assert "0.520 is below baseline log loss 0.610" in better.summary


# --------------------------------------------------------------------------- #
# calibration
# --------------------------------------------------------------------------- #


def test_calibration_gate() -> None:
    good = gate_calibration(0.031, DEFAULTS)
    assert good.passed
    assert good.summary == "expected calibration error 0.031 is within the maximum 0.050"

    bad = gate_calibration(0.082, DEFAULTS)
    assert not bad.passed
    assert bad.summary == "expected calibration error 0.082 exceeds the maximum 0.050"

    assert not gate_calibration(math.nan, DEFAULTS).passed


# --------------------------------------------------------------------------- #
# slice regression
# --------------------------------------------------------------------------- #


def slice_frame(seed: int = 1) -> pd.DataFrame:
    """Candidate equals the champion everywhere except carrier BAD (big) and TINY (small).

    In both of those carriers the candidate's scores are pure noise.
    """
    rng = np.random.default_rng(seed)
    carriers = np.repeat(["AA", "UA", "DL", "BAD", "TINY"], [1_000, 1_000, 1_000, 600, 40])
    labels = (rng.random(carriers.size) < 0.3).astype(int)
    champion = 1 / (1 + np.exp(-(-1.0 + 2.0 * labels + rng.normal(0, 1, carriers.size))))
    candidate = champion.copy()
    broken = np.isin(carriers, ["BAD", "TINY"])
    candidate[broken] = rng.random(broken.sum())
    return pd.DataFrame(
        {"carrier": carriers, "late": labels, "p_candidate": candidate, "p_champion": champion}
    )


def test_slice_gate_flags_a_bad_slice_and_ignores_a_small_one() -> None:
    table = slice_metrics(slice_frame(), ["carrier"], "late", "p_candidate", "p_champion", 200, 0.4)
    bad = table.set_index("value").loc["BAD"]

    verdict = gate_no_slice_regression(table, DEFAULTS)

    assert not verdict.passed
    assert "carrier=BAD" in verdict.summary
    assert f"{bad['auc_delta']:+.3f}" in verdict.summary
    assert "600 rows" in verdict.summary
    assert "TINY" not in verdict.summary
    assert verdict.summary.startswith("1 of 4 slices compared lost more than 0.050 AUC")
    assert verdict.delta == pytest.approx(bad["auc_delta"])
    assert verdict.observed == pytest.approx(bad["auc"])


def test_slice_gate_applies_its_own_min_rows_to_a_lax_table() -> None:
    table = slice_metrics(slice_frame(), ["carrier"], "late", "p_candidate", "p_champion", 10, 0.4)
    assert table.set_index("value").loc["TINY", "enough_rows"]
    verdict = gate_no_slice_regression(table, GateThresholds(min_slice_rows=700))
    assert verdict.passed
    assert "BAD" not in verdict.summary and "TINY" not in verdict.summary


def test_slice_gate_passes_when_no_slice_regresses() -> None:
    frame = slice_frame()
    frame["p_candidate"] = frame["p_champion"]
    table = slice_metrics(frame, ["carrier"], "late", "p_candidate", "p_champion", 200, 0.4)
    verdict = gate_no_slice_regression(table, DEFAULTS)
    assert verdict.passed
    assert "no slice out of 4 compared lost more than 0.050 AUC" in verdict.summary
    assert verdict.delta == 0.0


def test_slice_gate_passes_by_rule_without_champion() -> None:
    table = slice_metrics(slice_frame(), ["carrier"], "late", "p_candidate", None, 200, 0.4)
    verdict = gate_no_slice_regression(table, DEFAULTS)
    assert verdict.passed
    assert verdict.summary == "no champion yet: passes by rule"


def test_slice_gate_lists_at_most_five_offenders_worst_first() -> None:
    deltas = [-0.06, -0.30, -0.10, -0.08, -0.20, -0.07, -0.09, 0.01]
    table = pd.DataFrame(
        {
            "slice": "origin",
            "value": [f"A{i}" for i in range(len(deltas))],
            "rows": 500,
            "positives": 100,
            "auc": [0.7 + d for d in deltas],
            "log_loss": 0.5,
            "champion_auc": 0.7,
            "auc_delta": deltas,
            "enough_rows": True,
        }
    )
    verdict = gate_no_slice_regression(table, DEFAULTS)
    assert not verdict.passed
    assert verdict.summary.startswith("7 of 8 slices compared")
    assert verdict.summary.count("origin=") == 5
    assert verdict.summary.index("origin=A1 ") < verdict.summary.index("origin=A4 ")
    assert "origin=A0 " not in verdict.summary  # the mildest offender is beyond the first five
    assert verdict.summary.endswith("and 2 more")
    assert verdict.delta == pytest.approx(-0.30)


def test_slice_gate_rejects_a_table_that_is_not_from_slice_metrics() -> None:
    with pytest.raises(ValueError, match="missing column"):
        gate_no_slice_regression(pd.DataFrame({"slice": ["a"]}), DEFAULTS)


# --------------------------------------------------------------------------- #
# verdicts, names, aggregation
# --------------------------------------------------------------------------- #


def test_gate_names_are_stable_and_match_the_verdicts() -> None:
    assert tuple(gates_for("binary")) == (
        "check_min_quality",
        "check_not_worse_than_champion",
        "check_beats_baseline",
        "check_no_slice_regression",
        "check_calibration",
    )
    table = slice_metrics(slice_frame(), ["carrier"], "late", "p_candidate", None, 200, 0.4)
    verdicts = [
        gate_min_quality(0.7, DEFAULTS),
        gate_not_worse_than_champion(0.7, None, None, DEFAULTS),
        gate_beats_baseline(0.7, 0.5, DEFAULTS),
        gate_no_slice_regression(table, DEFAULTS),
        gate_calibration(0.01, DEFAULTS),
    ]
    assert tuple(verdict.check for verdict in verdicts) == tuple(gates_for("binary"))


def test_gates_on_metrics_from_a_first_model() -> None:
    """A first model (no champion) that beats the prior baseline passes every gate."""
    rng = np.random.default_rng(2)
    train_rate = 0.3
    labels = (rng.random(6_000) < train_rate).astype(int)
    logits = -1.6 + 2.4 * labels + rng.normal(0, 1, labels.size)
    candidate = 1 / (1 + np.exp(-logits))
    baseline = class_prior_baseline(train_rate, labels.size)
    estimates = bootstrap_estimates(labels, candidate, threshold=0.4)
    regions = rng.integers(0, 3, labels.size)
    frame = pd.DataFrame({"region": regions, "late": labels, "p": candidate})

    verdicts = [
        gate_min_quality(estimates["auc"].value, DEFAULTS),
        gate_not_worse_than_champion(estimates["auc"].value, None, None, DEFAULTS),
        gate_beats_baseline(
            estimates["auc"].value,
            roc_auc(labels, baseline),
            DEFAULTS,
            candidate_log_loss=estimates["log_loss"].value,
            baseline_log_loss=log_loss(labels, baseline),
        ),
        gate_no_slice_regression(
            slice_metrics(frame, ["region"], "late", "p", None, 200, 0.4), DEFAULTS
        ),
        gate_calibration(estimates["ece"].value, GateThresholds(max_ece=0.2)),
    ]
    assert verdicts and all(v.passed for v in verdicts), [verdict.summary for verdict in verdicts if not verdict.passed]
