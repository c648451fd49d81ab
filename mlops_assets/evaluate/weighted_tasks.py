"""The multiclass and regression metric kernels, in the shape of the binary ones in ``weighted``:
``(labels, predictions, weights[k, n], threshold) -> values[k]``, so one bootstrap serves every task.

Multiclass labels are class codes (0..classes-1, as floats) and predictions a (rows, classes) matrix
of probabilities; regression labels and predictions are numbers. The threshold is the binary
decision threshold: these kernels take it only to share the signature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlops_assets.evaluate.weighted import PROBABILITY_CLIP, safe_ratio

# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #


def validated_class_pair(
    y_true: Sequence[float] | np.ndarray, y_prob: Sequence[Sequence[float]] | np.ndarray, name: str = "y_prob"
) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and a probability matrix with one column per class and one row per label."""
    probs = np.asarray(y_prob, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"{name}: multiclass predictions must be a (rows, classes) matrix of 2+ classes, "
                         f"got shape {probs.shape}")
    labels = _finite_vector(y_true, "y_true")
    if labels.size != probs.shape[0]:
        raise ValueError(f"{name} has {probs.shape[0]} rows but y_true has {labels.size}")
    codes = np.arange(probs.shape[1])
    if not np.isin(labels, codes).all():
        unexpected = np.unique(labels[~np.isin(labels, codes)])[:5]
        raise ValueError(f"y_true must hold class codes 0..{probs.shape[1] - 1}, found {unexpected.tolist()}")
    if np.isnan(probs).any():
        raise ValueError(f"{name} contains {int(np.isnan(probs).any(axis=1).sum())} row(s) of NaN probabilities")
    if probs.min() < 0.0 or probs.max() > 1.0:
        raise ValueError(f"{name}: class probabilities must lie in [0, 1], found {probs.min()!r} to {probs.max()!r}")
    return labels, probs


def validated_number_pair(
    y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray, name: str = "y_pred"
) -> tuple[np.ndarray, np.ndarray]:
    """Observed and predicted numbers, both finite, of the same length."""
    labels = _finite_vector(y_true, "y_true")
    predictions = _finite_vector(y_pred, name)
    if predictions.size != labels.size:
        raise ValueError(f"{name} has {predictions.size} rows but y_true has {labels.size}")
    return labels, predictions


def _finite_vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {vector.shape}")
    if vector.size == 0:
        raise ValueError(f"{name} is empty: metrics need at least one row")
    if not np.isfinite(vector).all():
        raise ValueError(f"{name} contains {int((~np.isfinite(vector)).sum())} missing or infinite value(s)")
    return vector


# --------------------------------------------------------------------------- #
# Multiclass
# --------------------------------------------------------------------------- #


def _one_hot(codes: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((codes.size, classes))
    matrix[np.arange(codes.size), codes.astype(np.int64)] = 1.0
    return matrix


def weighted_multiclass_log_loss(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray,
                                 threshold: float | None = None) -> np.ndarray:
    """Mean cross-entropy of the true class's probability (clipped like the binary log loss)."""
    true_class = probs[np.arange(labels.size), labels.astype(np.int64)]
    row_loss = -np.log(np.clip(true_class, PROBABILITY_CLIP, 1.0))
    return (weights @ row_loss) / weights.sum(axis=1)


def weighted_accuracy(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray,
                      threshold: float | None = None) -> np.ndarray:
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    return (weights @ correct) / weights.sum(axis=1)


def _class_counts(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted true positives, predicted and actual counts per class: each (resamples, classes)."""
    actual = _one_hot(labels, probs.shape[1])
    predicted = _one_hot(probs.argmax(axis=1), probs.shape[1])
    return weights @ (actual * predicted), weights @ predicted, weights @ actual


def weighted_macro_f1(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray,
                      threshold: float | None = None) -> np.ndarray:
    """Unweighted mean of the per-class F1 over the classes present in the resample (actual or
    predicted): a class absent from both says nothing about the model."""
    true_positive, predicted, actual = _class_counts(labels, probs, weights)
    f1 = safe_ratio(2.0 * true_positive, predicted + actual)
    with np.errstate(invalid="ignore"):
        present = ~np.isnan(f1)
        return safe_ratio(np.where(present, f1, 0.0).sum(axis=1), present.sum(axis=1).astype(np.float64))


def weighted_class_recall(class_code: int):
    """The recall of one class: the kernel of ``class_recall:<class>``; NaN in a resample without it."""

    def kernel(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, threshold: float | None = None) -> np.ndarray:
        true_positive, _, actual = _class_counts(labels, probs, weights)
        return safe_ratio(true_positive[:, class_code], actual[:, class_code])

    return kernel


# --------------------------------------------------------------------------- #
# Regression
# --------------------------------------------------------------------------- #


def weighted_rmse(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray,
                  threshold: float | None = None) -> np.ndarray:
    return np.sqrt((weights @ (predictions - labels) ** 2) / weights.sum(axis=1))


def weighted_mae(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray,
                 threshold: float | None = None) -> np.ndarray:
    return (weights @ np.abs(predictions - labels)) / weights.sum(axis=1)


def weighted_r2(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray,
                threshold: float | None = None) -> np.ndarray:
    """1 - residual / total sum of squares around the resample's own mean; NaN when the labels of a
    resample do not vary (nothing to explain)."""
    total_weight = weights.sum(axis=1)
    mean = (weights @ labels) / total_weight
    total = weights @ labels**2 - total_weight * mean**2
    residual = weights @ (predictions - labels) ** 2
    # rounding leaves a tiny positive total for constant labels: treat it as no variation
    total = np.where(total > 1e-12 * np.maximum(weights @ labels**2, 1.0), total, 0.0)
    return 1.0 - safe_ratio(residual, total)
