"""Partition grains: the one place that knows what a partition of each grain is.

A partition is named by its first instant in the spec's timezone. For the grains of a day or longer
that is a date (the partition's first day), written ISO (``2019-01-01`` for the year 2019, the
Monday of a week, the 1st of a month): sortable, one key format for every date grain, and a daily
dataset's keys, landing file names and warehouse rows stay what they were. An hourly partition is
named by its first hour (``2024-03-10-14:00``, Dagster's hourly format).

Windows (trailing rates, the row-count history, drift windows, label delays, cool-downs) are written
as a number of partitions or as a duration (``28 days``, ``2 weeks``, ``3 years``); ``partitions_in``
turns a duration into whole partitions of a grain, the same way for every window. Hours, days and
weeks are fixed lengths; months and years are calendar lengths: a duration converts only into a grain
of its own kind, and only when it is a whole number of partitions (``28 days`` is no number of
months), so a window never means "about".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Callable

from mlops_assets.core.sql import sql_string

DEFAULT_GRAIN = "daily"
DURATION_PATTERN = re.compile(r"^\s*(\d+)\s*(hour|day|week|month|year|partition)s?\s*$")
# fixed units in hours, calendar units in months
_FIXED_HOURS = {"hour": 1, "day": 24, "week": 168}
_CALENDAR_MONTHS = {"month": 1, "year": 12}


class GrainError(ValueError):
    """A window or partition key that has no meaning under a grain; the message says why."""


@dataclass(frozen=True)
class Grain:
    name: str
    unit: str  # the duration one partition lasts, what one is called ("year"), and DuckDB's date_trunc part
    cron_schedule: str  # when a partition starts (Dagster's partitions definition)
    key_format: str  # strftime of the partition key
    _start_of: Callable[[dt.datetime], dt.datetime]
    _shift: Callable[[dt.datetime, int], dt.datetime]
    pipeline_ready: bool = True  # whether partitions can be stored as their first day (a DATE)

    @property
    def is_calendar(self) -> bool:
        return self.unit in _CALENDAR_MONTHS

    # -- partitions -------------------------------------------------------------------------------

    def start_of(self, moment: dt.date | dt.datetime) -> dt.datetime:
        """The first instant of the partition holding ``moment`` (a wall time in the spec's timezone)."""
        if not isinstance(moment, dt.datetime):
            moment = dt.datetime.combine(moment, dt.time())
        return self._start_of(moment)

    def first_day(self, moment: dt.date | dt.datetime) -> dt.date:
        """The first day of the partition holding ``moment``: how the date grains name a partition."""
        return self.start_of(moment).date()

    def is_start(self, moment: dt.date | dt.datetime) -> bool:
        as_time = moment if isinstance(moment, dt.datetime) else dt.datetime.combine(moment, dt.time())
        return self.start_of(as_time) == as_time

    def shift(self, start: dt.date | dt.datetime, partitions: int) -> dt.date | dt.datetime:
        """The partition ``partitions`` after (negative: before) the one starting at ``start``,
        of the same type as ``start``."""
        moved = self._shift(self.start_of(start), partitions)
        return moved if isinstance(start, dt.datetime) else moved.date()

    def next(self, start):
        return self.shift(start, 1)

    def previous(self, start):
        return self.shift(start, -1)

    def end_of(self, start: dt.date | dt.datetime) -> dt.datetime:
        """The first instant after the partition starting at ``start`` (exclusive end)."""
        return self._shift(self.start_of(start), 1)

    def key(self, start: dt.date | dt.datetime) -> str:
        return self.start_of(start).strftime(self.key_format)

    def parse_key(self, key: str) -> dt.date | dt.datetime:
        """A partition key back to its start (a date for the date grains); refuses a key of another
        format or one that does not start a partition."""
        try:
            moment = dt.datetime.strptime(key, self.key_format)
        except ValueError:
            example = self.key(dt.datetime(2024, 1, 1))
            raise GrainError(f"{key!r} is not a {self.name} partition key (like {example!r})") from None
        if not self.is_start(moment):
            raise GrainError(f"{key!r} does not start a {self.name} partition (that one starts {self.key(moment)})")
        return moment.date() if self.pipeline_ready else moment

    def between(self, start, end) -> list:
        """Partition starts from ``start``'s partition up to (excluding) ``end``."""
        found, current = [], self.shift(start, 0)
        while current < end:
            found.append(current)
            current = self.next(current)
        return found

    def count_between(self, first, last) -> int:
        """Partitions from ``first`` to ``last`` inclusive (0 when last is before first)."""
        return len(self.between(first, self.next(last))) if last >= first else 0

    def start_sql(self, local_time_sql: str) -> str:
        """SQL for the partition start of a local wall time (a DATE for the date grains)."""
        truncated = f"date_trunc({sql_string(self.unit)}, {local_time_sql})"
        return f"CAST({truncated} AS DATE)" if self.pipeline_ready else f"CAST({truncated} AS TIMESTAMP)"

    # -- windows ----------------------------------------------------------------------------------

    def partitions_in(self, window: int | str) -> int:
        """A window as whole partitions of this grain: a number is partitions already; a duration
        (``N hours|days|weeks|months|years``, or ``N partitions``) converts when it is a whole number
        of this grain's partitions."""
        if isinstance(window, bool):
            raise GrainError(f"window {window!r}: give a number of partitions or a duration like '28 days'")
        if isinstance(window, int):
            if window < 0:
                raise GrainError(f"window {window}: must be 0 or more partitions")
            return window
        match = DURATION_PATTERN.fullmatch(str(window).lower())
        if not match:
            raise GrainError(
                f"window {window!r}: not a number of partitions or a duration "
                "(N hours, days, weeks, months, years or partitions)"
            )
        count, unit = int(match.group(1)), match.group(2)
        if unit == "partition":
            return count
        units = _CALENDAR_MONTHS if self.is_calendar else _FIXED_HOURS
        theirs = units.get(unit)
        if theirs is None:
            kind = "calendar months and years" if self.is_calendar else "hours, days and weeks"
            raise GrainError(
                f"window {window!r}: a {self.name} dataset counts {kind}; {unit}s have no fixed number of "
                f"{self.unit}s (write the window in {self.unit}s or partitions)"
            )
        length, per_partition = count * theirs, units[self.unit]
        if length % per_partition:
            raise GrainError(
                f"window {window!r} is not a whole number of {self.unit}s "
                f"({length / per_partition:g}); write it in {self.unit}s or partitions"
            )
        return length // per_partition


def _months_later(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


GRAINS: dict[str, Grain] = {
    grain.name: grain
    for grain in (
        Grain("hourly", "hour", "0 * * * *", "%Y-%m-%d-%H:%M",
              lambda m: m.replace(minute=0, second=0, microsecond=0),
              lambda m, n: m + dt.timedelta(hours=n), pipeline_ready=False),
        Grain("daily", "day", "0 0 * * *", "%Y-%m-%d",
              lambda m: m.replace(hour=0, minute=0, second=0, microsecond=0),
              lambda m, n: m + dt.timedelta(days=n)),
        # ISO weeks, Monday first (DuckDB's date_trunc('week') agrees)
        Grain("weekly", "week", "0 0 * * 1", "%Y-%m-%d",
              lambda m: m.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=m.weekday()),
              lambda m, n: m + dt.timedelta(weeks=n)),
        Grain("monthly", "month", "0 0 1 * *", "%Y-%m-%d",
              lambda m: m.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
              _months_later),
        Grain("yearly", "year", "0 0 1 1 *", "%Y-%m-%d",
              lambda m: m.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
              lambda m, n: _months_later(m, 12 * n)),
    )
}


def grain(name: str) -> Grain:
    try:
        return GRAINS[name]
    except KeyError:
        raise GrainError(f"unknown grain {name!r}; known: {', '.join(GRAINS)}") from None
