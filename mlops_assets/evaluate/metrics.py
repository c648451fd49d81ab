"""Binary-classification metrics with bootstrap confidence intervals.

Every metric is implemented once, as a *weighted* metric over a matrix of row
weights with shape ``(n_resamples, n_rows)``. A bootstrap resample is just a
vector of counts saying how often each row was drawn, so:

* the plain metric functions use a single row of ones, and
* the bootstrap uses one row of draw counts per resample,

which keeps point estimates and bootstrap replicates computed by the same code
and lets the bootstrap run as a few matrix operations instead of a Python loop
per resample.

Only numpy is imported at module level so that importing this module is cheap;
pandas is imported inside the two functions that return DataFrames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

PROBABILITY_CLIP = 1e-15
"""Probabilities are clipped to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP] for log loss,
so one confident mistake costs a large but finite amount instead of infinity."""

DEFAULT_CALIBRATION_BINS = 10

_MAX_WEIGHT_CELLS_PER_CHUNK = 1 << 22
"""Upper bound on the size of one resample-weight matrix (~32 MB of float64).
Bootstrapping a large test split is done in chunks of resamples so memory stays
bounded however many rows there are."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate on the full data plus a bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        """JSON-friendly form; undefined values (NaN) become None."""
        return {
            "value": _json_float(self.value),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
        }


# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #


def _validated_labels(y_true: Sequence[float] | np.ndarray) -> np.ndarray:
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


def _validated_probabilities(
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


def _validated_pair(
    y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    labels = _validated_labels(y_true)
    return labels, _validated_probabilities(y_prob, labels.size)


def _json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


# --------------------------------------------------------------------------- #
# Weighted metric kernels: (labels, probs, weights[k, n], threshold) -> values[k]
# --------------------------------------------------------------------------- #

_WeightedMetric = Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is zero (metric undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        defined = denominator > 0
        return np.where(defined, numerator / np.where(defined, denominator, 1.0), np.nan)


def _weighted_auc(
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
    return _safe_ratio(concordant, pairs)


def _weighted_log_loss(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    clipped = np.clip(probs, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    row_loss = -(labels * np.log(clipped) + (1.0 - labels) * np.log1p(-clipped))
    return (weights @ row_loss) / weights.sum(axis=1)


def _weighted_brier(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    return (weights @ (probs - labels) ** 2) / weights.sum(axis=1)


def _weighted_precision(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float
) -> np.ndarray:
    predicted_positive = (probs >= threshold).astype(np.float64)
    true_positives = weights @ (predicted_positive * labels)
    return _safe_ratio(true_positives, weights @ predicted_positive)


def _weighted_recall(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float
) -> np.ndarray:
    predicted_positive = (probs >= threshold).astype(np.float64)
    true_positives = weights @ (predicted_positive * labels)
    return _safe_ratio(true_positives, weights @ labels)


def _calibration_bin_ids(probs: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins on [0, 1] using sklearn's calibration_curve convention.

    Bins are right-closed, (low, high], except the first which also holds 0,
    so tables and ECE agree exactly with sklearn.calibration.calibration_curve.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], probs)


def _weighted_ece(
    labels: np.ndarray,
    probs: np.ndarray,
    weights: np.ndarray,
    threshold: float = 0.5,
    n_bins: int = DEFAULT_CALIBRATION_BINS,
) -> np.ndarray:
    """Sum over bins of (bin weight / total weight) * |mean predicted - observed rate|."""
    in_bin = np.zeros((probs.size, n_bins))
    in_bin[np.arange(probs.size), _calibration_bin_ids(probs, n_bins)] = 1.0
    bin_count = weights @ in_bin
    bin_prob_sum = weights @ (in_bin * probs[:, None])
    bin_label_sum = weights @ (in_bin * labels[:, None])
    # |sum(p) - sum(y)| over a bin equals count * |mean p - observed rate|, so
    # dividing by the total weight gives the count-weighted gap without per-bin division.
    return np.abs(bin_prob_sum - bin_label_sum).sum(axis=1) / bin_count.sum(axis=1)


def _full_data_value(
    weighted_metric: _WeightedMetric, labels: np.ndarray, probs: np.ndarray, threshold: float
) -> float:
    return float(weighted_metric(labels, probs, np.ones((1, labels.size)), threshold)[0])


# --------------------------------------------------------------------------- #
# Public metric functions
# --------------------------------------------------------------------------- #


def roc_auc(y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve; tied scores count one half. NaN if only one class is present."""
    labels, probs = _validated_pair(y_true, y_prob)
    return _full_data_value(_weighted_auc, labels, probs, 0.5)


def log_loss(y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray) -> float:
    """Mean binary cross-entropy with probabilities clipped to [1e-15, 1 - 1e-15]."""
    labels, probs = _validated_pair(y_true, y_prob)
    return _full_data_value(_weighted_log_loss, labels, probs, 0.5)


def brier_score(
    y_true: Sequence[float] | np.ndarray, y_prob: Sequence[float] | np.ndarray
) -> float:
    """Mean squared difference between predicted probability and the 0/1 outcome."""
    labels, probs = _validated_pair(y_true, y_prob)
    return _full_data_value(_weighted_brier, labels, probs, 0.5)


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
    labels, probs = _validated_pair(y_true, y_prob)
    return _full_data_value(_weighted_precision, labels, probs, threshold)


def recall_at(
    y_true: Sequence[float] | np.ndarray,
    y_prob: Sequence[float] | np.ndarray,
    threshold: float,
) -> float:
    """Recall when predicting positive for prob >= threshold; NaN without positive labels."""
    labels, probs = _validated_pair(y_true, y_prob)
    return _full_data_value(_weighted_recall, labels, probs, threshold)


def expected_calibration_error(
    y_true: Sequence[float] | np.ndarray,
    y_prob: Sequence[float] | np.ndarray,
    n_bins: int = DEFAULT_CALIBRATION_BINS,
) -> float:
    """Count-weighted mean |predicted - observed| over equal-width probability bins."""
    labels, probs = _validated_pair(y_true, y_prob)
    ones = np.ones((1, labels.size))
    return float(_weighted_ece(labels, probs, ones, n_bins=n_bins)[0])


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

    labels, probs = _validated_pair(y_true, y_prob)
    bin_ids = _calibration_bin_ids(probs, n_bins)
    count = np.bincount(bin_ids, minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "mean_predicted": _safe_ratio(np.bincount(bin_ids, probs, n_bins), count),
            "observed_rate": _safe_ratio(np.bincount(bin_ids, labels, n_bins), count),
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


METRICS: dict[str, MetricSpec] = {
    "auc": MetricSpec(_ignoring_threshold(roc_auc), True),
    "log_loss": MetricSpec(_ignoring_threshold(log_loss), False),
    "brier": MetricSpec(_ignoring_threshold(brier_score), False),
    "precision": MetricSpec(precision_at, True),
    "recall": MetricSpec(recall_at, True),
    "ece": MetricSpec(_ignoring_threshold(expected_calibration_error), False),
}

_WEIGHTED_METRICS: dict[str, _WeightedMetric] = {
    "auc": _weighted_auc,
    "log_loss": _weighted_log_loss,
    "brier": _weighted_brier,
    "precision": _weighted_precision,
    "recall": _weighted_recall,
    "ece": _weighted_ece,
}


# --------------------------------------------------------------------------- #
# Bootstrap
# --------------------------------------------------------------------------- #


def _resample_weight_chunks(n_rows: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yield (resamples, n_rows) matrices of bootstrap draw counts.

    Depends only on (n_rows, n_boot, seed), so two calls with the same
    arguments draw the same rows: that is what makes metrics within one
    bootstrap, and candidate vs champion in a paired comparison, use the
    same resamples.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    resamples_per_chunk = max(1, _MAX_WEIGHT_CELLS_PER_CHUNK // n_rows)
    for start in range(0, n_boot, resamples_per_chunk):
        n_resamples = min(resamples_per_chunk, n_boot - start)
        drawn_rows = rng.integers(0, n_rows, size=(n_resamples, n_rows))
        # Offset each resample's row ids so one bincount counts all resamples at once.
        drawn_rows += np.arange(n_resamples)[:, None] * n_rows
        counts = np.bincount(drawn_rows.ravel(), minlength=n_resamples * n_rows)
        yield counts.reshape(n_resamples, n_rows).astype(np.float64)


def _percentile_interval(value: float, replicates: np.ndarray, alpha: float) -> Estimate:
    defined = replicates[~np.isnan(replicates)]
    if defined.size == 0:
        return Estimate(value=value, low=math.nan, high=math.nan)
    low, high = np.quantile(defined, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Estimate(value=value, low=float(low), high=float(high))


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _weighted_metric(name: str) -> _WeightedMetric:
    try:
        return _WEIGHTED_METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(METRICS)}") from None


def bootstrap_estimates(
    y_true: Sequence[float] | np.ndarray,
    y_prob: Sequence[float] | np.ndarray,
    threshold: float,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Estimate]:
    """Every metric in METRICS with a (1 - alpha) percentile bootstrap interval.

    All metrics see the same resampled rows, so their intervals describe the
    same sampling variability. Resamples where a metric is undefined (e.g.
    one class only) are left out of that metric's interval.
    """
    _check_alpha(alpha)
    labels, probs = _validated_pair(y_true, y_prob)
    replicates: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    for weights in _resample_weight_chunks(labels.size, n_boot, seed):
        for name, values in replicates.items():
            values.append(_weighted_metric(name)(labels, probs, weights, threshold))
    return {
        name: _percentile_interval(
            _full_data_value(_weighted_metric(name), labels, probs, threshold),
            np.concatenate(values),
            alpha,
        )
        for name, values in replicates.items()
    }


def paired_bootstrap_difference(
    y_true: Sequence[float] | np.ndarray,
    prob_candidate: Sequence[float] | np.ndarray,
    prob_champion: Sequence[float] | np.ndarray,
    metric: str,
    threshold: float,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> Estimate:
    """Candidate minus champion for one metric, with a paired bootstrap interval.

    Both models are scored on the same resampled rows in every replicate, so
    row-to-row difficulty cancels out and the interval is much narrower than
    comparing two independent intervals. value is the difference on the full data.
    """
    _check_alpha(alpha)
    weighted_metric = _weighted_metric(metric)
    labels = _validated_labels(y_true)
    candidate = _validated_probabilities(prob_candidate, labels.size, "prob_candidate")
    champion = _validated_probabilities(prob_champion, labels.size, "prob_champion")
    differences = [
        weighted_metric(labels, candidate, weights, threshold)
        - weighted_metric(labels, champion, weights, threshold)
        for weights in _resample_weight_chunks(labels.size, n_boot, seed)
    ]
    full_data_difference = _full_data_value(
        weighted_metric, labels, candidate, threshold
    ) - _full_data_value(weighted_metric, labels, champion, threshold)
    return _percentile_interval(full_data_difference, np.concatenate(differences), alpha)


# --------------------------------------------------------------------------- #
# Baseline, slices, threshold choice
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


def daily_auc(days: Sequence[Any], y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float | None]:
    """AUC per partition (day), oldest first; None for a day with a single label value. Live
    performance is measured one day at a time, so a reference for it must be too: pooling days
    adds the between-day spread of the score to the ranking and reads higher."""
    import pandas as pd

    frame = pd.DataFrame({"day": [str(d)[:10] for d in days], "y": y_true, "p": y_prob})
    found = {}
    for day, rows in frame.groupby("day", sort=True):
        value = roc_auc(rows["y"].to_numpy(), rows["p"].to_numpy()) if rows["y"].nunique() == 2 else float("nan")
        found[str(day)] = float(value) if math.isfinite(value) else None
    return found


def mean_of_days(per_day: dict[str, float | None]) -> float | None:
    """The mean of the defined per-day values, or None when no day has one."""
    values = [v for v in per_day.values() if v is not None]
    return float(np.mean(values)) if values else None


SLICE_COLUMNS_BASE = (
    "slice", "value", "rows", "positives", "auc", "log_loss", "precision", "recall",
)  # fmt: skip
SLICE_COLUMNS_CHAMPION = ("champion_auc", "auc_delta")


def _metrics_for_one_slice(
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    min_rows: int,
    threshold: float,
) -> dict[str, float | int | bool]:
    rows = int(labels.size)
    positives = int(labels.sum())
    row: dict[str, float | int | bool] = {
        "rows": rows,
        "positives": positives,
        "auc": roc_auc(labels, candidate),
        "log_loss": log_loss(labels, candidate),
        "precision": precision_at(labels, candidate, threshold),
        "recall": recall_at(labels, candidate, threshold),
    }
    if champion is not None:
        row["champion_auc"] = roc_auc(labels, champion)
        row["auc_delta"] = row["auc"] - row["champion_auc"]
    row["enough_rows"] = rows >= min_rows and 0 < positives < rows
    return row


def slice_metrics(
    frame: pd.DataFrame,
    slice_columns: list[str],
    label_col: str,
    prob_col: str,
    champion_prob_col: str | None,
    min_rows: int,
    threshold: float,
) -> pd.DataFrame:
    """Candidate (and champion) metrics per value of each slice column.

    One output row per (slice column, value), ordered by slice column as given
    then by value as a string. Values are converted to str (missing values
    become "nan") so columns of strings and ints can share one table.
    enough_rows marks slices big enough, and with both classes, for their AUC
    to be trusted; gates should ignore the others. precision and recall use
    ``threshold``.
    """
    import pandas as pd

    required = [*slice_columns, label_col, prob_col]
    if champion_prob_col is not None:
        required.append(champion_prob_col)
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"slice_metrics: frame is missing column(s) {missing}")
    labels = _validated_labels(frame[label_col].to_numpy())
    candidate = _validated_probabilities(frame[prob_col].to_numpy(), labels.size, prob_col)
    champion = (
        None
        if champion_prob_col is None
        else _validated_probabilities(
            frame[champion_prob_col].to_numpy(), labels.size, champion_prob_col
        )
    )

    records = []
    for column in slice_columns:
        values_as_text = frame[column].astype(str).to_numpy()
        for value in np.unique(values_as_text):
            in_slice = values_as_text == value
            records.append(
                {
                    "slice": column,
                    "value": str(value),
                    **_metrics_for_one_slice(
                        labels[in_slice],
                        candidate[in_slice],
                        None if champion is None else champion[in_slice],
                        min_rows,
                        threshold,
                    ),
                }
            )
    columns = [*SLICE_COLUMNS_BASE]
    if champion is not None:
        columns += SLICE_COLUMNS_CHAMPION
    columns.append("enough_rows")
    return pd.DataFrame.from_records(records, columns=columns)


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
    labels, probs = _validated_pair(y_true, y_prob)
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
