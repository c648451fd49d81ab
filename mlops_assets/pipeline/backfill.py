"""How days to ingest are cut into ranged runs: consecutive days together, at most N days a run.

A ranged run pays Dagster's fixed cost per run once for all its days instead of once a day; a gap
between days (a file that has not arrived) starts a new run, so a run never touches a day that was
not asked for.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS, Grain


def day_ranges(
    days: Iterable[dt.date], max_days: int | None = None, grain: Grain = GRAINS[DEFAULT_GRAIN]
) -> list[tuple[dt.date, dt.date]]:
    """(first, last) of each run, inclusive, in order; ``days`` are partitions of ``grain`` and
    ``max_days`` counts them; None: no limit."""
    if max_days is not None and max_days < 1:
        raise ValueError(f"max_days must be at least 1, got {max_days}")
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if ranges:
            first, last = ranges[-1]
            consecutive = day == grain.next(last)
            if consecutive and (max_days is None or grain.count_between(first, day) <= max_days):
                ranges[-1] = (first, day)
                continue
        ranges.append((day, day))
    return ranges
