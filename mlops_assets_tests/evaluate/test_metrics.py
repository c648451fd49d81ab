"""Unit tests for mlops_assets.evaluate.metrics, checked against sklearn where possible."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlops_assets.evaluate import bootstrap
from mlops_assets.evaluate.weighted import WEIGHTED_METRICS
from mlops_assets.evaluate.bootstrap import bootstrap_estimates, paired_bootstrap_difference
from mlops_assets.evaluate.metrics import (
    METRICS,
    Estimate,
    brier_score,
    calibration_table,
    choose_threshold,
    class_prior_baseline,
    expected_calibration_error,
    log_loss,
    precision_at,
    recall_at,
    roc_auc,
)
from mlops_assets.evaluate.slices import slice_metrics


def informative_scores(
    n: int, seed: int, noise: float = 1.0, base_rate: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Labels plus probabilities that carry signal: logit = 1.5 * label-shift + noise."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < base_rate).astype(int)
    logits = -1.0 + 1.5 * labels + rng.normal(0.0, noise, n)
    return labels, 1.0 / (1.0 + np.exp(-logits))


def sklearn_ece(labels: np.ndarray, probs: np.ndarray, n_bins: int) -> float:
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(labels, probs, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], probs), minlength=n_bins)
    counts = counts[counts > 0]
    return float(np.sum(counts / counts.sum() * np.abs(predicted - observed)))


# --------------------------------------------------------------------------- #
# Point metrics vs sklearn
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_matches_sklearn_on_random_data(seed: int) -> None:
    from sklearn.metrics import roc_auc_score

    labels, probs = informative_scores(3_000, seed)
    assert roc_auc(labels, probs) == pytest.approx(roc_auc_score(labels, probs), abs=1e-12)


def test_roc_auc_matches_sklearn_with_heavy_ties() -> None:
    from sklearn.metrics import roc_auc_score

    labels, probs = informative_scores(3_000, seed=5)
    rounded = np.round(probs, 1)
    assert len(np.unique(rounded)) < 15
    assert roc_auc(labels, rounded) == pytest.approx(roc_auc_score(labels, rounded), abs=1e-12)


def test_roc_auc_counts_tied_pairs_as_half() -> None:
    # Pairs: 0.4 vs 0.1 -> 1, 0.4 vs 0.4 -> 0.5, 0.8 vs both -> 2; total 3.5 of 4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.4, 0.8]) == pytest.approx(0.875)
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([1, 0], [0.2, 0.9]) == pytest.approx(0.0)


def test_roc_auc_is_nan_for_single_class() -> None:
    assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(roc_auc([0, 0], [0.2, 0.5]))


def test_log_loss_matches_sklearn() -> None:
    from sklearn.metrics import log_loss as sklearn_log_loss

    labels, probs = informative_scores(2_000, seed=3)
    assert log_loss(labels, probs) == pytest.approx(sklearn_log_loss(labels, probs), rel=1e-12)


def test_log_loss_clips_certain_mistakes_to_a_finite_cost() -> None:
    assert log_loss([1], [0.0]) == pytest.approx(-math.log(1e-15))
    # 1 - (1 - 1e-15) is not exactly 1e-15 in floating point, hence the loose tolerance.
    assert log_loss([0], [1.0]) == pytest.approx(-math.log(1e-15), rel=1e-2)
    assert log_loss([1, 0], [1.0, 0.0]) < 1e-12


def test_brier_matches_sklearn() -> None:
    from sklearn.metrics import brier_score_loss

    labels, probs = informative_scores(2_000, seed=4)
    assert brier_score(labels, probs) == pytest.approx(brier_score_loss(labels, probs), rel=1e-12)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_precision_and_recall_match_sklearn(threshold: float) -> None:
    from sklearn.metrics import precision_score, recall_score

    labels, probs = informative_scores(2_000, seed=6)
    predicted = (probs >= threshold).astype(int)
    expected_precision = precision_score(labels, predicted)
    assert precision_at(labels, probs, threshold) == pytest.approx(expected_precision)
    assert recall_at(labels, probs, threshold) == pytest.approx(recall_score(labels, predicted))


def test_precision_is_nan_without_positive_predictions_and_recall_without_positive_labels() -> None:
    assert math.isnan(precision_at([0, 1], [0.1, 0.2], threshold=0.5))
    assert math.isnan(recall_at([0, 0], [0.1, 0.9], threshold=0.5))


def test_threshold_is_inclusive() -> None:
    assert precision_at([1, 0], [0.5, 0.4], threshold=0.5) == 1.0
    assert recall_at([1, 0], [0.5, 0.4], threshold=0.5) == 1.0


@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_ece_matches_sklearn_calibration_curve(n_bins: int) -> None:
    labels, probs = informative_scores(3_000, seed=7)
    assert expected_calibration_error(labels, probs, n_bins) == pytest.approx(
        sklearn_ece(labels, probs, n_bins), abs=1e-12
    )


def test_ece_bins_values_on_edges_like_sklearn() -> None:
    probs = np.array([0.0, 0.1, 0.1, 0.2, 0.5, 0.5, 0.9, 1.0, 1.0, 0.3])
    labels = np.array([0, 0, 1, 0, 1, 0, 1, 1, 0, 1])
    expected = sklearn_ece(labels, probs, 10)
    assert expected_calibration_error(labels, probs) == pytest.approx(expected)


def test_ece_is_zero_when_each_bin_is_perfectly_calibrated() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    probs = np.array([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75])
    assert expected_calibration_error(labels, probs, n_bins=4) == pytest.approx(0.0)


def test_calibration_table_matches_sklearn_and_keeps_empty_bins() -> None:
    from sklearn.calibration import calibration_curve

    labels, probs = informative_scores(2_000, seed=8)
    probs = probs * 0.5  # leaves the upper half of the bins empty
    table = calibration_table(labels, probs, n_bins=10)
    observed, predicted = calibration_curve(labels, probs, n_bins=10)

    assert list(table.columns) == [
        "bin_low", "bin_high", "mean_predicted", "observed_rate", "count",
    ]  # fmt: skip
    assert len(table) == 10
    assert table["count"].sum() == len(labels)
    filled = table[table["count"] > 0]
    np.testing.assert_allclose(filled["observed_rate"], observed)
    np.testing.assert_allclose(filled["mean_predicted"], predicted)
    assert table.loc[table["count"] == 0, "observed_rate"].isna().all()


# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("metric_name", sorted(METRICS))
def test_every_metric_rejects_empty_input(metric_name: str) -> None:
    function, _ = METRICS[metric_name]
    with pytest.raises(ValueError, match="empty"):
        function(np.array([]), np.array([]), 0.5)


@pytest.mark.parametrize("metric_name", sorted(METRICS))
def test_every_metric_rejects_nan_probabilities(metric_name: str) -> None:
    function, _ = METRICS[metric_name]
    with pytest.raises(ValueError, match="NaN probabilities"):
        function(np.array([0, 1, 1]), np.array([0.1, np.nan, 0.7]), 0.5)


def test_rejects_mismatched_lengths_bad_labels_and_out_of_range_probabilities() -> None:
    with pytest.raises(ValueError, match="rows"):
        roc_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="0/1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_loss([0, 1], [-0.1, 0.2])


def test_bootstrap_rejects_empty_and_nan_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        bootstrap_estimates([], [], threshold=0.5)
    with pytest.raises(ValueError, match="prob_champion contains 1 NaN"):
        paired_bootstrap_difference([0, 1], [0.1, 0.9], [0.1, np.nan], "auc", 0.5)


# --------------------------------------------------------------------------- #
# Registry and weighted kernels
# --------------------------------------------------------------------------- #


def test_registry_names_and_directions() -> None:
    directions = {name: spec.higher_is_better for name, spec in METRICS.items()}
    assert directions == {
        "auc": True,
        "log_loss": False,
        "brier": False,
        "precision": True,
        "recall": True,
        "ece": False,
    }


def test_registry_functions_share_one_call_signature() -> None:
    labels, probs = informative_scores(500, seed=9)
    assert METRICS["auc"].function(labels, probs, 0.3) == roc_auc(labels, probs)
    assert METRICS["precision"].function(labels, probs, 0.3) == precision_at(labels, probs, 0.3)
    assert METRICS["ece"].function(labels, probs, 0.3) == expected_calibration_error(labels, probs)


@pytest.mark.parametrize("with_ties", [False, True])
@pytest.mark.parametrize("metric_name", sorted(METRICS))
def test_weighted_kernel_equals_metric_on_materialised_resample(
    metric_name: str, with_ties: bool
) -> None:
    """The bootstrap's count-weight shortcut must equal scoring the duplicated rows."""
    labels, probs = informative_scores(400, seed=10)
    if with_ties:  # exercises the grouped AUC path; distinct scores skip grouping
        probs = np.round(probs, 2)
    rng = np.random.default_rng(11)
    drawn = rng.integers(0, labels.size, size=(3, labels.size))
    weights = np.stack([np.bincount(rows, minlength=labels.size) for rows in drawn]).astype(float)

    weighted = WEIGHTED_METRICS[metric_name](labels.astype(float), probs, weights, 0.4)

    function, _ = METRICS[metric_name]
    expected = [function(labels[rows], probs[rows], 0.4) for rows in drawn]
    np.testing.assert_allclose(weighted, expected, rtol=1e-10)


# --------------------------------------------------------------------------- #
# Bootstrap
# --------------------------------------------------------------------------- #


def test_bootstrap_intervals_contain_point_estimates() -> None:
    labels, probs = informative_scores(5_000, seed=12)
    estimates = bootstrap_estimates(labels, probs, threshold=0.4, n_boot=200, seed=0)

    assert set(estimates) == set(METRICS)
    for name, estimate in estimates.items():
        assert estimate.low <= estimate.value <= estimate.high, name
        assert estimate.low < estimate.high, name
    assert estimates["auc"].value == pytest.approx(roc_auc(labels, probs))
    assert estimates["ece"].value == pytest.approx(expected_calibration_error(labels, probs))


def test_bootstrap_interval_narrows_with_more_rows() -> None:
    small = bootstrap_estimates(*informative_scores(1_000, seed=13), threshold=0.4, n_boot=200)
    large = bootstrap_estimates(*informative_scores(20_000, seed=13), threshold=0.4, n_boot=200)
    for name in ("auc", "log_loss", "brier"):
        small_width = small[name].high - small[name].low
        large_width = large[name].high - large[name].low
        assert large_width < 0.5 * small_width, name


def test_bootstrap_is_deterministic_per_seed() -> None:
    labels, probs = informative_scores(2_000, seed=14)
    first = bootstrap_estimates(labels, probs, 0.4, n_boot=50, seed=3)
    again = bootstrap_estimates(labels, probs, 0.4, n_boot=50, seed=3)
    other = bootstrap_estimates(labels, probs, 0.4, n_boot=50, seed=4)
    assert first == again
    assert first["auc"] != other["auc"]


def test_bootstrap_works_across_several_memory_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    labels, probs = informative_scores(1_000, seed=15)
    monkeypatch.setattr(bootstrap, "_MAX_WEIGHT_CELLS_PER_CHUNK", 7_000)  # 7 resamples per chunk
    chunked = bootstrap_estimates(labels, probs, 0.4, n_boot=50)
    assert chunked["auc"].low <= chunked["auc"].value <= chunked["auc"].high
    identical = paired_bootstrap_difference(labels, probs, probs, "auc", 0.4, n_boot=50)
    assert identical == Estimate(0.0, 0.0, 0.0)


def test_bootstrap_with_one_class_gives_nan_auc_without_crashing() -> None:
    estimates = bootstrap_estimates([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], threshold=0.5, n_boot=20)
    assert math.isnan(estimates["auc"].value)
    assert math.isnan(estimates["auc"].low) and math.isnan(estimates["auc"].high)
    assert math.isfinite(estimates["log_loss"].value)
    assert estimates["auc"].to_dict() == {"value": None, "low": None, "high": None}


def test_bootstrap_rejects_unknown_metric_and_bad_alpha() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap_difference([0, 1], [0.1, 0.9], [0.1, 0.9], "accuracy", 0.5)
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_estimates([0, 1], [0.1, 0.9], 0.5, alpha=1.5)


@pytest.mark.parametrize("metric_name", sorted(METRICS))
def test_paired_difference_is_exactly_zero_for_identical_models(metric_name: str) -> None:
    labels, probs = informative_scores(2_000, seed=16)
    difference = paired_bootstrap_difference(labels, probs, probs.copy(), metric_name, 0.4)
    assert difference == Estimate(0.0, 0.0, 0.0)


def test_paired_difference_is_negative_when_candidate_is_noisier() -> None:
    labels, champion = informative_scores(5_000, seed=17)
    rng = np.random.default_rng(18)
    logits = np.log(champion / (1 - champion)) + rng.normal(0.0, 1.5, labels.size)
    candidate = 1.0 / (1.0 + np.exp(-logits))

    difference = paired_bootstrap_difference(labels, candidate, champion, "auc", 0.4)

    assert difference.value == pytest.approx(roc_auc(labels, candidate) - roc_auc(labels, champion))
    assert difference.high < 0.0
    assert difference.low <= difference.value <= difference.high


def test_paired_interval_is_narrower_than_unpaired_intervals() -> None:
    """Pairing cancels row difficulty: the difference is more precise than either AUC alone."""
    labels, champion = informative_scores(5_000, seed=19)
    rng = np.random.default_rng(20)
    candidate = np.clip(champion + rng.normal(0.0, 0.02, labels.size), 0.0, 1.0)
    paired = paired_bootstrap_difference(labels, candidate, champion, "auc", 0.4)
    alone = bootstrap_estimates(labels, champion, 0.4)["auc"]
    assert paired.high - paired.low < 0.5 * (alone.high - alone.low)


def test_estimate_to_dict() -> None:
    assert Estimate(0.7, 0.6, 0.8).to_dict() == {"value": 0.7, "low": 0.6, "high": 0.8}
    assert Estimate(math.nan, 0.1, math.inf).to_dict() == {"value": None, "low": 0.1, "high": None}


# --------------------------------------------------------------------------- #
# Baseline
# --------------------------------------------------------------------------- #


def test_class_prior_baseline_is_constant_with_auc_one_half() -> None:
    labels, _ = informative_scores(1_000, seed=21)
    baseline = class_prior_baseline(0.3, labels.size)
    assert baseline.shape == (1_000,)
    assert np.all(baseline == 0.3)
    assert roc_auc(labels, baseline) == 0.5


def test_class_prior_baseline_rejects_invalid_rate() -> None:
    with pytest.raises(ValueError, match="train_label_rate"):
        class_prior_baseline(1.2, 10)
    with pytest.raises(ValueError, match="train_label_rate"):
        class_prior_baseline(math.nan, 10)


# --------------------------------------------------------------------------- #
# Slices
# --------------------------------------------------------------------------- #


def flights_frame(seed: int = 22) -> pd.DataFrame:
    labels, candidate = informative_scores(1_200, seed=seed)
    rng = np.random.default_rng(seed + 1000)  # independent of the labels' random stream
    return pd.DataFrame(
        {
            "carrier": np.where(rng.random(labels.size) < 0.5, "AA", "UA"),
            "month": rng.integers(1, 4, labels.size),
            "late": labels,
            "p_candidate": candidate,
            "p_champion": np.clip(candidate + rng.normal(0, 0.05, labels.size), 0, 1),
        }
    )


def test_slice_metrics_one_row_per_slice_value_with_string_values() -> None:
    frame = flights_frame()
    table = slice_metrics(
        frame, ["carrier", "month"], "late", "p_candidate", "p_champion", 100, 0.4
    )

    assert list(table.columns) == [
        "slice", "value", "rows", "positives", "auc", "log_loss", "precision", "recall",
        "champion_auc", "auc_delta", "enough_rows",
    ]  # fmt: skip
    assert list(zip(table["slice"], table["value"])) == [
        ("carrier", "AA"), ("carrier", "UA"), ("month", "1"), ("month", "2"), ("month", "3"),
    ]  # fmt: skip
    for slice_name, rows in table.groupby("slice")["rows"]:
        assert rows.sum() == len(frame), slice_name

    aa = frame[frame["carrier"] == "AA"]
    aa_row = table.iloc[0]
    assert aa_row["rows"] == len(aa)
    assert aa_row["positives"] == aa["late"].sum()
    assert aa_row["auc"] == pytest.approx(roc_auc(aa["late"], aa["p_candidate"]))
    assert aa_row["log_loss"] == pytest.approx(log_loss(aa["late"], aa["p_candidate"]))
    assert aa_row["champion_auc"] == pytest.approx(roc_auc(aa["late"], aa["p_champion"]))
    assert aa_row["auc_delta"] == pytest.approx(aa_row["auc"] - aa_row["champion_auc"])
    assert table["enough_rows"].all()


def test_slice_metrics_marks_small_and_single_class_slices_as_not_enough() -> None:
    frame = flights_frame()
    frame.loc[:4, "carrier"] = "TINY"
    frame.loc[5:404, "carrier"] = "ALL_LATE"
    frame.loc[5:404, "late"] = 1
    table = slice_metrics(frame, ["carrier"], "late", "p_candidate", None, 50, 0.4)
    table = table.set_index("value")

    assert not table.loc["TINY", "enough_rows"]
    assert not table.loc["ALL_LATE", "enough_rows"]
    assert math.isnan(table.loc["ALL_LATE", "auc"])
    assert table.loc["AA", "enough_rows"]
    assert "champion_auc" not in table.columns and "auc_delta" not in table.columns


def test_slice_metrics_reports_missing_columns() -> None:
    with pytest.raises(ValueError, match="missing column"):
        slice_metrics(flights_frame(), ["origin"], "late", "p_candidate", None, 10, 0.5)


# --------------------------------------------------------------------------- #
# Threshold choice
# --------------------------------------------------------------------------- #


def test_choose_threshold_maximises_f1() -> None:
    from sklearn.metrics import f1_score

    labels, probs = informative_scores(2_000, seed=23)
    probs = np.round(probs, 2)
    chosen = choose_threshold(labels, probs)

    best_possible = max(f1_score(labels, probs >= t) for t in np.unique(probs))
    assert f1_score(labels, probs >= chosen) == pytest.approx(best_possible)
    assert choose_threshold(labels, probs) == chosen


def test_choose_threshold_falls_between_separated_classes() -> None:
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.3, 0.7, 0.9]) == pytest.approx(0.5)


def test_choose_threshold_needs_a_positive_label() -> None:
    with pytest.raises(ValueError, match="positive label"):
        choose_threshold([0, 0], [0.2, 0.4])
