"""Partition grains: the one place that knows what a partition of each grain is.

A partition is named by its first instant in the spec's timezone. For the grains of a day or longer
that is a date (the partition's first day), written ISO (``2019-01-01`` for the year 2019, the
Monday of a week, the 1st of a month): sortable, one key format for every date grain, and a daily
dataset's keys, landing file names and warehouse rows stay what they were. An hourly partition is
named by its first hour: ``2024-03-10-14:00`` as a partition key (Dagster's hourly format),
``2024-03-10T14`` as a landing file's name (no ``:``, which some file systems refuse), and it is
stored as a TIMESTAMP where a date grain's partition is a DATE (``column_type``, ``literal_sql``).
In Python a partition start is a ``date`` for the date grains and a naive local ``datetime`` for
hourly; ``as_start`` turns what DuckDB hands back into that type, so a day read from a TIMESTAMP
column is still a ``date``.

An unpartitioned dataset (grain ``none``) is one table, replaced on each ingestion: it has one
partition, ``current`` (landed as ``current.csv``), whose every ingestion is a new content-hashed
snapshot while the earlier ones stay; it is stored under one fixed start (``UNPARTITIONED_START``),
so every function here answers for it too, and no window can be written for it.

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
# what a person may type for a partition: a date, or a local time to the hour or minute
MOMENT_PATTERN = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2})(?::(\d{2}))?)?$")
# Dagster's key for the second pass of an hour a clock change repeats: '2024-10-27-02:00+0100'
REPEATED_HOUR_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}:\d{2}[+-]\d{4}$")
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
    file_format: str  # strftime of a landing file's name (without its extension)
    _start_of: Callable[[dt.datetime], dt.datetime]
    _shift: Callable[[dt.datetime, int], dt.datetime]
    within_day: bool = False  # a partition starts at a time of day: a datetime, stored as a TIMESTAMP

    @property
    def partitioned(self) -> bool:
        return True

    @property
    def is_calendar(self) -> bool:
        return self.unit in _CALENDAR_MONTHS

    @property
    def column_type(self) -> str:
        """The SQL type of a partition column (``_day``, and ``day`` in the catalog as read back)."""
        return "TIMESTAMP" if self.within_day else "DATE"

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
        """The partition ``partitions`` after (negative: before) the one starting at ``start``, as
        this grain's partition type (``as_start``)."""
        return self.as_start(self._shift(self.start_of(start), partitions))

    def next(self, start):
        return self.shift(start, 1)

    def previous(self, start):
        return self.shift(start, -1)

    def end_of(self, start: dt.date | dt.datetime) -> dt.datetime:
        """The first instant after the partition starting at ``start`` (exclusive end)."""
        return self._shift(self.start_of(start), 1)

    def partition_of(self, moment: dt.date | dt.datetime) -> dt.date | dt.datetime:
        """The start of the partition holding ``moment``, as this grain's partition type."""
        return self.as_start(self.start_of(moment))

    def as_start(self, value: dt.date | dt.datetime) -> dt.date | dt.datetime:
        """A partition start as this grain's Python type: a ``date`` for the date grains (a day read
        from a TIMESTAMP column included), a naive local ``datetime`` for hourly."""
        if self.within_day:
            moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
            return moment.replace(tzinfo=None)
        return value.date() if isinstance(value, dt.datetime) else value

    def key(self, start: dt.date | dt.datetime) -> str:
        return self.start_of(start).strftime(self.key_format)

    def label(self, start: dt.date | dt.datetime) -> str:
        """A partition start as people read it in messages and reports (ISO: ``2024-03-10`` for a
        day, ``2024-03-10T14:00`` for an hour)."""
        start = self.as_start(start)
        return start.isoformat(timespec="minutes") if self.within_day else start.isoformat()

    def label_of(self, value) -> str:
        """``label`` of a partition start however it arrived: ISO text, a date, a datetime or a pandas
        Timestamp (a DATE column read by pandas is a Timestamp at midnight)."""
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return self.label(value)

    def literal_sql(self, start: dt.date | dt.datetime) -> str:
        """A partition start as a SQL literal of ``column_type``."""
        start = self.as_start(start)
        text = start.isoformat(sep=" ") if self.within_day else start.isoformat()
        return f"{self.column_type} '{text}'"

    def file_stem(self, start: dt.date | dt.datetime) -> str:
        """The name of a partition's landing file, without its extension (``2024-03-10T14``); of the
        moment as given, so that a file can be named wrongly (inside a year) and be found so."""
        return self.as_start(start).strftime(self.file_format)

    def parse_file_stem(self, stem: str) -> dt.date | dt.datetime | None:
        """The moment a landing file's name (without extension) names, or None when the name is not
        exactly in this grain's format (``file_stem`` back); whether it starts a partition is the
        caller's to judge (``is_start``)."""
        try:
            moment = dt.datetime.strptime(stem, self.file_format)
        except ValueError:
            return None
        if moment.strftime(self.file_format) != stem:
            return None
        return self.as_start(moment)

    def parse_moment(self, text: str) -> dt.date | dt.datetime:
        """A date or local time someone typed (``2024-03-10``, ``2024-03-10T14``, ``2024-03-10 14:00``,
        or a partition key): a date, or a datetime when it names a time of day. A time is refused for
        the date grains, which cannot tell one hour of a day from another."""
        try:
            return self.parse_key(text)
        except GrainError:
            pass
        match = MOMENT_PATTERN.fullmatch(text.strip())
        try:
            day = dt.date.fromisoformat(match.group(1))
            moment = None if match.group(2) is None else dt.datetime.combine(
                day, dt.time(int(match.group(2)), int(match.group(3) or 0)))
        except (AttributeError, ValueError):  # no match, or no such day or time
            like = "2024-03-10T14" if self.within_day else "2024-03-10"
            raise GrainError(f"{text!r} is not a date or time (like {like!r})") from None
        if moment is not None and not self.within_day:
            raise GrainError(f"{text!r} names a time of day, but {self.name} partitions are whole {self.unit}s: give a date")
        return day if moment is None else moment

    def parse_key(self, key: str) -> dt.date | dt.datetime:
        """A partition key back to its start (a date for the date grains); refuses a key of another
        format or one that does not start a partition."""
        if self.within_day and REPEATED_HOUR_KEY.fullmatch(key):
            raise GrainError(
                f"{key!r} is the second pass of an hour the clock change repeats: an hourly partition is a local "
                f"wall hour, so the rows of both passes are in {key[:16]!r} (a timezone without clock changes, "
                "such as UTC, has no such hour)")
        try:
            moment = dt.datetime.strptime(key, self.key_format)
        except ValueError:
            example = self.key(dt.datetime(2024, 1, 1))
            raise GrainError(f"{key!r} is not a {self.name} partition key (like {example!r})") from None
        if not self.is_start(moment):
            raise GrainError(f"{key!r} does not start a {self.name} partition (that one starts {self.key(moment)})")
        return self.as_start(moment)

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
        return f"CAST(date_trunc({sql_string(self.unit)}, {local_time_sql}) AS {self.column_type})"

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
        Grain("hourly", "hour", "0 * * * *", "%Y-%m-%d-%H:%M", "%Y-%m-%dT%H",
              lambda m: m.replace(minute=0, second=0, microsecond=0),
              lambda m, n: m + dt.timedelta(hours=n), within_day=True),
        Grain("daily", "day", "0 0 * * *", "%Y-%m-%d", "%Y-%m-%d",
              lambda m: m.replace(hour=0, minute=0, second=0, microsecond=0),
              lambda m, n: m + dt.timedelta(days=n)),
        # ISO weeks, Monday first (DuckDB's date_trunc('week') agrees)
        Grain("weekly", "week", "0 0 * * 1", "%Y-%m-%d", "%Y-%m-%d",
              lambda m: m.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=m.weekday()),
              lambda m, n: m + dt.timedelta(weeks=n)),
        Grain("monthly", "month", "0 0 1 * *", "%Y-%m-%d", "%Y-%m-%d",
              lambda m: m.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
              _months_later),
        Grain("yearly", "year", "0 0 1 1 *", "%Y-%m-%d", "%Y-%m-%d",
              lambda m: m.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
              lambda m, n: _months_later(m, 12 * n)),
    )
}


UNPARTITIONED = "none"
UNPARTITIONED_START = dt.date(1970, 1, 1)
UNPARTITIONED_LABEL = "current"
NO_OUT_OF_TIME_UNPARTITIONED = "an unpartitioned dataset is one table: no later partition exists to hold out"


class Unpartitioned(Grain):
    """One partition for the whole table: every moment is in it, every neighbour is itself, and a
    window is a number of partitions at most (a duration has nothing to count)."""

    @property
    def partitioned(self) -> bool:
        return False

    def start_of(self, moment):
        return dt.datetime.combine(UNPARTITIONED_START, dt.time())

    def is_start(self, moment) -> bool:
        return self.as_start(moment) == UNPARTITIONED_START

    def shift(self, start, partitions: int):
        return UNPARTITIONED_START

    def end_of(self, start):
        return self.start_of(start) + dt.timedelta(days=1)

    def between(self, start, end) -> list:
        return [UNPARTITIONED_START]

    def label(self, start) -> str:
        return UNPARTITIONED_LABEL

    def label_of(self, value) -> str:
        return UNPARTITIONED_LABEL

    def file_stem(self, start) -> str:
        return UNPARTITIONED_LABEL

    def parse_file_stem(self, stem: str):
        return UNPARTITIONED_START if stem == UNPARTITIONED_LABEL else None

    def parse_moment(self, text: str):
        return UNPARTITIONED_START

    def start_sql(self, local_time_sql: str) -> str:
        return self.literal_sql(UNPARTITIONED_START)

    def partitions_in(self, window: int | str) -> int:
        if isinstance(window, int) and not isinstance(window, bool) and window >= 0:
            return window
        raise GrainError(f"window {window!r}: an unpartitioned dataset has no partitions to count; remove the window")


GRAINS[UNPARTITIONED] = Unpartitioned(UNPARTITIONED, "snapshot", "", "%Y-%m-%d", UNPARTITIONED_LABEL,
                                      lambda m: m, lambda m, n: m)


def grain(name: str) -> Grain:
    try:
        return GRAINS[name]
    except KeyError:
        raise GrainError(f"unknown grain {name!r}; known: {', '.join(GRAINS)}") from None


def key_of(start: dt.date | dt.datetime) -> str:
    """The partition key of a partition start of whatever grain, told by its type: only an hourly
    start is a datetime, and every date grain's key is the ISO date (for code that holds a start but
    not its spec, such as the ranged-run helpers)."""
    return GRAINS["hourly"].key(start) if isinstance(start, dt.datetime) else start.isoformat()


def start_of_key(key: str) -> dt.date | dt.datetime:
    """``key_of`` back: an ISO date, else an hourly key."""
    try:
        return dt.date.fromisoformat(key)
    except ValueError:
        return GRAINS["hourly"].parse_key(key)
