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
    assert S.DRIFT_STATISTICS["psi"] is S.PSI and S.DRIFT_STATISTICS["js_distance"] is S.JS_DISTANCE
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
    with pytest.raises(ValueError, match=r"unknown drift statistic 'kl'; known: psi, js_distance"):
        S.drift_statistic("kl")


def test_js_distance_known_values():
    assert S.js_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)  # disjoint bins
    # p = (1/2, 1/2), q = (1, 0): midpoint (3/4, 1/4); KL(p||m) = 1/2 log2(2/3) + 1/2 log2(2), KL(q||m) = log2(4/3)
    divergence = (0.5 * math.log2(2 / 3) + 0.5 + math.log2(4 / 3)) / 2
    assert S.js_distance([0.5, 0.5], [1.0, 0.0]) == pytest.approx(math.sqrt(divergence), rel=1e-12)
    assert S.js_distance([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.5579, abs=1e-4)


def test_js_distance_is_symmetric_zero_for_identical_and_bounded_by_one():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(3)
    for _ in range(200):
        p, q = rng.random(12), rng.random(12)
        p[rng.random(12) < 0.3] = 0.0  # empty bins, on either side
        q[rng.random(12) < 0.3] = 0.0
        p[0], q[1] = p[0] + 0.01, q[1] + 0.01  # neither side entirely empty
        value = S.js_distance(p, q)
        assert 0.0 <= value <= 1.0 and math.isfinite(value)
        assert value == pytest.approx(S.js_distance(q, p), abs=1e-12)
        assert value == pytest.approx(jensenshannon(p, q, base=2), abs=1e-9)
        assert S.js_distance(p, p) == pytest.approx(0.0, abs=1e-7)


def test_js_distance_of_an_empty_side():
    assert S.js_distance([0.5, 0.5, 0.0], [0.0, 0.0, 0.0]) == 1.0  # nothing in common with no values
    assert S.js_distance([0.0, 0.0], [0.0, 0.0]) == 0.0


def test_js_distance_levels_agree_with_psi_levels_on_a_shifted_normal():
    rng = np.random.default_rng(11)
    bins = B.numeric_bins("x", rng.normal(0, 1, 200_000))

    def level(statistic: S.DriftStatistic, value: float) -> str:
        return "high" if value >= statistic.high else "moderate" if value >= statistic.moderate else "none"

    for shift, expected in ((0.3, "none"), (0.5, "moderate"), (0.6, "high")):
        values = S.measure(bins.expected, B.proportions(bins, rng.normal(shift, 1, 200_000)))
        assert level(S.PSI, values["psi"]) == level(S.JS_DISTANCE, values["js_distance"]) == expected, (shift, values)
