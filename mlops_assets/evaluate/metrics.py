"""Binary-classification metrics: the point metrics, their registry, the class-prior baseline and the
decision threshold. Each is computed by the weighted kernels in ``weighted``; ``bootstrap`` puts
intervals on them and ``slices`` breaks them down by slice.

Only numpy is imported at module level so that importing this module is cheap; pandas is imported
inside the function that returns a DataFrame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mlops_assets.evaluate.tasks import METRIC_REGISTRY
from mlops_assets.evaluate.weighted import (
    DEFAULT_CALIBRATION_BINS, calibration_bin_ids, full_data_value, safe_ratio, validated_pair, weighted_auc,
    weighted_brier, weighted_ece, weighted_log_loss, weighted_precision, weighted_recall,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Estimate:
    """A point estimate on the full data plus a bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        """JSON-friendly form; undefined values (NaN) become None."""
        return {
            "value": json_float(self.value),
            "low": json_float(self.low),
            "high": json_float(self.high),
        }


def json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


# --------------------------------------------------------------------------- #
# Public metric functions
# --------------------------------------------------------------------------- #


def roc_auc(y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve; tied scores count one half. NaN if only one class is present."""
    labels, probs = validated_pair(y_true, y_prob)
    return full_data_value(weighted_auc, labels, probs, 0.5)


def log_loss(y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray) -> float:
    """Mean binary cross-entropy with probabilities clipped to [1e-15, 1 - 1e-15]."""
    labels, probs = validated_pair(y_true, y_prob)
    return full_data_value(weighted_log_loss, labels, probs, 0.5)


def brier_score(
    y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray
) -> float:
    """Mean squared difference between predicted probability and the 0/1 outcome."""
    labels, probs = validated_pair(y_true, y_prob)
    return full_data_value(weighted_brier, labels, probs, 0.5)


def precision_at(
    y_true: Sequence[float] | np.ndarray,
    y_prob: Sequence[float] | np.ndarray,
    threshold: float,
) -> float:
    """Precision when predicting positive for prob >= threshold.

    NaN (not 0) when nothing is predicted positive: precision is undefined
    there, and NaN keeps such resamples out of bootstrap intervals instead of
    dragging them towards zero.
    """
    labels, probs = validated_pair(y_true, y_prob)
    return full_data_value(weighted_precision, labels, probs, threshold)


def recall_at(
    y_true: Sequence[float] | np.ndarray,
    y_prob: Sequence[float] | np.ndarray,
    threshold: float,
) -> float:
    """Recall when predicting positive for prob >= threshold; NaN without positive labels."""
    labels, probs = validated_pair(y_true, y_prob)
    return full_data_value(weighted_recall, labels, probs, threshold)


def expected_calibration_error(
    y_true: Sequence[float] | np.ndarray,
    y_prob: Sequence[float] | np.ndarray,
    n_bins: int = DEFAULT_CALIBRATION_BINS,
) -> float:
    """Count-weighted mean |predicted - observed| over equal-width probability bins."""
    labels, probs = validated_pair(y_true, y_prob)
    ones = np.ones((1, labels.size))
    return float(weighted_ece(labels, probs, ones, n_bins=n_bins)[0])


def calibration_table(
    y_true: Sequence[float] | np.ndarray,
    y_prob: Sequence[float] | np.ndarray,
    n_bins: int = DEFAULT_CALIBRATION_BINS,
) -> pd.DataFrame:
    """Per-bin data for a calibration (reliability) plot.

    Returns one row per bin, including empty ones, so the table always has
    n_bins rows: bin_low, bin_high, mean_predicted, observed_rate, count.
    Empty bins have count 0 and NaN rates; drop them before plotting.
    """
    import pandas as pd

    labels, probs = validated_pair(y_true, y_prob)
    bin_ids = calibration_bin_ids(probs, n_bins)
    count = np.bincount(bin_ids, minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "mean_predicted": safe_ratio(np.bincount(bin_ids, probs, n_bins), count),
            "observed_rate": safe_ratio(np.bincount(bin_ids, labels, n_bins), count),
            "count": count.astype(np.int64),
        }
    )


class MetricSpec(NamedTuple):
    """A registry entry; unpacks as ``function, higher_is_better = METRICS[name]``.

    Every registered function takes ``(y_true, y_prob, threshold)`` so callers
    can loop over the registry without special cases; metrics that do not use
    a threshold ignore it.
    """

    function: Callable[[np.ndarray, np.ndarray, float], float]
    higher_is_better: bool


def _ignoring_threshold(
    metric: Callable[[np.ndarray, np.ndarray], float],
) -> Callable[[np.ndarray, np.ndarray, float], float]:
    def with_threshold(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> float:
        return metric(y_true, y_prob)

    with_threshold.__name__ = metric.__name__
    with_threshold.__doc__ = metric.__doc__
    return with_threshold


# the binary metrics as plain functions; each one's direction is the one declared in tasks.METRIC_REGISTRY
METRICS: dict[str, MetricSpec] = {
    name: MetricSpec(function, METRIC_REGISTRY[name].higher_is_better)
    for name, function in {
        "auc": _ignoring_threshold(roc_auc),
        "log_loss": _ignoring_threshold(log_loss),
        "brier": _ignoring_threshold(brier_score),
        "precision": precision_at,
        "recall": recall_at,
        "ece": _ignoring_threshold(expected_calibration_error),
    }.items()
}

# --------------------------------------------------------------------------- #
# Baseline and threshold choice
# --------------------------------------------------------------------------- #


def class_prior_baseline(train_label_rate: float, n: int) -> np.ndarray:
    """Predict the training positive rate for every row.

    This is the best model that ignores the features: its AUC is exactly 0.5
    and its log loss is the entropy of the label prior, so a candidate must
    beat it to show it learned anything.
    """
    if not (math.isfinite(train_label_rate) and 0.0 <= train_label_rate <= 1.0):
        raise ValueError(f"train_label_rate must be in [0, 1], got {train_label_rate}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return np.full(n, float(train_label_rate))


def daily_values(days: Sequence[Any], y_true: np.ndarray, predictions: np.ndarray, task: str = "binary",
                 classes: Sequence[str] = (), grain: Any = None) -> dict[str, float | None]:
    """The task's primary metric (binary: AUC) per partition (day), oldest first; None for a day where
    it is undefined (AUC: a single label value). Live performance is measured one day at a time, so a
    reference for it must be too: pooling days adds the between-day spread of the score to the
    ranking and reads higher."""
    from mlops_assets.evaluate.tasks import task_of
    from mlops_assets.evaluate.weighted import full_data_value

    kind = task_of(task)
    kernel = kind.metrics(classes)[kind.primary_metric]
    labels, predictions = kind.validate(y_true, predictions)
    day_of_row = np.array(partition_labels(days, grain))
    found = {}
    for day in sorted(set(day_of_row)):
        rows = day_of_row == day
        value = full_data_value(kernel, labels[rows], predictions[rows], None)
        found[day] = float(value) if math.isfinite(value) else None
    return found


def partition_labels(days: Sequence[Any], grain: Any = None) -> list[str]:
    """Each row's partition as ``grain.label`` names it (a daily grain when None): ISO days, or hours
    for an hourly dataset. Labelled once per distinct value, not once per row."""
    from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS

    grain = grain or GRAINS[DEFAULT_GRAIN]
    labels: dict[Any, str] = {}
    return [labels[d] if d in labels else labels.setdefault(d, grain.label_of(d)) for d in days]


def mean_of_days(per_day: dict[str, float | None]) -> float | None:
    """The mean of the defined per-day values, or None when no day has one."""
    values = [v for v in per_day.values() if v is not None]
    return float(np.mean(values)) if values else None


def choose_threshold(
    y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray
) -> float:
    """The decision threshold that maximises F1 on the given (validation) data.

    Predicting positive for prob >= t, F1 only changes when t crosses an
    observed score, so every distinct score is tried. Among equally good
    thresholds the highest wins (fewest alerts). The returned value is the
    midpoint between the winning score and the next lower distinct score, so
    it does not sit exactly on a validation score and new data just below
    that score is treated the same as on validation.
    """
    labels, probs = validated_pair(y_true, y_prob)
    total_positives = labels.sum()
    if total_positives == 0:
        raise ValueError("choose_threshold needs at least one positive label; F1 is 0 everywhere")
    order = np.argsort(-probs, kind="stable")
    descending_probs = probs[order]
    true_positives = np.cumsum(labels[order])
    predicted_positives = np.arange(1, labels.size + 1)
    # Only the last row of each run of tied scores is a valid cut: ties go together.
    last_of_run = np.r_[descending_probs[1:] != descending_probs[:-1], True]
    f1 = 2.0 * true_positives[last_of_run] / (predicted_positives[last_of_run] + total_positives)
    distinct_scores = descending_probs[last_of_run]
    best = int(np.argmax(f1))
    if best + 1 < distinct_scores.size:
        return float((distinct_scores[best] + distinct_scores[best + 1]) / 2.0)
    return float(distinct_scores[best])
