"""Drift statistics, each declared once: its name, what it measures, how it is computed from the
shares of the reference and of the window in the same pinned bins (``monitor/bins.py``), and the
default values at which it counts as moderate and high drift.

``drift_history`` stores one row per (day, feature, statistic), so a statistic added here is
computed, stored and shown without a schema change, and the monitoring policy can name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

EPSILON = 1e-4  # PSI floors every share at this, so an empty bin does not make it infinite


@dataclass(frozen=True)
class DriftStatistic:
    name: str  # as stored in drift_history.statistic and named by the monitoring policy
    label: str  # for people: in reasons, tables and reports
    description: str
    compute: Callable[[Sequence[float], Sequence[float]], float]  # (expected, actual) shares -> value
    moderate: float  # default: at or above this is moderate drift
    high: float  # default: at or above this is high drift

    def __call__(self, expected: Sequence[float], actual: Sequence[float]) -> float:
        return self.compute(expected, actual)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    import numpy as np

    e = np.clip(np.asarray(expected, dtype="float64"), EPSILON, None)
    a = np.clip(np.asarray(actual, dtype="float64"), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


PSI = DriftStatistic(
    name="psi",
    label="PSI",
    description="population stability index: sum of (a - e) ln(a / e) over the bins, shares floored at 1e-4",
    compute=psi,
    moderate=0.2,
    high=0.3,
)


def js_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Jensen-Shannon distance in base 2: the square root of the mean KL divergence of each side
    from their midpoint, 0 for identical shares, 1 for shares in disjoint bins. An empty bin needs
    no floor (0 log 0 is 0); a side with no values at all shares nothing with the other."""
    import numpy as np

    p, q = np.asarray(expected, dtype="float64"), np.asarray(actual, dtype="float64")
    p_total, q_total = p.sum(), q.sum()
    if not p_total or not q_total:
        return 0.0 if p_total == q_total else 1.0
    p, q = p / p_total, q / q_total
    middle = (p + q) / 2
    divergence = (_kl_bits(p, middle) + _kl_bits(q, middle)) / 2
    return float(np.sqrt(min(max(divergence, 0.0), 1.0)))  # clipped: rounding can step past 0 or 1


def _kl_bits(p: Any, middle: Any) -> float:
    import numpy as np

    present = p > 0  # where p has mass, so does the midpoint
    return float(np.sum(p[present] * np.log2(p[present] / middle[present])))


JS_DISTANCE = DriftStatistic(
    name="js_distance",
    label="JS distance",
    description="Jensen-Shannon distance, base 2, over the same bins: 0 identical, 1 disjoint; bounded, symmetric",
    compute=js_distance,
    # where a normal shifted on reference deciles crosses PSI 0.2 and 0.3 (0.45 and 0.55 sd)
    moderate=0.19,
    high=0.23,
)
DRIFT_STATISTICS: dict[str, DriftStatistic] = {statistic.name: statistic for statistic in (PSI, JS_DISTANCE)}


def drift_statistic(name: str) -> DriftStatistic:
    try:
        return DRIFT_STATISTICS[name]
    except KeyError:
        raise ValueError(f"unknown drift statistic {name!r}; known: {', '.join(DRIFT_STATISTICS)}") from None


def measure(expected: Sequence[float], actual: Any) -> dict[str, float]:
    """Every declared statistic of one feature's window against its reference, by name."""
    return {name: statistic(expected, actual) for name, statistic in DRIFT_STATISTICS.items()}
