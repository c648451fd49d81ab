"""The metric kernels: every binary metric implemented once, as a *weighted* metric over a matrix of row
weights with shape ``(n_resamples, n_rows)``. A bootstrap resample is just a
vector of counts saying how often each row was drawn, so:

* the plain metric functions use a single row of ones, and
* the bootstrap uses one row of draw counts per resample,

which keeps point estimates and bootstrap replicates computed by the same code
and lets the bootstrap run as a few matrix operations instead of a Python loop
per resample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

PROBABILITY_CLIP = 1e-15
"""Probabilities are clipped to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP] for log loss,
so one confident mistake costs a large but finite amount instead of infinity."""

DEFAULT_CALIBRATION_BINS = 10

# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #


def validated_labels(y_true: Sequence[float] | np.ndarray) -> np.ndarray:
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional, got shape {labels.shape}")
    if labels.size == 0:
        raise ValueError("y_true is empty: metrics need at least one row")
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError(f"y_true contains {int(np.isnan(labels).sum())} NaN label(s)")
    if not np.isin(labels, (0, 1)).all():
        unexpected = np.unique(labels[~np.isin(labels, (0, 1))])[:5]
        raise ValueError(f"y_true must contain only 0/1 labels, found {unexpected.tolist()}")
    return labels.astype(np.float64)


def validated_probabilities(
    y_prob: Sequence[float] | np.ndarray, n_rows: int, name: str = "y_prob"
) -> np.ndarray:
    probs = np.asarray(y_prob, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {probs.shape}")
    if probs.size != n_rows:
        raise ValueError(f"{name} has {probs.size} rows but y_true has {n_rows}")
    missing = np.isnan(probs)
    if missing.any():
        raise ValueError(
            f"{name} contains {int(missing.sum())} NaN probabilities; "
            "the model produced missing scores for some rows"
        )
    if probs.min() < 0.0 or probs.max() > 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1], found values from {probs.min()!r} to {probs.max()!r}"
        )
    return probs


def validated_pair(
    y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    labels = validated_labels(y_true)
    return labels, validated_probabilities(y_prob, labels.size)


# --------------------------------------------------------------------------- #
# Weighted metric kernels: (labels, probs, weights[k, n], threshold) -> values[k]
# --------------------------------------------------------------------------- #

WeightedMetric = Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is zero (metric undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        defined = denominator > 0
        return np.where(defined, numerator / np.where(defined, denominator, 1.0), np.nan)


def weighted_auc(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    """Mann-Whitney AUC where row i counts weights[:, i] times.

    Rows are sorted by score once and grouped into runs of equal score, so a
    tied positive/negative pair contributes one half, exactly like average
    ranks. AUC = sum over score groups of
    positives_in_group * (negatives_below_group + negatives_in_group / 2),
    divided by positives * negatives.
    """
    order = np.argsort(probs, kind="stable")
    sorted_probs = probs[order]
    group_starts = np.flatnonzero(np.r_[True, sorted_probs[1:] != sorted_probs[:-1]])
    sorted_weights = weights[:, order]
    positive_weight = sorted_weights * labels[order]
    if group_starts.size < probs.size:  # grouping is the identity when all scores differ
        positive_weight = np.add.reduceat(positive_weight, group_starts, axis=1)
        sorted_weights = np.add.reduceat(sorted_weights, group_starts, axis=1)
    negative_weight = sorted_weights - positive_weight
    negatives_at_or_below = np.cumsum(negative_weight, axis=1)
    concordant = np.sum(positive_weight * (negatives_at_or_below - 0.5 * negative_weight), axis=1)
    pairs = positive_weight.sum(axis=1) * negative_weight.sum(axis=1)
    return safe_ratio(concordant, pairs)


def weighted_log_loss(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    clipped = np.clip(probs, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    row_loss = -(labels * np.log(clipped) + (1.0 - labels) * np.log1p(-clipped))
    return (weights @ row_loss) / weights.sum(axis=1)


def weighted_brier(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    return (weights @ (probs - labels) ** 2) / weights.sum(axis=1)


def weighted_precision(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float
) -> np.ndarray:
    predicted_positive = (probs >= threshold).astype(np.float64)
    true_positives = weights @ (predicted_positive * labels)
    return safe_ratio(true_positives, weights @ predicted_positive)


def weighted_recall(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float
) -> np.ndarray:
    predicted_positive = (probs >= threshold).astype(np.float64)
    true_positives = weights @ (predicted_positive * labels)
    return safe_ratio(true_positives, weights @ labels)


def calibration_bin_ids(probs: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins on [0, 1] using sklearn's calibration_curve convention.

    Bins are right-closed, (low, high], except the first which also holds 0,
    so tables and ECE agree exactly with sklearn.calibration.calibration_curve.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], probs)


def weighted_ece(
    labels: np.ndarray,
    probs: np.ndarray,
    weights: np.ndarray,
    threshold: float = 0.5,
    n_bins: int = DEFAULT_CALIBRATION_BINS,
) -> np.ndarray:
    """Sum over bins of (bin weight / total weight) * |mean predicted - observed rate|."""
    in_bin = np.zeros((probs.size, n_bins))
    in_bin[np.arange(probs.size), calibration_bin_ids(probs, n_bins)] = 1.0
    bin_count = weights @ in_bin
    bin_prob_sum = weights @ (in_bin * probs[:, None])
    bin_label_sum = weights @ (in_bin * labels[:, None])
    # |sum(p) - sum(y)| over a bin equals count * |mean p - observed rate|, so
    # dividing by the total weight gives the count-weighted gap without per-bin division.
    return np.abs(bin_prob_sum - bin_label_sum).sum(axis=1) / bin_count.sum(axis=1)


def full_data_value(
    weighted_metric: WeightedMetric, labels: np.ndarray, probs: np.ndarray, threshold: float
) -> float:
    return float(weighted_metric(labels, probs, np.ones((1, labels.size)), threshold)[0])


WEIGHTED_METRICS: dict[str, WeightedMetric] = {
    "auc": weighted_auc,
    "log_loss": weighted_log_loss,
    "brier": weighted_brier,
    "precision": weighted_precision,
    "recall": weighted_recall,
    "ece": weighted_ece,
}
