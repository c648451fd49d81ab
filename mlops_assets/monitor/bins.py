"""Bins pinned from a reference sample, and the share of any sample in each of them.

Bins are fixed once from the reference (the champion's training snapshot), so a day's drift is
comparable with every other day's: deciles of the reference for numbers (deduplicated, so a
mostly-constant feature gets fewer bins), one bin per reference category plus one for categories
the reference never saw, and for both a separate bin for nulls. The drift statistics
(``monitor/statistics.py``) compare the reference's shares with a window's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

OTHER = "__other__"
NULL = "__null__"


@dataclass(frozen=True)
class Bins:
    """Pinned bins of one feature and the reference's share in each (nulls last)."""

    feature: str
    kind: str  # "numeric" or "categorical"
    edges: list[float]  # numeric: inner cut points; bin i is (edges[i-1], edges[i]]
    categories: list[str]  # categorical: reference categories; then OTHER
    expected: list[float]  # reference proportions, one per bin, the null bin last

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Bins":
        return cls(**json.loads(text))


def numeric_bins(feature: str, reference: Sequence[float], n_bins: int = 10) -> Bins:
    values = np.asarray(reference, dtype="float64")
    present = values[~np.isnan(values)]
    if present.size:
        quantiles = np.quantile(present, np.linspace(0, 1, n_bins + 1)[1:-1])
        edges = sorted(set(float(q) for q in quantiles))
    else:
        edges = []
    bins = Bins(feature, "numeric", edges, [], [])
    return Bins(feature, "numeric", edges, [], proportions(bins, values).tolist())


def categorical_bins(feature: str, reference: Sequence[Any], max_categories: int = 50) -> Bins:
    """The reference's most frequent categories (at most ``max_categories``); the rest is OTHER."""
    return categorical_bins_from_counts(feature, label_counts(reference), max_categories)


def categorical_bins_from_counts(feature: str, counts: Mapping[str, int], max_categories: int = 50) -> Bins:
    """``categorical_bins`` from the reference's label counts (``label_counts``; nulls as NULL), so
    a reference of any size can be counted where it lives (a GROUP BY) instead of in memory."""
    present = sorted(((label, n) for label, n in counts.items() if label != NULL), key=lambda kv: (-kv[1], kv[0]))
    categories = sorted(label for label, _ in present[:max_categories])
    bins = Bins(feature, "categorical", [], categories, [])
    return Bins(feature, "categorical", [], categories, proportions_from_counts(bins, counts).tolist())


def label_counts(values: Sequence[Any]) -> dict[str, int]:
    """How often each categorical label occurs (labels as strings, nulls as NULL)."""
    labels, counts = np.unique(_labels(values), return_counts=True)
    return {str(label): int(n) for label, n in zip(labels, counts)}


def proportions_from_counts(bins: Bins, counts: Mapping[str, int]) -> np.ndarray:
    """Share of each categorical bin (the null bin last) given label counts."""
    if bins.kind != "categorical":
        raise ValueError(f"bins of {bins.feature} are {bins.kind}; counts of labels bin only categoricals")
    lookup = {category: i for i, category in enumerate(bins.categories)}
    shares = np.zeros(len(bins.categories) + 2, dtype="float64")
    for label, n in counts.items():
        shares[-1 if label == NULL else lookup.get(label, len(bins.categories))] += n
    total = shares.sum()
    return shares / total if total else shares


def proportions(bins: Bins, values: Sequence[Any]) -> np.ndarray:
    """Share of ``values`` in each of ``bins`` (the null bin last); zeros when there are no values."""
    if bins.kind == "categorical":
        return proportions_from_counts(bins, label_counts(values))
    array = np.asarray(values, dtype="float64")
    nulls = np.isnan(array)
    present = array[~nulls]
    # bin i holds (edges[i-1], edges[i]]: counts from "at most edge" tallies, one vectorized
    # comparison per edge, which is several times faster than a binary search per value
    at_most = [np.count_nonzero(present <= edge) for edge in bins.edges]
    counts = np.diff(np.array([0, *at_most, present.size], dtype="float64"))
    counts = np.append(counts, float(nulls.sum()))
    total = counts.sum()
    return counts / total if total else counts


def _labels(values: Sequence[Any]) -> np.ndarray:
    """Categorical values as strings, nulls (None, NaN, pandas NA) as NULL."""
    import pandas as pd

    series = pd.Series(values, dtype="object")
    return np.where(series.isna().to_numpy(), NULL, series.astype(str).to_numpy()).astype(object)
