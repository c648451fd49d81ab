"""Pinned bins and the shares of a sample in them, checked through PSI: the bins every drift
statistic stands on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_assets.monitor import bins as P
from mlops_assets.monitor.statistics import psi


def feature_psi(bins: P.Bins, values) -> float:
    return psi(bins.expected, P.proportions(bins, values))


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_identical_distribution_gives_near_zero(rng):
    reference = rng.normal(0, 1, 20_000)
    bins = P.numeric_bins("x", reference)
    assert feature_psi(bins, reference) == pytest.approx(0.0, abs=1e-12)
    fresh = rng.normal(0, 1, 20_000)  # a new sample of the same distribution
    assert feature_psi(bins, fresh) < 0.01


def test_shifted_normal_gives_large_psi(rng):
    bins = P.numeric_bins("x", rng.normal(0, 1, 20_000))
    small = feature_psi(bins, rng.normal(0.1, 1, 20_000))
    large = feature_psi(bins, rng.normal(1.5, 1, 20_000))
    assert large > 1.0
    assert small < 0.1 < large


def test_numeric_bins_are_deciles_of_the_reference():
    reference = np.arange(1, 1001, dtype=float)
    bins = P.numeric_bins("x", reference)
    assert bins.kind == "numeric" and len(bins.edges) == 9
    assert bins.edges == pytest.approx(list(np.quantile(reference, np.linspace(0.1, 0.9, 9))))
    assert bins.expected[:-1] == pytest.approx([0.1] * 10)
    assert bins.expected[-1] == 0.0  # no nulls in the reference


def test_bins_are_pinned_to_the_reference_edges():
    bins = P.numeric_bins("x", np.arange(1, 101, dtype=float))  # edges 10.9, 20.8, ..., 90.1
    sample = [0.0, 5.0, 50.0, 1000.0, 1000.0]  # values outside the reference go to the end bins
    shares = P.proportions(bins, sample)
    assert len(shares) == len(bins.edges) + 2
    expected = np.zeros(11)
    expected[0] = 2 / 5
    expected[int(np.searchsorted(bins.edges, 50.0))] = 1 / 5
    expected[9] = 2 / 5
    assert shares == pytest.approx(expected)
    # the new sample's own deciles would differ; the reference edges do not move
    assert P.numeric_bins("x", sample).edges != bins.edges
    assert P.Bins.from_json(bins.to_json()) == bins


def test_bin_boundaries_are_right_closed():
    bins = P.Bins("x", "numeric", [1.0, 2.0], [], [0.4, 0.3, 0.3, 0.0])
    # bin i is (edges[i-1], edges[i]]: a value equal to an edge belongs to the lower bin
    assert P.proportions(bins, [1.0, 2.0, 2.5]) == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0])


def test_nulls_get_their_own_bin_and_a_burst_raises_psi(rng):
    reference = rng.normal(0, 1, 10_000)
    reference[:100] = np.nan  # 1% nulls
    bins = P.numeric_bins("x", reference)
    assert bins.expected[-1] == pytest.approx(0.01)
    assert sum(bins.expected) == pytest.approx(1.0)
    calm = rng.normal(0, 1, 10_000)
    calm[:100] = np.nan
    burst = rng.normal(0, 1, 10_000)
    burst[:4000] = np.nan  # 40% nulls, the rest unchanged in shape
    assert P.proportions(bins, burst)[-1] == pytest.approx(0.4)
    assert feature_psi(bins, calm) < 0.02
    assert feature_psi(bins, burst) > 0.5


def test_categorical_nulls_and_unseen_categories():
    reference = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    bins = P.categorical_bins("carrier", reference)
    assert bins.kind == "categorical" and bins.categories == ["a", "b", "c"]
    assert bins.expected == pytest.approx([0.5, 0.3, 0.2, 0.0, 0.0])  # a, b, c, OTHER, null
    shares = P.proportions(bins, ["a", "zz", "yy", None, float("nan"), "b"])
    assert shares == pytest.approx([1 / 6, 1 / 6, 0.0, 2 / 6, 2 / 6])
    # unseen categories raise PSI through the OTHER bin
    assert feature_psi(bins, ["new"] * 50 + ["a"] * 50) > 1.0


def test_categorical_max_categories_keeps_the_most_frequent():
    reference = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 1
    bins = P.categorical_bins("x", reference, max_categories=2)
    assert bins.categories == ["a", "b"]
    assert bins.expected == pytest.approx([5 / 13, 4 / 13, 4 / 13, 0.0])  # c and d counted as OTHER


def test_constant_reference_feature_does_not_crash():
    bins = P.numeric_bins("x", [3.0] * 100)
    assert bins.edges == [3.0]  # deduplicated deciles: one cut, two bins
    assert feature_psi(bins, [3.0] * 10) == pytest.approx(0.0, abs=1e-12)
    moved = feature_psi(bins, [4.0] * 10)
    assert math.isfinite(moved) and moved > 1.0
    empty_reference = P.numeric_bins("x", [np.nan] * 5)  # all nulls: only the null bin carries weight
    assert empty_reference.edges == [] and empty_reference.expected == pytest.approx([0.0, 1.0])
    assert math.isfinite(feature_psi(empty_reference, [1.0, 2.0]))


def test_numeric_proportions_bin_like_a_binary_search_with_ties_and_nulls():
    # bin i is (edges[i-1], edges[i]]: the tally per edge must agree with searchsorted(side="left")
    import numpy as np

    from mlops_assets.monitor.bins import Bins, proportions

    rng = np.random.default_rng(7)
    for _ in range(100):
        values = np.round(rng.normal(size=2000), 1)  # rounded: many values sit exactly on an edge
        values[rng.random(2000) < 0.1] = np.nan
        edges = sorted(set(np.round(rng.normal(size=int(rng.integers(0, 10))), 1).tolist()))
        nulls = np.isnan(values)
        index = np.searchsorted(np.asarray(edges, dtype="float64"), values[~nulls], side="left")
        expected = np.append(np.bincount(index, minlength=len(edges) + 1), nulls.sum()).astype("float64")
        got = proportions(Bins("x", "numeric", edges, [], []), values)
        assert np.array_equal(got, expected / expected.sum()), edges
