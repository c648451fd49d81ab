"""The drift statistics registry: each statistic's values, and the registry the policy names them from."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_assets.monitor import bins as B
from mlops_assets.monitor import statistics as S


def test_empty_bins_are_floored_not_infinite():
    expected = [0.5, 0.5, 0.0]
    actual = [0.0, 0.5, 0.5]
    value = S.psi(expected, actual)
    assert math.isfinite(value)
    e = a = S.EPSILON
    hand = (e - 0.5) * math.log(e / 0.5) + 0.0 + (0.5 - a) * math.log(0.5 / a)
    assert value == pytest.approx(hand)
    bins = B.numeric_bins("x", [1.0, 2.0])
    nothing = B.proportions(bins, [])  # a day with no values: zeros, and a finite value of every statistic
    assert len(nothing) == len(bins.edges) + 2 and not nothing.any()
    assert all(math.isfinite(v) for v in S.measure(bins.expected, nothing).values())


def test_psi_matches_a_hand_computation():
    expected = [0.25, 0.25, 0.25, 0.25]
    actual = [0.10, 0.20, 0.30, 0.40]
    hand = sum((a - e) * math.log(a / e) for e, a in zip(expected, actual))
    assert S.psi(expected, actual) == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(0.2282, abs=1e-4)
    assert S.psi(expected, actual) == pytest.approx(S.psi(actual, expected))  # PSI is symmetric


def test_every_statistic_is_declared_once_with_sane_levels():
    assert S.DRIFT_STATISTICS["psi"] is S.PSI
    for name, statistic in S.DRIFT_STATISTICS.items():
        assert statistic.name == name and statistic.label and statistic.description
        assert 0 < statistic.moderate < statistic.high
        assert statistic([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0, abs=1e-12)


def test_measure_gives_every_statistic_by_name():
    expected, actual = np.array([0.25, 0.25, 0.5]), np.array([0.5, 0.25, 0.25])
    values = S.measure(expected, actual)
    assert list(values) == list(S.DRIFT_STATISTICS)
    for name, value in values.items():
        assert value == S.DRIFT_STATISTICS[name].compute(expected, actual)


def test_an_unknown_statistic_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown drift statistic 'kl'; known: psi"):
        S.drift_statistic("kl")
