"""Bootstrap confidence intervals for every registered metric, and paired differences between two
models on the same resampled rows.

A bootstrap resample is a vector of counts saying how often each row was drawn, so the weighted
kernels compute every replicate as a few matrix operations instead of a Python loop per resample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from mlops_assets.evaluate.metrics import Estimate
from mlops_assets.evaluate.tasks import BINARY, task_of
from mlops_assets.evaluate.weighted import WeightedMetric, full_data_value

_MAX_WEIGHT_CELLS_PER_CHUNK = 1 << 22
"""Upper bound on the size of one resample-weight matrix (~32 MB of float64).
Bootstrapping a large test split is done in chunks of resamples so memory stays
bounded however many rows there are."""


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


def _weighted_metric(name: str, task: str, classes: Sequence[str]) -> WeightedMetric:
    metrics = task_of(task).metrics(classes)
    try:
        return metrics[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r} for a {task} model; choose one of {sorted(metrics)}") from None


def bootstrap_estimates(
    y_true: Sequence[float] | np.ndarray,
    y_prob: Sequence[float] | np.ndarray,
    threshold: float,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    task: str = BINARY,
    classes: Sequence[str] = (),
) -> dict[str, Estimate]:
    """Every metric of ``task`` (``tasks.Task.metrics``) with a (1 - alpha) percentile bootstrap
    interval. ``y_prob`` is what the task's metrics take: probabilities (binary), a (rows, classes)
    probability matrix (multiclass, whose ``classes`` name the columns), numbers (regression).

    All metrics see the same resampled rows, so their intervals describe the
    same sampling variability. Resamples where a metric is undefined (e.g.
    one class only) are left out of that metric's interval.
    """
    _check_alpha(alpha)
    kind = task_of(task)
    labels, probs = kind.validate(y_true, y_prob)
    kernels = kind.metrics(classes)
    replicates: dict[str, list[np.ndarray]] = {name: [] for name in kernels}
    for weights in _resample_weight_chunks(labels.size, n_boot, seed):
        for name, values in replicates.items():
            values.append(kernels[name](labels, probs, weights, threshold))
    return {
        name: _percentile_interval(
            full_data_value(kernels[name], labels, probs, threshold),
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
    task: str = BINARY,
    classes: Sequence[str] = (),
) -> Estimate:
    """Candidate minus champion for one metric, with a paired bootstrap interval.

    Both models are scored on the same resampled rows in every replicate, so
    row-to-row difficulty cancels out and the interval is much narrower than
    comparing two independent intervals. value is the difference on the full data.
    """
    _check_alpha(alpha)
    weighted_metric = _weighted_metric(metric, task, classes)
    kind = task_of(task)
    labels, candidate = kind.validate(y_true, prob_candidate, "prob_candidate")
    _, champion = kind.validate(y_true, prob_champion, "prob_champion")
    differences = [
        weighted_metric(labels, candidate, weights, threshold)
        - weighted_metric(labels, champion, weights, threshold)
        for weights in _resample_weight_chunks(labels.size, n_boot, seed)
    ]
    full_data_difference = full_data_value(
        weighted_metric, labels, candidate, threshold
    ) - full_data_value(weighted_metric, labels, champion, threshold)
    return _percentile_interval(full_data_difference, np.concatenate(differences), alpha)
